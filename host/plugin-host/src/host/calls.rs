//! What every call shares, whatever the plugin's world: the step into the generic call path
//! with this host's engine and turns, a call's setup and authority (one deadline over `needs`,
//! address resolution and the call itself), the memoized `needs`, `validate`, and how a
//! finished call becomes a reply.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::Store;

use super::PluginHost;
use crate::answer::Bounded;
use crate::bindings::v0_1::wit_types;
use crate::call::{self, CallSetup, Done};
use crate::convert::problems;
use crate::error::PluginError;
use crate::plugin::{Plugin, Pre, no_authority};
use crate::pool::Linked;
use crate::sandbox::State;
use crate::stats::CallOutcome;
use crate::types::{Capability, Problem, Reply, ServiceInfo, Settings};
use crate::world::World;

impl PluginHost {
    /// What a plugin needs for these settings, checked against its grant: `Err(Denied)` names
    /// the first request the grant does not cover. Nothing but `needs()` runs.
    pub async fn authorize(
        &self,
        name: &str,
        settings: &Settings,
        service: &ServiceInfo,
    ) -> Result<Vec<Capability>, PluginError> {
        let plugin = self.any(name)?;
        let needs = self.needs(&plugin, settings, None).await?;
        plugin
            .grant
            .authorize(&plugin.name, &needs, Some(&service.config_dir))?;
        Ok(needs.to_vec())
    }

    /// What a plugin's `needs` answers for these settings, whatever its grant (for showing a
    /// plugin's requests; [`PluginHost::authorize`] checks them).
    pub async fn needs_of(
        &self,
        name: &str,
        settings: &Settings,
    ) -> Result<Vec<Capability>, PluginError> {
        let plugin = self.any(name)?;
        Ok(self.needs(&plugin, settings, None).await?.to_vec())
    }

    /// Runs one export call of `plugin` (whose entry point is `linked`) through the generic
    /// call path, under this host's limit on calls in flight.
    pub(super) async fn run<W: World, T: Bounded>(
        &self,
        plugin: &Plugin,
        linked: &Linked<W, W::Instance>,
        setup: CallSetup,
        body: impl AsyncFnOnce(&mut Store<State>, &W::Instance) -> wasmtime::Result<T>,
    ) -> Result<Done<T>, PluginError> {
        let callee = plugin.callee();
        let function = setup.function;
        let started = Instant::now();
        let done = call::run(
            &self.inner.engine,
            &self.inner.turns,
            &callee,
            linked,
            setup,
            body,
        )
        .await;
        let outcome = match &done {
            Ok(d) if d.value.reports_error() => CallOutcome::Error,
            Ok(_) => CallOutcome::Ok,
            Err(e) => CallOutcome::of_error(e),
        };
        plugin
            .stats
            .call(function, outcome, Some(started.elapsed()));
        done
    }

    /// Validates settings with the plugin's own `validate` (no authority); an empty list means
    /// valid.
    pub(super) async fn validate<W: World>(
        &self,
        plugin: &Plugin,
        linked: &Linked<W, W::Instance>,
        settings: &Settings,
    ) -> Result<Vec<Problem>, PluginError> {
        let settings = settings.to_wit();
        let setup = self.pure(plugin, "validate");
        let done = self
            .run(plugin, linked, setup, async |store, instance| {
                W::validate(instance, store, &settings).await.map(problems)
            })
            .await?;
        Ok(done.value)
    }

    /// The setup of a call that needs no authority (validate).
    pub(super) fn pure(&self, plugin: &Plugin, function: &'static str) -> CallSetup {
        CallSetup::new(function, no_authority(), None, plugin.call_timeout())
    }

