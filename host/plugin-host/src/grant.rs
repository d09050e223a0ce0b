//! Grants: what the operator allows a plugin, and the intersection with what a call needs.
//!
//! A plugin has no authority by default. Per call the host asks the plugin what it `needs` for
//! the call's settings; every request must be covered by the plugin's [`Grant`], or the call is
//! refused with [`PluginError::Denied`] before the plugin runs. The call then gets exactly the
//! requested (and granted) authority, as a [`Permit`]; never the whole grant.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::PluginError;
use crate::permit::{NetTarget, Permit};
use crate::types::{Capability, CapabilityKind};

/// The largest memory limit a grant may set, in MiB (the size of one pooled memory slot).
pub const MAX_MEMORY_MB: u64 = 1024;
/// The memory limit of a plugin whose grant sets none, in MiB.
pub const DEFAULT_MEMORY_MB: u64 = 64;

/// What the operator allows one plugin (from the host's configuration).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Which capability requests are admitted.
    pub scope: Scope,
    /// Memory limit per call, in MiB (default [`DEFAULT_MEMORY_MB`], at most [`MAX_MEMORY_MB`]).
    pub memory_mb: Option<u64>,
    /// Time limit for calls that carry no timeout of their own (validate, start, hooks, ...),
    /// and an upper bound for health checks' own timeouts.
    pub timeout: Option<Duration>,
    /// What the host offers hooks beyond what `needs` asks for.
    pub facilities: Facilities,
}

/// The host interfaces a plugin may use only when the operator grants them (they are not asked
/// for through `needs`: a plugin's import of the interface is its request). All off by default,
/// for bundled plugins too.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Facilities {
    /// `store`: the plugin's own durable key-value store.
    pub store: bool,
    /// `services`: a read-only view of the supervised services.
    pub services: bool,
    /// `write_paths`: absolute directories under which the plugin may write files.
    pub write_paths: Vec<PathBuf>,
}

/// Which capability requests a grant admits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    /// Admit whatever concrete thing the plugin's `needs()` asks for (no wildcards): a check
    /// may reach only the address in its own settings. The default for bundled plugins, whose
    /// code ships with the host; the requests still go through the same checks at run time.
    AsNeeded,
    /// Admit only requests matching these patterns (an empty list admits nothing). The default
    /// for third-party plugins is `Explicit(Allowlist::default())`: no authority at all.
    Explicit(Allowlist),
}

impl Default for Scope {
    fn default() -> Self {
        Scope::Explicit(Allowlist::default())
    }
}

/// The patterns of an explicit grant.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Allowlist {
    /// `host:port`, `host:*` or `*`.
    pub network: Vec<String>,
    /// Program names or absolute paths, exactly as the plugin asks for them, or `*`.
    pub commands: Vec<String>,
    /// Path prefixes (whole components): `/srv/app` covers `/srv/app/bin/x`.
    pub paths: Vec<String>,
    /// Unix socket paths, or directory prefixes containing them.
    pub unix_sockets: Vec<String>,
    /// Environment variable names, or `*`.
    pub env: Vec<String>,
}

impl Grant {
    /// No authority, default limits (the default for third-party plugins).
    pub fn none() -> Self {
        Self::default()
    }

    /// Whatever the plugin's `needs()` asks for, default limits (the default for bundled plugins).
    pub fn as_needed() -> Self {
        Self {
            scope: Scope::AsNeeded,
            ..Self::default()
        }
    }

    /// Exactly what `allow` covers, default limits.
    pub fn explicit(allow: Allowlist) -> Self {
        Self {
            scope: Scope::Explicit(allow),
            ..Self::default()
        }
    }

    /// The memory limit in bytes.
    pub(crate) fn memory_bytes(&self) -> usize {
        (self.memory_mb.unwrap_or(DEFAULT_MEMORY_MB) as usize) << 20
    }

    /// The memory limit in MiB.
    pub(crate) fn memory_limit_mb(&self) -> u64 {
        self.memory_mb.unwrap_or(DEFAULT_MEMORY_MB)
    }

