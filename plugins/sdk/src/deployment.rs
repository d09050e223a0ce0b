//! A deployment mode: [`Deployment`], its registration ([`deployment!`](crate::deployment!)),
//! and what pre-flight checks share: [`Findings`], [`resolve`] and [`Findings::path`].

use std::marker::PhantomData;

use crate::__Version;
use crate::__worlds::deployment::exports::keel::plugin::deployment::Guest;
use crate::__worlds::describe::exports::keel::plugin::plugin::{Guest as Describe, PluginInfo};
use crate::host::{self, PathInfo};
use crate::settings::{Settings, problems_text, read};
use crate::text::host_error_text;
use crate::types::{self, Capability, Problem, ServiceInfo};

pub use crate::__worlds::deployment::exports::keel::plugin::deployment::{
    Finding, LaunchSpec, Started, WorkloadState, WorkloadStatus,
};

/// A deployment mode, used in services.toml as `[services.NAME.deployment.<NAME>]`.
///
/// Every function is called with settings that read cleanly: pre-flight with invalid settings
/// answers one failed finding per problem, and the others an error naming the problems.
pub trait Deployment: Settings {
    /// The name services.toml uses, e.g. `binary`.
    const NAME: &'static str;
    /// One line for `plugins list` and `describe`.
    const DESCRIPTION: &'static str;
    /// What the host supervises for a mode whose workloads are launch specs, in the answer of
    /// `status`, `stop` and `recover` (which only a mode that starts handles implements), e.g.
    /// "`docker run` process".
    const PROCESS: &'static str = "process";

    /// The prerequisites of a start (the binary exists, the engine answers, ...), each as a
    /// finding; a failed one stops the start before anything runs.
    fn preflight(&self, service: &ServiceInfo) -> Vec<Finding>;

    /// Starts the workload: a launch spec for the host's supervisor, or a handle for a
    /// workload the plugin runs itself.
    fn start(&self, service: &ServiceInfo) -> Result<Started, String>;

    /// The state of a workload the plugin started itself (a [`Started::Handle`]).
    fn status(&self, _service: &ServiceInfo, _handle: &str) -> Result<WorkloadStatus, String> {
        Err(no_handles(Self::NAME, Self::PROCESS))
    }

    /// Stops a workload the plugin started itself within `grace_ms`.
    fn stop(&self, _service: &ServiceInfo, _handle: &str, _grace_ms: u32) -> Result<(), String> {
        Err(no_handles(Self::NAME, Self::PROCESS))
    }

    /// After a daemon restart: the (possibly refreshed) handle of a workload still there.
    fn recover(&self, _service: &ServiceInfo, _handle: &str) -> Result<Option<String>, String> {
        Err(no_handles(Self::NAME, Self::PROCESS))
    }
}

fn no_handles(name: &str, process: &str) -> String {
    format!("the {name} deployment mode has no handles: the host supervises its {process} itself")
}

/// The exports of a [`Deployment`] `T`; `V` carries the plugin crate's version.
#[doc(hidden)]
pub struct Export<T, V>(PhantomData<(T, V)>);

impl<T: Deployment, V: __Version> Describe for Export<T, V> {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: T::NAME.into(),
            version: V::VERSION.into(),
            description: T::DESCRIPTION.into(),
        }
    }
}

fn settled<T: Settings>(settings: &types::Settings) -> Result<T, String> {
    read::<T>(settings).map_err(|problems| problems_text(&problems))
}

impl<T: Deployment, V: __Version> Guest for Export<T, V> {
    fn validate(settings: types::Settings) -> Vec<Problem> {
        read::<T>(&settings).err().unwrap_or_default()
    }

    fn needs(settings: types::Settings) -> Vec<Capability> {
        read::<T>(&settings).map(|s| s.needs()).unwrap_or_default()
    }

    fn preflight(service: ServiceInfo, settings: types::Settings) -> Vec<Finding> {
        match read::<T>(&settings) {
            Ok(mode) => mode.preflight(&service),
            Err(problems) => problems
                .iter()
                .map(|p| Finding {
                    ok: false,
                    message: problems_text(std::slice::from_ref(p)),
                })
                .collect(),
        }
    }

