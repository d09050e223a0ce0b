//! A lifecycle hook: [`Hook`], its registration ([`lifecycle_hook!`](crate::lifecycle_hook!)),
//! and the names of `lifecycle`'s phases and causes.

use std::marker::PhantomData;

use crate::__Version;
use crate::__worlds::describe::exports::keel::plugin::plugin::{Guest as Describe, PluginInfo};
use crate::__worlds::lifecycle::exports::keel::plugin::lifecycle::Guest;
use crate::settings::{Settings, problems_text, read};
use crate::types::{self, Capability, Problem, ServiceInfo};

pub use crate::__worlds::lifecycle::exports::keel::plugin::lifecycle::{
    Cause, Decision, Event, ExitStatus, Phase, Verdict,
};

/// A lifecycle hook, used in services.toml as `[[hooks]]` or `[[services.NAME.hooks]]` with
/// `plugin = "<NAME>"`.
pub trait Hook: Settings {
    /// The name services.toml's `plugin` uses, e.g. `webhook`.
    const NAME: &'static str;
    /// One line for `plugins list` and `describe`.
    const DESCRIPTION: &'static str;

    /// The phases the hook wants with these settings; the host calls it in no other.
    fn phases(&self) -> Vec<Phase>;

    /// The phases answered for settings that do not read cleanly (the host refuses such
    /// settings before it asks, so this is for a caller like `plugins call`).
    fn phases_of_invalid_settings() -> Vec<Phase> {
        Vec::new()
    }

    /// Runs for one event. An `Err` is a failure of the hook itself; the entry's `on_error`
    /// decides what it means. Notifications' verdicts are ignored.
    fn run(&self, service: &ServiceInfo, event: &Event) -> Result<Decision, String>;
}

/// The exports of a [`Hook`] `T`; `V` carries the plugin crate's version.
#[doc(hidden)]
pub struct Export<T, V>(PhantomData<(T, V)>);

impl<T: Hook, V: __Version> Describe for Export<T, V> {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: T::NAME.into(),
            version: V::VERSION.into(),
            description: T::DESCRIPTION.into(),
        }
    }
}

impl<T: Hook, V: __Version> Guest for Export<T, V> {
    fn validate(settings: types::Settings) -> Vec<Problem> {
        read::<T>(&settings).err().unwrap_or_default()
    }

    fn needs(settings: types::Settings) -> Vec<Capability> {
        read::<T>(&settings).map(|s| s.needs()).unwrap_or_default()
    }

    fn phases(settings: types::Settings) -> Vec<Phase> {
        match read::<T>(&settings) {
            Ok(hook) => hook.phases(),
            Err(_) => T::phases_of_invalid_settings(),
        }
    }

    fn run(
        service: ServiceInfo,
        event: Event,
        settings: types::Settings,
    ) -> Result<Decision, String> {
        let hook = read::<T>(&settings).map_err(|p| problems_text(&p))?;
        hook.run(&service, &event)
    }
}

/// Registers a [`Hook`]: the plugin's `describe` (with its crate's version) and the lifecycle
/// world's exports. Once per plugin crate, at its root.
#[macro_export]
macro_rules! lifecycle_hook {
    ($hook:ty) => {
        const _: () = {
            struct __KeelVersion;
            impl $crate::__Version for __KeelVersion {
                const VERSION: &'static str = env!("CARGO_PKG_VERSION");
            }
            type __KeelExport = $crate::lifecycle::Export<$hook, __KeelVersion>;
            $crate::__worlds::describe::__export_describe!(__KeelExport with_types_in $crate::__worlds::describe);
            $crate::__worlds::lifecycle::__export_lifecycle!(__KeelExport with_types_in $crate::__worlds::lifecycle);
        };
    };
}

/// The names of `lifecycle.phase`'s cases, in the WIT's order.
pub const PHASE_NAMES: [&str; 9] = [
    "before-start",
    "after-start",
    "on-healthy",
    "on-check",
    "before-stop",
    "after-stop",
    "before-restart",
    "on-unhealthy",
    "on-failed",
];

/// Every phase, in the WIT's order (`PHASES[i].name() == PHASE_NAMES[i]`).
pub const PHASES: [Phase; 9] = [
    Phase::BeforeStart,
    Phase::AfterStart,
    Phase::OnHealthy,
    Phase::OnCheck,
    Phase::BeforeStop,
    Phase::AfterStop,
    Phase::BeforeRestart,
    Phase::OnUnhealthy,
    Phase::OnFailed,
];

/// The names of `lifecycle.cause`'s cases, in the WIT's order.
pub const CAUSE_NAMES: [&str; 8] = [
    "operator",
    "dependency",
    "auto-start",
    "restart-policy",
    "health",
    "shutdown",
    "timeout",
    "recovery",
];

impl Phase {
    /// The phase's name in the WIT and in services.toml, e.g. `before-start`.
    pub fn name(self) -> &'static str {
        // The generated enum is `repr(u8)` in the WIT's order.
        PHASE_NAMES[self as usize]
    }

    /// The phase named `name`, e.g. from a `phases` setting read with
    /// `Reader::list_of(key, &PHASE_NAMES)`.
    pub fn named(name: &str) -> Option<Phase> {
        PHASE_NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| PHASES[i])
    }

    /// Whether the host waits for this phase's verdict.
    pub fn blocks(self) -> bool {
        matches!(
            self,
            Phase::BeforeStart | Phase::BeforeStop | Phase::BeforeRestart | Phase::OnUnhealthy
        )
    }
}

impl Cause {
    /// The cause's name in the WIT, e.g. `restart-policy`.
    pub fn name(self) -> &'static str {
        CAUSE_NAMES[self as usize]
    }
}

impl Decision {
    /// Go on, with no variables.
    pub fn proceed() -> Decision {
        Decision {
            verdict: Verdict::Proceed,
            env: Vec::new(),
        }
    }
}