    /// The setup of a call with authority: one deadline, `limit` from now, covers asking the
    /// plugin's `needs` (when not memoized), resolving addresses, and the call itself.
    pub(super) async fn prepare(
        &self,
        plugin: &Arc<Plugin>,
        function: &'static str,
        service: &ServiceInfo,
        settings: &Settings,
        limit: Duration,
    ) -> Result<CallSetup, PluginError> {
        let mut setup = CallSetup::new(function, no_authority(), Some(service.clone()), limit);
        let hash = settings.memo_hash();
        let base = service.config_dir.as_path();
        if let Some(permit) = plugin.remembered_permit(hash, settings, base) {
            setup.permit = permit;
            return Ok(setup);
        }
        let needs = self.needs(plugin, settings, Some(&setup)).await?;
        let facilities = &plugin.grant.facilities;
        let has_facilities =
            facilities.store || facilities.services || !facilities.write_paths.is_empty();
        if !needs.is_empty() || has_facilities {
            let mut permit = plugin
                .grant
                .authorize(&plugin.name, &needs, Some(base))
                .inspect_err(|e| {
                    if let PluginError::Denied { capability, .. } = e {
                        plugin.stats.denied(&capability.kind().to_string());
                        plugin.stats.call(function, CallOutcome::Denied, None);
                    }
                })?;
            if facilities.store {
                permit.store = self.inner.data_dir.as_ref().map(|d| d.join(&*plugin.name));
            }
            if facilities.services {
                permit.services = Some(self.inner.services.clone());
            }
            permit.write_paths = facilities.write_paths.clone();
            setup.permit = Arc::new(permit);
        }
        plugin.remember_permit(hash, settings, base, setup.permit.clone());
        Ok(setup)
    }

    /// The plugin's needs for these settings (memoized: `needs` is a function of the
    /// settings), asked within the deadline of the call they are for, if any.
    async fn needs(
        &self,
        plugin: &Arc<Plugin>,
        settings: &Settings,
        within: Option<&CallSetup>,
    ) -> Result<Arc<Vec<Capability>>, PluginError> {
        let hash = settings.memo_hash();
        if let Some(needs) = plugin.remembered_needs(hash, settings) {
            return Ok(needs);
        }
        let wit_settings = settings.to_wit();
        let mut setup = self.pure(plugin, "needs");
        if let Some(call) = within
            && call.deadline < setup.deadline
        {
            setup.deadline = call.deadline;
            setup.limit = call.limit;
        }
        let done = match &plugin.pre {
            Pre::HealthCheck(linked) => self.ask_needs(plugin, linked, setup, &wit_settings).await,
            Pre::Deployment(linked) => self.ask_needs(plugin, linked, setup, &wit_settings).await,
            Pre::Hook(linked) => self.ask_needs(plugin, linked, setup, &wit_settings).await,
            Pre::Lifecycle(linked) => self.ask_needs(plugin, linked, setup, &wit_settings).await,
        }?;
        let needs = Arc::new(done.value);
        plugin.remember_needs(hash, settings, needs.clone());
        Ok(needs)
    }

    /// Calls the plugin's `needs`, whatever its world.
    async fn ask_needs<W: World>(
        &self,
        plugin: &Plugin,
        linked: &Linked<W, W::Instance>,
        setup: CallSetup,
        settings: &wit_types::Settings,
    ) -> Result<Done<Vec<Capability>>, PluginError> {
        self.run(plugin, linked, setup, async |store, instance| {
            W::needs(instance, store, settings).await.map(|caps| {
                caps.into_iter()
                    .map(Capability::from_wit)
                    .collect::<Vec<_>>()
            })
        })
        .await
    }
}

/// A finished call's answer as a [`Reply`].
pub(super) fn reply<T>(done: Done<T>) -> Reply<T> {
    Reply {
        value: done.value,
        duration: done.duration,
        logs: done.diagnostics.logs,
        stderr: done.diagnostics.stderr,
    }
}

/// Splits a plugin-reported `result` into the reply or [`PluginError::Failed`].
pub(super) fn reported<T>(
    plugin: &Plugin,
    function: &'static str,
    done: Done<Result<T, String>>,
) -> Result<Reply<T>, PluginError> {
    match done.value {
        Ok(value) => Ok(Reply {
            value,
            duration: done.duration,
            logs: done.diagnostics.logs,
            stderr: done.diagnostics.stderr,
        }),
        Err(message) => Err(PluginError::Failed {
            plugin: plugin.name.to_string(),
            function,
            message,
            diagnostics: done.diagnostics,
        }),
    }
}