    fn start(service: ServiceInfo, settings: types::Settings) -> Result<Started, String> {
        settled::<T>(&settings)?.start(&service)
    }

    fn status(
        service: ServiceInfo,
        settings: types::Settings,
        handle: String,
    ) -> Result<WorkloadStatus, String> {
        settled::<T>(&settings)?.status(&service, &handle)
    }

    fn stop(
        service: ServiceInfo,
        settings: types::Settings,
        handle: String,
        grace_ms: u32,
    ) -> Result<(), String> {
        settled::<T>(&settings)?.stop(&service, &handle, grace_ms)
    }

    fn recover(
        service: ServiceInfo,
        settings: types::Settings,
        handle: String,
    ) -> Result<Option<String>, String> {
        settled::<T>(&settings)?.recover(&service, &handle)
    }
}

/// Registers a [`Deployment`]: the plugin's `describe` (with its crate's version) and the
/// deployment world's exports. Once per plugin crate, at its root.
#[macro_export]
macro_rules! deployment {
    ($mode:ty) => {
        const _: () = {
            struct __KeelVersion;
            impl $crate::__Version for __KeelVersion {
                const VERSION: &'static str = env!("CARGO_PKG_VERSION");
            }
            type __KeelExport = $crate::deployment::Export<$mode, __KeelVersion>;
            $crate::__worlds::describe::__export_describe!(__KeelExport with_types_in $crate::__worlds::describe);
            $crate::__worlds::deployment::__export_deployment!(__KeelExport with_types_in $crate::__worlds::deployment);
        };
    };
}

/// A path from settings made absolute against the service's config dir (`./x`, `x` and `.`
/// are relative to it, as everywhere in services.toml).
pub fn resolve(service: &ServiceInfo, path: &str) -> String {
    if path.starts_with('/') {
        return path.to_string();
    }
    let dir = service.config_dir.trim_end_matches('/');
    match path.trim_start_matches("./") {
        "" | "." => dir.to_string(),
        relative => format!("{dir}/{relative}"),
    }
}

/// What a path must be for [`Findings::path`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// A regular file with an execute bit.
    Executable,
    /// A regular file.
    File,
    /// A directory.
    Directory,
}

/// The findings of a pre-flight, in order.
#[derive(Default)]
pub struct Findings(pub Vec<Finding>);

impl Findings {
    pub fn new() -> Self {
        Self::default()
    }

    /// A prerequisite that holds.
    pub fn ok(&mut self, message: impl Into<String>) {
        self.0.push(Finding {
            ok: true,
            message: message.into(),
        });
    }

    /// A prerequisite that does not: the start is refused.
    pub fn fail(&mut self, message: impl Into<String>) {
        self.0.push(Finding {
            ok: false,
            message: message.into(),
        });
    }

    /// Looks at a (granted) path through `stat-path` and records whether it is what `want`
    /// says, naming it `what` ("Binary", "Working directory", "Compose file"): `Binary found:
    /// /usr/bin/x`, `Binary not found: ...`, `Not executable: ...`. True when it holds.
    pub fn path(&mut self, path: &str, want: Want, what: &str) -> bool {
        let found = match host::stat_path(path) {
            Ok(Some(PathInfo { is_dir: true, .. })) if want == Want::Directory => Ok(()),
            Ok(Some(PathInfo {
                is_file: true,
                executable,
                ..
            })) if want != Want::Directory => {
                if want == Want::Executable && !executable {
                    Err(format!("Not executable: {path}"))
                } else {
                    Ok(())
                }
            }
            Ok(Some(PathInfo { is_dir: true, .. })) => {
                Err(format!("Not a file: {path} is a directory"))
            }
            Ok(Some(_)) if want == Want::Directory => Err(format!("Not a directory: {path}")),
            Ok(Some(_)) => Err(format!("Not a regular file: {path}")),
            Ok(None) => Err(format!("{what} not found: {path}")),
            Err(e) => Err(format!("Cannot check {path}: {}", host_error_text(&e))),
        };
        match found {
            Ok(()) => {
                self.ok(format!("{what} found: {path}"));
                true
            }
            Err(message) => {
                self.fail(message);
                false
            }
        }
    }

    pub fn into_vec(self) -> Vec<Finding> {
        self.0
    }
}
