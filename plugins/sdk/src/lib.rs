//! `keel-plugin-sdk`: everything a Keel plugin written in Rust needs besides its own logic. A
//! plugin crate depends on this crate and nothing else (it carries the WIT, `wit/`, a copy of
//! the host's `wit/0.1.2` that `plugins/build.sh` keeps identical).
//!
//! * A plugin's settings are a struct that implements [`Settings`]: how it is read from the
//!   service's table with a [`Reader`], and what it [`needs`](Settings::needs) granted. The SDK
//!   derives `validate` (every problem of the table, each tied to its key, unknown keys with a
//!   did-you-mean) and `needs` from it, and answers every call made with invalid settings
//!   itself (an unhealthy check, failed pre-flight findings, an error), so a plugin's own code
//!   only ever sees settings that read cleanly.
//! * One trait per plugin kind, [`HealthCheck`], [`Deployment`] and [`Hook`] (a lifecycle
//!   hook), and one macro each ([`health_check!`], [`deployment!`], [`lifecycle_hook!`]) that
//!   registers the type: describe, the WIT exports and the glue between them.
//! * Bindings for what Keel's worlds import (`types`, `host`, and for hooks `store`, `services`,
//!   `files`), [`tcp`] for a bounded send-and-read exchange over WASI sockets, [`run`] for a
//!   granted program, [`json`], [`base64`] and [`fnv1a`].
//!
//! The smallest check:
//!
//! ```ignore
//! use keel_plugin_sdk::{HealthCheck, Reader, Settings, types::ServiceInfo};
//!
//! struct Echo { message: String }
//!
//! impl Settings for Echo {
//!     fn read(r: &mut Reader) -> Self {
//!         Echo { message: r.string("message").unwrap_or_else(|| "echo".into()) }
//!     }
//! }
//!
//! impl HealthCheck for Echo {
//!     const NAME: &'static str = "echo";
//!     const DESCRIPTION: &'static str = "Always healthy; answers with the message setting";
//!     fn check(&self, _: &ServiceInfo, _timeout_ms: u32) -> Result<String, String> {
//!         Ok(self.message.clone())
//!     }
//! }
//!
//! keel_plugin_sdk::health_check!(Echo);
//! ```

pub use wit_bindgen;

pub mod deployment;
pub mod health_check;
pub mod json;
pub mod lifecycle;
mod reader;
mod settings;
pub mod tcp;
mod text;

mod bindings {
    // An imports-only world. The component linker merges the world described by this crate's
    // custom section with the plugin's own world, so it must not mention any export.
    wit_bindgen::generate!({
        path: "wit",
        inline: "
            package keel:sdk;
            world imports {
                import keel:plugin/types@0.1.2;
                import keel:plugin/host@0.1.2;
                import keel:plugin/store@0.1.2;
                import keel:plugin/services@0.1.2;
                import keel:plugin/files@0.1.2;
            }
        ",
        generate_all,
        // `types` is used by the plugins' exports, not by any import: generate it anyway.
        generate_unused_types: true,
    });
}

/// The bindings of the exports: `describe` once, and each plugin kind's interface in a world of
/// its own. `pub_export_macro` keeps the exports out of this crate's custom sections: each is
/// described by the section its `export!` macro places in the plugin's crate, so a component
/// exports `plugin` and the one kind its registering macro names, and nothing else. (Every kind
/// exports `plugin`; generated three times, its export macro's name would clash.)
#[doc(hidden)]
pub mod __worlds {
    pub mod describe {
        wit_bindgen::generate!({
            path: "wit",
            inline: "
                package keel:sdk;
                world describe {
                    export keel:plugin/plugin@0.1.2;
                }
            ",
            pub_export_macro: true,
            export_macro_name: "__export_describe",
            default_bindings_module: "keel_plugin_sdk::__worlds::describe",
        });
    }
    pub mod health_check {
        wit_bindgen::generate!({
            path: "wit",
            inline: "
                package keel:sdk;
                world health-check {
                    export keel:plugin/health-check@0.1.2;
                }
            ",
            with: {
                "keel:plugin/types@0.1.2": crate::types,
            },
            pub_export_macro: true,
            export_macro_name: "__export_health_check",
            default_bindings_module: "keel_plugin_sdk::__worlds::health_check",
        });
    }
    pub mod deployment {
        wit_bindgen::generate!({
            path: "wit",
            inline: "
                package keel:sdk;
                world deployment {
                    export keel:plugin/deployment@0.1.2;
                }
            ",
            with: {
                "keel:plugin/types@0.1.2": crate::types,
            },
            pub_export_macro: true,
            export_macro_name: "__export_deployment",
            default_bindings_module: "keel_plugin_sdk::__worlds::deployment",
        });
    }
    pub mod lifecycle {
        wit_bindgen::generate!({
            path: "wit",
            inline: "
                package keel:sdk;
                world lifecycle {
                    export keel:plugin/lifecycle@0.1.2;
                }
            ",
            with: {
                "keel:plugin/types@0.1.2": crate::types,
            },
            pub_export_macro: true,
            export_macro_name: "__export_lifecycle",
            default_bindings_module: "keel_plugin_sdk::__worlds::lifecycle",
        });
    }
}

pub use bindings::keel::plugin::{files, host, services, store, types};
pub use deployment::Deployment;
pub use health_check::HealthCheck;
pub use lifecycle::{CAUSE_NAMES, Hook, PHASE_NAMES};
pub use reader::{Reader, describe, did_you_mean};
pub use settings::{Settings, problems_text, read};
pub use text::{Ran, authority, base64, fnv1a, host_error_text, io_error_text, run, split_words};

/// The version a plugin describes itself with: its own crate's, which the registering macro
/// reads where it expands.
#[doc(hidden)]
pub trait __Version {
    const VERSION: &'static str;
}

#[cfg(test)]
mod tests;