    /// Checks that the grant's own values are usable.
    pub(crate) fn validate(&self, plugin: &str) -> Result<(), String> {
        if let Some(mb) = self.memory_mb
            && !(1..=MAX_MEMORY_MB).contains(&mb)
        {
            return Err(format!(
                "grant of plugin `{plugin}`: memory_mb = {mb} is outside 1..={MAX_MEMORY_MB}"
            ));
        }
        if let Some(t) = self.timeout
            && t.is_zero()
        {
            return Err(format!(
                "grant of plugin `{plugin}`: timeout must be positive"
            ));
        }
        if let Some(p) = self
            .facilities
            .write_paths
            .iter()
            .find(|p| !p.is_absolute())
        {
            return Err(format!(
                "grant of plugin `{plugin}`: write path {} is not absolute",
                p.display()
            ));
        }
        if let Scope::Explicit(allow) = &self.scope {
            for pattern in &allow.network {
                if pattern != "*" && NetTarget::parse(pattern).is_none() {
                    return Err(format!(
                        "grant of plugin `{plugin}`: network pattern {pattern:?} is not \
                         `host:port`, `host:*` or `*`"
                    ));
                }
            }
        }
        Ok(())
    }

    /// A one-line description for listings, e.g. `as needed` or `network [localhost:*]`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        match &self.scope {
            Scope::AsNeeded => parts.push("as needed by its settings".to_string()),
            Scope::Explicit(allow) => {
                for (name, list) in [
                    ("network", &allow.network),
                    ("commands", &allow.commands),
                    ("paths", &allow.paths),
                    ("unix_sockets", &allow.unix_sockets),
                    ("env", &allow.env),
                ] {
                    if !list.is_empty() {
                        parts.push(format!("{name} [{}]", list.join(", ")));
                    }
                }
                if parts.is_empty() {
                    parts.push("nothing".to_string());
                }
            }
        }
        let f = &self.facilities;
        if f.store {
            parts.push("store".to_string());
        }
        if f.services {
            parts.push("services".to_string());
        }
        if !f.write_paths.is_empty() {
            let paths: Vec<String> = f
                .write_paths
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            parts.push(format!("write_paths [{}]", paths.join(", ")));
        }
        parts.push(format!("memory {} MiB", self.memory_limit_mb()));
        if let Some(t) = self.timeout {
            parts.push(format!("timeout {t:?}"));
        }
        parts.join("; ")
    }

    /// Intersects `needs` with this grant: every request must be admitted, or the call is
    /// denied naming the first request that is not. Relative paths are resolved against
    /// `base` (the service's config directory).
    pub(crate) fn authorize(
        &self,
        plugin: &str,
        needs: &[Capability],
        base: Option<&Path>,
    ) -> Result<Permit, PluginError> {
        let mut permit = Permit::default();
        for need in needs {
            let deny = |reason: String| PluginError::Denied {
                plugin: plugin.to_string(),
                capability: need.clone(),
                reason,
            };
            match need {
                Capability::Network(target) => {
                    let parsed = NetTarget::parse(target)
                        .ok_or_else(|| deny("the request is not `host:port`".into()))?;
                    self.admit(need, |allow| {
                        allow.network.iter().any(|p| network_matches(p, &parsed))
                    })
                    .map_err(deny)?;
                    if parsed.port.is_none() && self.scope == Scope::AsNeeded {
                        return Err(deny(
                            "a grant `as needed` admits concrete ports only; grant `host:*` \
                             explicitly in `network`"
                                .into(),
                        ));
                    }
                    permit.network.push(parsed);
                }
                Capability::Command(program) => {
                    if program.is_empty() || program == "*" {
                        return Err(deny("the request names no program".into()));
                    }
                    self.admit(need, |allow| {
                        allow.commands.iter().any(|p| p == "*" || p == program)
                    })
                    .map_err(deny)?;
                    permit.commands.push(program.clone());
                }
                Capability::Path(path) | Capability::UnixSocket(path) => {
                    let resolved = resolve_path(path, base).map_err(deny)?;
                    let is_socket = matches!(need, Capability::UnixSocket(_));
                    self.admit(need, |allow| {
                        let patterns = if is_socket {
                            &allow.unix_sockets
                        } else {
                            &allow.paths
                        };
                        patterns.iter().any(|p| {
                            resolve_path(p, None).is_ok_and(|prefix| resolved.starts_with(prefix))
                        })
                    })
                    .map_err(deny)?;
                    if is_socket {
                        permit.unix_sockets.push(resolved);
                    } else {
                        permit.paths.push(resolved);
                    }
                }
                Capability::Env(name) => {
                    if name.is_empty() || name == "*" || name.contains('=') {
                        return Err(deny("the request names no single variable".into()));
                    }
                    self.admit(need, |allow| {
                        allow.env.iter().any(|p| p == "*" || p == name)
                    })
                    .map_err(deny)?;
                    permit.env.push(name.clone());
                }
            }
        }
        Ok(permit)
    }

    fn admit(
        &self,
        need: &Capability,
        explicit: impl FnOnce(&Allowlist) -> bool,
    ) -> Result<(), String> {
        match &self.scope {
            Scope::AsNeeded => Ok(()),
            Scope::Explicit(allow) if explicit(allow) => Ok(()),
            Scope::Explicit(_) => Err(format!(
                "not in its grant; add {:?} to `{}` in the plugin's grant to allow it",
                need.target(),
                grant_key(need.kind())
            )),
        }
    }
}

