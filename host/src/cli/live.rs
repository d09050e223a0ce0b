//! What runs, for commands that must not start a daemon to find out: the daemon's answer when
//! one runs, else the saved state.

use keel_api::endpoint::ListSummaries;
use keel_api::{ServiceSummary, Status};

use super::client::ClientError;
use super::context::{Context, Failure, block_on};

/// Each service's summary from the daemon when one runs, without starting one; `None` when
/// none runs.
fn from_daemon(cx: &Context) -> Result<Option<Vec<ServiceSummary>>, Failure> {
    let (client, _) = cx.client()?;
    block_on(async {
        match client.call(&ListSummaries).await {
            Err(ClientError::NotRunning(_)) => Ok(None),
            other => other.map(Some).map_err(Failure::from),
        }
    })
}

/// Live status by service name: from the daemon when one runs, else from the saved state,
/// which tells whose processes are still alive (a daemon killed without a chance to stop them
/// leaves them running). A listing never starts a daemon.
pub fn live_statuses(cx: &Context) -> Result<Vec<ServiceSummary<String>>, Failure> {
    if let Some(list) = from_daemon(cx)? {
        return Ok(list
            .into_iter()
            .map(|s| s.map_status(|st| st.to_string()))
            .collect());
    }
    let (config, _) = cx.load()?;
    let state = cx.state_dir()?;
    Ok(config
        .services
        .iter()
        .map(|s| {
            let alive = state
                .load(&s.name)
                .ok()
                .flatten()
                .and_then(|r| r.process)
                .is_some_and(|p| p.is_alive());
            let status = if alive {
                "running (no daemon)"
            } else {
                Status::Stopped.as_str()
            };
            crate::view::summary(s, status.to_string())
        })
        .collect())
}
