//! Health-check calls: validating a check type's settings, and running one check.

use std::time::Duration;

use super::PluginHost;
use crate::call::Done;
use crate::error::PluginError;
use crate::types::{CheckOutcome, PluginKind, Problem, ServiceInfo, Settings};

impl PluginHost {
    /// Validates the settings of a health check type; an empty list means valid.
    pub async fn validate_check(
        &self,
        kind: &str,
        settings: &Settings,
    ) -> Result<Vec<Problem>, PluginError> {
        let plugin = self.of_kind(kind, PluginKind::HealthCheck)?;
        self.validate(&plugin, plugin.health_check()?, settings)
            .await
    }

    /// Runs one health check of type `kind`. The plugin is told `timeout` (capped by its
    /// grant's timeout); the host stops the call shortly after that (a tenth more, at least
    /// 100 ms, at most 1 s) with [`PluginError::Timeout`]. The duration is measured by the host.
    pub async fn check(
        &self,
        kind: &str,
        service: &ServiceInfo,
        settings: &Settings,
        timeout: Duration,
    ) -> Result<CheckOutcome, PluginError> {
        let plugin = self.of_kind(kind, PluginKind::HealthCheck)?;
        let linked = plugin.health_check()?;
        let budget = plugin.grant.timeout.map_or(timeout, |t| t.min(timeout));
        let setup = self
            .prepare(&plugin, "check", service, settings, budget + grace(budget))
            .await?;
        let timeout_ms = u32::try_from(budget.as_millis()).unwrap_or(u32::MAX);
        let (wit_service, wit_settings) = (service.to_wit(), settings.to_wit());
        let done = self
            .run(&plugin, linked, setup, async |store, instance| {
                instance
                    .keel_plugin_health_check()
                    .call_check(store, &wit_service, &wit_settings, timeout_ms)
                    .await
                    .map(|r| (r.healthy, r.message))
            })
            .await?;
        let Done {
            value: (healthy, message),
            duration,
            diagnostics,
        } = done;
        Ok(CheckOutcome {
            healthy,
            message,
            duration,
            logs: diagnostics.logs,
            stderr: diagnostics.stderr,
        })
    }
}

/// The extra time the host allows past a check's own timeout, so a plugin that gives up on
/// time can still report it.
fn grace(budget: Duration) -> Duration {
    (budget / 10 + Duration::from_millis(100)).min(Duration::from_secs(1))
}
