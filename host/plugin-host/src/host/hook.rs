//! Hook calls: validating a hook's settings, and running a hook for one event.

use super::PluginHost;
use super::calls::reported;
use crate::convert::hook_event;
use crate::error::PluginError;
use crate::types::{HookEvent, PluginKind, Problem, Reply, ServiceInfo, Settings};

impl PluginHost {
    /// Validates the settings of a hook; an empty list means valid.
    pub async fn validate_hook(
        &self,
        name: &str,
        settings: &Settings,
    ) -> Result<Vec<Problem>, PluginError> {
        let plugin = self.of_kind(name, PluginKind::Hook)?;
        self.validate(&plugin, plugin.hook()?, settings).await
    }

    /// Runs a hook for one event. A plugin-reported error is [`PluginError::Failed`]; for
    /// `before-*` events the caller cancels the operation.
    pub async fn run_hook(
        &self,
        name: &str,
        service: &ServiceInfo,
        event: HookEvent,
        detail: &str,
        settings: &Settings,
    ) -> Result<Reply<()>, PluginError> {
        let plugin = self.of_kind(name, PluginKind::Hook)?;
        let linked = plugin.hook()?;
        let setup = self
            .prepare(&plugin, "run", service, settings, plugin.call_timeout())
            .await?;
        let (wit_service, wit_settings) = (service.to_wit(), settings.to_wit());
        let event = hook_event(event);
        let done = self
            .run(&plugin, linked, setup, async |store, instance| {
                instance
                    .keel_plugin_hook()
                    .call_run(store, &wit_service, event, detail, &wit_settings)
                    .await
            })
            .await?;
        reported(&plugin, "run", done)
    }
}