fn grant_key(kind: CapabilityKind) -> &'static str {
    match kind {
        CapabilityKind::Network => "network",
        CapabilityKind::Command => "commands",
        CapabilityKind::Path => "paths",
        CapabilityKind::UnixSocket => "unix_sockets",
        CapabilityKind::Env => "env",
        CapabilityKind::Store => "store",
        CapabilityKind::Services => "services",
        CapabilityKind::WriteFiles => "write_paths",
    }
}

fn network_matches(pattern: &str, target: &NetTarget) -> bool {
    if pattern == "*" {
        return true;
    }
    let Some(p) = NetTarget::parse(pattern) else {
        return false;
    };
    p.host.eq_ignore_ascii_case(&target.host)
        && match (p.port, target.port) {
            (None, _) => true,
            (Some(a), Some(b)) => a == b,
            (Some(_), None) => false,
        }
}

/// Makes `path` absolute (relative to `base`) and removes `.` and `..` lexically, so that a
/// request cannot climb out of a granted prefix with `..`.
pub(crate) fn resolve_path(path: &str, base: Option<&Path>) -> Result<PathBuf, String> {
    if path.is_empty() || path.contains('\0') {
        return Err("the request names no path".into());
    }
    let raw = Path::new(path);
    let joined = if raw.is_absolute() {
        raw.to_path_buf()
    } else {
        match base {
            Some(base) if base.is_absolute() => base.join(raw),
            _ => {
                return Err(format!(
                    "the relative path {path:?} has no absolute service directory to resolve against"
                ));
            }
        }
    };
    let mut out = PathBuf::from("/");
    for component in joined.components() {
        match component {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(part) => out.push(part),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(network: &[&str]) -> Grant {
        Grant::explicit(Allowlist {
            network: network.iter().map(|s| s.to_string()).collect(),
            ..Allowlist::default()
        })
    }

    #[test]
    fn network_patterns() {
        let need = [Capability::Network("LocalHost:8080".into())];
        assert!(
            allow(&["localhost:8080"])
                .authorize("p", &need, None)
                .is_ok()
        );
        assert!(allow(&["localhost:*"]).authorize("p", &need, None).is_ok());
        assert!(allow(&["*"]).authorize("p", &need, None).is_ok());
        assert!(
            allow(&["localhost:8081"])
                .authorize("p", &need, None)
                .is_err()
        );
        assert!(allow(&[]).authorize("p", &need, None).is_err());
        let err = Grant::none().authorize("p", &need, None).unwrap_err();
        assert!(err.to_string().contains("network"), "{err}");
    }

    #[test]
    fn paths_cannot_climb_out() {
        let g = Grant::explicit(Allowlist {
            paths: vec!["/srv/app".into()],
            ..Allowlist::default()
        });
        assert!(
            g.authorize("p", &[Capability::Path("/srv/app/bin/x".into())], None)
                .is_ok()
        );
        assert!(
            g.authorize(
                "p",
                &[Capability::Path("/srv/app/../../etc/passwd".into())],
                None
            )
            .is_err()
        );
        assert!(
            g.authorize("p", &[Capability::Path("/srv/application".into())], None)
                .is_err()
        );
        assert!(
            g.authorize(
                "p",
                &[Capability::Path("bin/x".into())],
                Some(Path::new("/srv/app"))
            )
            .is_ok()
        );
    }

    #[test]
    fn as_needed_admits_concrete_requests_only() {
        let g = Grant::as_needed();
        assert!(
            g.authorize("p", &[Capability::Network("127.0.0.1:80".into())], None)
                .is_ok()
        );
        assert!(
            g.authorize("p", &[Capability::Network("127.0.0.1:*".into())], None)
                .is_err()
        );
        assert!(
            g.authorize("p", &[Capability::Command("*".into())], None)
                .is_err()
        );
    }
}
