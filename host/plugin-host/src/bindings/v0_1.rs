//! Bindings for `keel:plugin@0.1.x`, generated from the newest 0.1 package (`wit/0.1.2`): the
//! component linker matches a plugin built against an older 0.1 (it imports `host@0.1.0`, which
//! has fewer functions) to these by semver, and finds its exports the same way.
//!
//! The worlds share the `types` and `host` interfaces: they are generated once (with the
//! health-check world) and reused by the others through `with`, so one implementation of the
//! host functions serves every world and the value types convert in one place. The interfaces
//! only hooks import (`store`, `services`, `files`) are generated with the lifecycle world.

/// The `health-check-plugin` world; also owns the shared `types` and `host` bindings.
pub(crate) mod health {
    wasmtime::component::bindgen!({
        path: "../../wit/0.1.2",
        world: "health-check-plugin",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

/// The `deployment-plugin` world.
pub(crate) mod deployment {
    wasmtime::component::bindgen!({
        path: "../../wit/0.1.2",
        world: "deployment-plugin",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "keel:plugin/types": super::health::keel::plugin::types,
            "keel:plugin/host": super::health::keel::plugin::host,
        },
    });
}

/// The `hook-plugin` world.
pub(crate) mod hook {
    wasmtime::component::bindgen!({
        path: "../../wit/0.1.2",
        world: "hook-plugin",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "keel:plugin/types": super::health::keel::plugin::types,
            "keel:plugin/host": super::health::keel::plugin::host,
        },
    });
}

/// The `lifecycle-plugin` world (hooks since 0.1.2); also owns the `store`, `services` and
/// `files` bindings.
pub(crate) mod lifecycle {
    wasmtime::component::bindgen!({
        path: "../../wit/0.1.2",
        world: "lifecycle-plugin",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "keel:plugin/types": super::health::keel::plugin::types,
            "keel:plugin/host": super::health::keel::plugin::host,
        },
    });
}

pub(crate) use health::keel::plugin::host as host_api;
pub(crate) use health::keel::plugin::types as wit_types;
pub(crate) use lifecycle::keel::plugin::{
    files as files_api, services as services_api, store as store_api,
};
