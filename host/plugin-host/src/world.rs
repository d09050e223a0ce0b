//! The worlds of `keel:plugin` as the host's one call path sees them.
//!
//! [`World`] is implemented by the typed pre-instance of every world of every bound WIT
//! version (today the three worlds of 0.1, from [`crate::bindings::v0_1`]). The call path
//! (`call::run`) is generic over it: it instantiates through it, and the exports every world
//! shares (`describe`, `needs`, `validate`) are called through it, without a match per world.
//! Exports of one world only (`check`, `start`, `run`, ...) are called on the world's own
//! instance type by the host's methods for that world.
//!
//! Arguments and answers are 0.1's types; a later WIT version converts to and from them here.

use wasmtime::Store;

use crate::bindings::v0_1::{deployment, health, hook, wit_types};
use crate::sandbox::State;

/// A world's linked entry point, and the exports all worlds have.
pub(crate) trait World: Send + Sync + 'static {
    /// The world's instance (its typed exports).
    type Instance: Send + Sync + 'static;

    /// Instantiates the component in `store`.
    fn instantiate(
        &self,
        store: &mut Store<State>,
    ) -> impl Future<Output = wasmtime::Result<Self::Instance>> + Send;

    /// `plugin.describe()`.
    fn describe(
        instance: &Self::Instance,
        store: &mut Store<State>,
    ) -> impl Future<Output = wasmtime::Result<Described>> + Send;

    /// The world's `needs(settings)`.
    fn needs(
        instance: &Self::Instance,
        store: &mut Store<State>,
        settings: &wit_types::Settings,
    ) -> impl Future<Output = wasmtime::Result<Vec<wit_types::Capability>>> + Send;

    /// The world's `validate(settings)`.
    fn validate(
        instance: &Self::Instance,
        store: &mut Store<State>,
        settings: &wit_types::Settings,
    ) -> impl Future<Output = wasmtime::Result<Vec<wit_types::Problem>>> + Send;
}

/// What `describe()` answered (each world has its own generated `plugin-info`).
pub(crate) struct Described {
    pub name: String,
    pub version: String,
    pub description: String,
}

impl World for health::HealthCheckPluginPre<State> {
    type Instance = health::HealthCheckPlugin;

    async fn instantiate(&self, store: &mut Store<State>) -> wasmtime::Result<Self::Instance> {
        self.instantiate_async(store).await
    }

    async fn describe(
        instance: &Self::Instance,
        store: &mut Store<State>,
    ) -> wasmtime::Result<Described> {
        let info = instance.keel_plugin_plugin().call_describe(store).await?;
        Ok(Described {
            name: info.name,
            version: info.version,
            description: info.description,
        })
    }

    async fn needs(
        instance: &Self::Instance,
        store: &mut Store<State>,
        settings: &wit_types::Settings,
    ) -> wasmtime::Result<Vec<wit_types::Capability>> {
        instance
            .keel_plugin_health_check()
            .call_needs(store, settings)
            .await
    }

    async fn validate(
        instance: &Self::Instance,
        store: &mut Store<State>,
        settings: &wit_types::Settings,
    ) -> wasmtime::Result<Vec<wit_types::Problem>> {
        instance
            .keel_plugin_health_check()
            .call_validate(store, settings)
            .await
    }
}

impl World for deployment::DeploymentPluginPre<State> {
    type Instance = deployment::DeploymentPlugin;

    async fn instantiate(&self, store: &mut Store<State>) -> wasmtime::Result<Self::Instance> {
        self.instantiate_async(store).await
    }

    async fn describe(
        instance: &Self::Instance,
        store: &mut Store<State>,
    ) -> wasmtime::Result<Described> {
        let info = instance.keel_plugin_plugin().call_describe(store).await?;
        Ok(Described {
            name: info.name,
            version: info.version,
            description: info.description,
        })
    }

    async fn needs(
        instance: &Self::Instance,
        store: &mut Store<State>,
        settings: &wit_types::Settings,
    ) -> wasmtime::Result<Vec<wit_types::Capability>> {
        instance
            .keel_plugin_deployment()
            .call_needs(store, settings)
            .await
    }

    async fn validate(
        instance: &Self::Instance,
        store: &mut Store<State>,
        settings: &wit_types::Settings,
    ) -> wasmtime::Result<Vec<wit_types::Problem>> {
        instance
            .keel_plugin_deployment()
            .call_validate(store, settings)
            .await
    }
}

impl World for hook::HookPluginPre<State> {
    type Instance = hook::HookPlugin;

    async fn instantiate(&self, store: &mut Store<State>) -> wasmtime::Result<Self::Instance> {
        self.instantiate_async(store).await
    }

    async fn describe(
        instance: &Self::Instance,
        store: &mut Store<State>,
    ) -> wasmtime::Result<Described> {
        let info = instance.keel_plugin_plugin().call_describe(store).await?;
        Ok(Described {
            name: info.name,
            version: info.version,
            description: info.description,
        })
    }

    async fn needs(
        instance: &Self::Instance,
        store: &mut Store<State>,
        settings: &wit_types::Settings,
    ) -> wasmtime::Result<Vec<wit_types::Capability>> {
        instance
            .keel_plugin_hook()
            .call_needs(store, settings)
            .await
    }

    async fn validate(
        instance: &Self::Instance,
        store: &mut Store<State>,
        settings: &wit_types::Settings,
    ) -> wasmtime::Result<Vec<wit_types::Problem>> {
        instance
            .keel_plugin_hook()
            .call_validate(store, settings)
            .await
    }
}
