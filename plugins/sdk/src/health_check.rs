//! A health check type: [`HealthCheck`] and its registration, [`health_check!`](crate::health_check!).

use std::marker::PhantomData;

use crate::__Version;
use crate::__worlds::describe::exports::keel::plugin::plugin::{Guest as Describe, PluginInfo};
use crate::__worlds::health_check::exports::keel::plugin::health_check::{CheckResult, Guest};
use crate::settings::{Settings, problems_text, read};
use crate::types::{self, Capability, Problem, ServiceInfo};

/// A health check type, used in services.toml as `[services.NAME.health_check.<NAME>]`.
pub trait HealthCheck: Settings {
    /// The name services.toml uses, e.g. `redis-ping`.
    const NAME: &'static str;
    /// One line for `plugins list` and `describe`.
    const DESCRIPTION: &'static str;

    /// Runs the check once: `Ok` with a message when healthy, `Err` with the reason when not.
    /// Give up by `timeout_ms`; the host enforces it too and measures the duration itself.
    fn check(&self, service: &ServiceInfo, timeout_ms: u32) -> Result<String, String>;
}

/// The exports of a [`HealthCheck`] `T`; `V` carries the plugin crate's version.
#[doc(hidden)]
pub struct Export<T, V>(PhantomData<(T, V)>);

impl<T: HealthCheck, V: __Version> Describe for Export<T, V> {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: T::NAME.into(),
            version: V::VERSION.into(),
            description: T::DESCRIPTION.into(),
        }
    }
}

impl<T: HealthCheck, V: __Version> Guest for Export<T, V> {
    fn validate(settings: types::Settings) -> Vec<Problem> {
        read::<T>(&settings).err().unwrap_or_default()
    }

    fn needs(settings: types::Settings) -> Vec<Capability> {
        read::<T>(&settings).map(|s| s.needs()).unwrap_or_default()
    }

    fn check(service: ServiceInfo, settings: types::Settings, timeout_ms: u32) -> CheckResult {
        let answer = read::<T>(&settings)
            .map_err(|problems| problems_text(&problems))
            .and_then(|check| check.check(&service, timeout_ms));
        match answer {
            Ok(message) => CheckResult {
                healthy: true,
                message,
            },
            Err(message) => CheckResult {
                healthy: false,
                message,
            },
        }
    }
}

/// Registers a [`HealthCheck`]: the plugin's `describe` (with its crate's version) and the
/// health-check world's exports. Once per plugin crate, at its root.
#[macro_export]
macro_rules! health_check {
    ($check:ty) => {
        const _: () = {
            struct __KeelVersion;
            impl $crate::__Version for __KeelVersion {
                const VERSION: &'static str = env!("CARGO_PKG_VERSION");
            }
            type __KeelExport = $crate::health_check::Export<$check, __KeelVersion>;
            $crate::__worlds::describe::__export_describe!(__KeelExport with_types_in $crate::__worlds::describe);
            $crate::__worlds::health_check::__export_health_check!(
                __KeelExport with_types_in $crate::__worlds::health_check
            );
        };
    };
}
