//! The host functions of `keel:plugin/services`: a read-only view of the supervised services,
//! for plugins granted `services`, read from the view the embedder installed.

use crate::bindings::v0_1::host_api::HostError;
use crate::bindings::v0_1::services_api::{self, ServiceState as WitState};
use crate::lifecycle::{ServiceState, ServicesView};
use crate::sandbox::State;

impl services_api::Host for State {
    async fn status(&mut self, name: String) -> wasmtime::Result<Result<WitState, HostError>> {
        Ok(self.services_view().and_then(|view| {
            view.status(&name)
                .map(to_wit)
                .ok_or_else(|| HostError::Failed(format!("no service is named {name:?}")))
        }))
    }

    async fn all(&mut self) -> wasmtime::Result<Result<Vec<WitState>, HostError>> {
        Ok(self
            .services_view()
            .map(|view| view.all().into_iter().map(to_wit).collect()))
    }
}

impl State {
    fn services_view(&self) -> Result<std::sync::Arc<dyn ServicesView>, HostError> {
        let Some(slot) = &self.call.permit.services else {
            tracing::warn!(plugin = %self.call.plugin, "denied the services view");
            self.call.count_denied("services");
            return Err(HostError::Denied(format!(
                "the services view is not granted to plugin `{0}` (grant it with \
                 `services = true` in [plugins.grants.{0}])",
                self.call.plugin
            )));
        };
        slot.view()
            .cloned()
            .ok_or_else(|| HostError::Failed("the services view is not available yet".into()))
    }
}

fn to_wit(s: ServiceState) -> WitState {
    WitState {
        name: s.name,
        status: s.status,
        pid: s.pid,
        health: s.health,
        started_at_ms: s.started_at_ms,
        restarts: s.restarts,
    }
}
