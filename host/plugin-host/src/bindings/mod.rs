//! Generated bindings, one module per supported version of the `keel:plugin` WIT package.
//!
//! A later host that adds `keel:plugin@0.2.0` generates `v0_2` beside `v0_1`, keeps loading
//! 0.1 plugins through this module, and dispatches on the version a component exports (see
//! [`crate::inspect`]).

pub(crate) mod v0_1;
