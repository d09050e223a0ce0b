//! `keel platform reload [--dry-run]`: the daemon re-reads the file it serves and applies the
//! difference; this prints every service with what changed and what was done.

use keel_api::endpoint::Reload;
use keel_api::{ChangeKind, ErrorDetails, ReloadBody, ReloadReport};

use super::client::ClientError;
use super::context::{Context, Exit, Failure, block_on};
use super::fmt::{fail_mark, ok_mark, table};
use super::report::Report;

impl Report for ReloadReport {
    fn text(&self) -> String {
        let rows = self
            .services
            .iter()
            .map(|s| {
                let change = match s.change {
                    ChangeKind::Changed => format!("changed: {}", s.what.join(", ")),
                    k => k.as_str().to_string(),
                };
                vec![s.name.clone(), change, s.action.clone()]
            })
            .collect();
        let mut out = table(&["SERVICE", "CHANGE", "ACTION"], rows);
        out.push('\n');
        if self.platform_changed {
            out.push_str(
                "Platform settings ([[hooks]], [plugins], [orchestrator]) changed: they apply to the next plugin call.\n",
            );
        }
        let touched = self.services.iter().any(|s| s.action != "none");
        if self.dry_run {
            out.push_str("Dry run: nothing was changed.\n");
        } else if self.errors.is_empty() {
            let what = if touched || self.platform_changed {
                "Reloaded"
            } else {
                "Nothing changed in"
            };
            out.push_str(&format!("{} {what} {}\n", ok_mark(), self.config));
        } else {
            out.push_str(&format!(
                "{} Reloaded {} with errors:\n",
                fail_mark(),
                self.config
            ));
            for e in &self.errors {
                out.push_str(&format!("  {e}\n"));
            }
        }
        out
    }

    fn exit(&self) -> Exit {
        if self.errors.is_empty() {
            Exit::Ok
        } else {
            Exit::Failed
        }
    }
}

pub fn reload(cx: &Context, dry_run: bool) -> Result<ReloadReport, Failure> {
    let (client, state) = cx.client()?;
    let request = Reload {
        body: ReloadBody { dry_run },
    };
    block_on(async {
        if !client.is_running().await {
            return Err(Failure::new(
                Exit::Failed,
                format!(
                    "no keel daemon runs for {}: nothing to reload (`keel platform start` starts one with the file as it is)",
                    state.root().display()
                ),
            ));
        }
        client.call(&request).await.map_err(refused)
    })
}

/// A refused file: every problem, as `validate` prints them, and the config exit status.
fn refused(e: ClientError) -> Failure {
    let problems = match &e {
        ClientError::Api {
            details: Some(ErrorDetails::Problems { problems }),
            ..
        } => Some(problems.clone()),
        _ => None,
    };
    let mut failure = Failure::from(e);
    if let Some(problems) = problems {
        failure.exit = Exit::Config;
        failure.text = Some(format!(
            "{} {}\n{}\n",
            fail_mark(),
            failure.message,
            problems.join("\n")
        ));
    }
    failure
}
