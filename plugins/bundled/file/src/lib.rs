//! The bundled `file` health check:
//!
//! ```toml
//! [services.custom.health_check.file]
//! path = "/var/run/myservice.pid"
//! must_exist = true     # optional, the default; false: healthy while the path does NOT exist
//! max_age = 30          # optional, seconds (fractions allowed): a heartbeat file must have been
//!                       # modified within this time
//! ```
//!
//! `path` may be absolute or relative to the config file's directory. The plugin looks at the
//! path's metadata only, through the host's `stat-path`, and `needs` asks for exactly that path.

use keel_plugin_sdk::host::{self, PathInfo};
use keel_plugin_sdk::types::{Capability, ServiceInfo};
use keel_plugin_sdk::{HealthCheck, Reader, Settings, host_error_text};

struct File {
    path: String,
    must_exist: bool,
    max_age_ms: Option<u64>,
}

impl Settings for File {
    fn read(r: &mut Reader) -> File {
        let path = r.required_string("path").unwrap_or_default();
        let must_exist = r.bool("must_exist").unwrap_or(true);
        let max_age = r.seconds("max_age", 0.0, 366.0 * 86400.0);
        if max_age.is_some() && !must_exist {
            r.problem(
                "max_age",
                "max_age applies to a file that must exist; it makes no sense with \
                 must_exist = false",
            );
        }
        File {
            path,
            must_exist,
            max_age_ms: max_age.map(|s| (s * 1000.0).round() as u64),
        }
    }

    fn needs(&self) -> Vec<Capability> {
        vec![Capability::Path(self.path.clone())]
    }
}

/// `2.5 s` for 2500.
fn secs(ms: u64) -> String {
    let s = ms as f64 / 1000.0;
    if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{s:.1} s")
    }
}

impl HealthCheck for File {
    const NAME: &'static str = "file";
    const DESCRIPTION: &'static str =
        "Healthy when a file exists (or must not), optionally modified recently";

    fn check(&self, _service: &ServiceInfo, _timeout_ms: u32) -> Result<String, String> {
        let config = self;
        let path = &config.path;
        let (healthy, message) = match host::stat_path(path) {
            Err(e) => (
                false,
                format!("cannot check {path}: {}", host_error_text(&e)),
            ),
            Ok(None) if config.must_exist => (false, format!("{path} does not exist")),
            Ok(None) => (true, format!("{path} does not exist, as required")),
            Ok(Some(_)) if !config.must_exist => (false, format!("{path} exists but must not")),
            Ok(Some(PathInfo {
                modified_age_ms, ..
            })) => match config.max_age_ms {
                Some(max) if modified_age_ms > max => (
                    false,
                    format!(
                        "{path} is stale: last modified {} ago (max_age {})",
                        secs(modified_age_ms),
                        secs(max)
                    ),
                ),
                Some(max) => (
                    true,
                    format!(
                        "{path} exists, modified {} ago (max_age {})",
                        secs(modified_age_ms),
                        secs(max)
                    ),
                ),
                None => (true, format!("{path} exists")),
            },
        };
        if healthy { Ok(message) } else { Err(message) }
    }
}

keel_plugin_sdk::health_check!(File);
