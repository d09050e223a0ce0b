//! Deployment calls: validating a mode's settings, pre-flight, and a workload's start, status,
//! stop and recovery after a host restart.

use std::sync::Arc;
use std::time::Duration;

use super::PluginHost;
use super::calls::{reply, reported};
use crate::call::CallSetup;
use crate::convert::{started, workload_state};
use crate::error::PluginError;
use crate::plugin::Plugin;
use crate::types::{
    Finding, PluginKind, Problem, Reply, ServiceInfo, Settings, Started, WorkloadStatus,
};

impl PluginHost {
    /// Validates the settings of a deployment mode; an empty list means valid.
    pub async fn validate_mode(
        &self,
        mode: &str,
        settings: &Settings,
    ) -> Result<Vec<Problem>, PluginError> {
        let plugin = self.of_kind(mode, PluginKind::Deployment)?;
        self.validate(&plugin, plugin.deployment()?, settings).await
    }

    /// Checks a deployment's prerequisites (the binary exists, the engine answers, ...).
    pub async fn preflight(
        &self,
        mode: &str,
        service: &ServiceInfo,
        settings: &Settings,
    ) -> Result<Reply<Vec<Finding>>, PluginError> {
        let (plugin, setup) = self
            .deployment_call(mode, "preflight", service, settings, None)
            .await?;
        let linked = plugin.deployment()?;
        let (wit_service, wit_settings) = (service.to_wit(), settings.to_wit());
        let done = self
            .run(&plugin, linked, setup, async |store, instance| {
                instance
                    .keel_plugin_deployment()
                    .call_preflight(store, &wit_service, &wit_settings)
                    .await
                    .map(|list| {
                        list.into_iter()
                            .map(|f| Finding {
                                ok: f.ok,
                                message: f.message,
                            })
                            .collect::<Vec<_>>()
                    })
            })
            .await?;
        Ok(reply(done))
    }

    /// Starts a workload: either a process for the host to supervise, or a handle.
    pub async fn start(
        &self,
        mode: &str,
        service: &ServiceInfo,
        settings: &Settings,
    ) -> Result<Reply<Started>, PluginError> {
        let (plugin, setup) = self
            .deployment_call(mode, "start", service, settings, None)
            .await?;
        let linked = plugin.deployment()?;
        let (wit_service, wit_settings) = (service.to_wit(), settings.to_wit());
        let done = self
            .run(&plugin, linked, setup, async |store, instance| {
                instance
                    .keel_plugin_deployment()
                    .call_start(store, &wit_service, &wit_settings)
                    .await
                    .map(|r| r.map(started))
            })
            .await?;
        reported(&plugin, "start", done)
    }

    /// The state of a workload started with a handle.
    pub async fn status(
        &self,
        mode: &str,
        service: &ServiceInfo,
        settings: &Settings,
        handle: &str,
    ) -> Result<Reply<WorkloadStatus>, PluginError> {
        let (plugin, setup) = self
            .deployment_call(mode, "status", service, settings, None)
            .await?;
        let linked = plugin.deployment()?;
        let (wit_service, wit_settings) = (service.to_wit(), settings.to_wit());
        let done = self
            .run(&plugin, linked, setup, async |store, instance| {
                instance
                    .keel_plugin_deployment()
                    .call_status(store, &wit_service, &wit_settings, handle)
                    .await
                    .map(|r| {
                        r.map(|s| WorkloadStatus {
                            state: workload_state(s.state),
                            message: s.message,
                        })
                    })
            })
            .await?;
        reported(&plugin, "status", done)
    }

    /// Stops a workload started with a handle, giving it `grace` before forcing it. The call
    /// may take `grace` plus the plugin's usual time limit.
    pub async fn stop(
        &self,
        mode: &str,
        service: &ServiceInfo,
        settings: &Settings,
        handle: &str,
        grace: Duration,
    ) -> Result<Reply<()>, PluginError> {
        let (plugin, setup) = self
            .deployment_call(mode, "stop", service, settings, Some(grace))
            .await?;
        let linked = plugin.deployment()?;
        let grace_ms = u32::try_from(grace.as_millis()).unwrap_or(u32::MAX);
        let (wit_service, wit_settings) = (service.to_wit(), settings.to_wit());
        let done = self
            .run(&plugin, linked, setup, async |store, instance| {
                instance
                    .keel_plugin_deployment()
                    .call_stop(store, &wit_service, &wit_settings, handle, grace_ms)
                    .await
            })
            .await?;
        reported(&plugin, "stop", done)
    }

    /// After a host restart: whether the workload behind a saved handle is still there
    /// (`Some(possibly refreshed handle)`) or gone (`None`).
    pub async fn recover(
        &self,
        mode: &str,
        service: &ServiceInfo,
        settings: &Settings,
        handle: &str,
    ) -> Result<Reply<Option<String>>, PluginError> {
        let (plugin, setup) = self
            .deployment_call(mode, "recover", service, settings, None)
            .await?;
        let linked = plugin.deployment()?;
        let (wit_service, wit_settings) = (service.to_wit(), settings.to_wit());
        let done = self
            .run(&plugin, linked, setup, async |store, instance| {
                instance
                    .keel_plugin_deployment()
                    .call_recover(store, &wit_service, &wit_settings, handle)
                    .await
            })
            .await?;
        reported(&plugin, "recover", done)
    }

    /// The plugin of deployment mode `mode` and the setup of a call to its `function`, whose
    /// time limit is the plugin's usual one plus `extra_time`.
    async fn deployment_call(
        &self,
        mode: &str,
        function: &'static str,
        service: &ServiceInfo,
        settings: &Settings,
        extra_time: Option<Duration>,
    ) -> Result<(Arc<Plugin>, CallSetup), PluginError> {
        let plugin = self.of_kind(mode, PluginKind::Deployment)?;
        let limit = plugin.call_timeout() + extra_time.unwrap_or_default();
        let setup = self
            .prepare(&plugin, function, service, settings, limit)
            .await?;
        Ok((plugin, setup))
    }
}
