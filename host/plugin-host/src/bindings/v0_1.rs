//! Bindings for `keel:plugin@0.1.x` (`wit/0.1.0/keel-plugin.wit`).
//!
//! The three worlds share the `types` and `host` interfaces: they are generated once (with the
//! health-check world) and reused by the other two through `with`, so one implementation of the
//! host functions serves every world and the value types convert in one place.

/// The `health-check-plugin` world; also owns the shared `types` and `host` bindings.
pub(crate) mod health {
    wasmtime::component::bindgen!({
        path: "../../wit/0.1.0",
        world: "health-check-plugin",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

/// The `deployment-plugin` world.
pub(crate) mod deployment {
    wasmtime::component::bindgen!({
        path: "../../wit/0.1.0",
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
        path: "../../wit/0.1.0",
        world: "hook-plugin",
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
