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

use exports::keel::plugin::health_check::{CheckResult, Guest as HealthCheck};
use exports::keel::plugin::plugin::{Guest as Plugin, PluginInfo};
use keel_plugin_sdk::host::{self, PathInfo};
use keel_plugin_sdk::types::{Capability, Problem, ServiceInfo, Settings};
use keel_plugin_sdk::{Reader, host_error_text, problems_text};

keel_plugin_sdk::world!("health-check-plugin");

struct File;
export!(File);

struct Config {
    path: String,
    must_exist: bool,
    max_age_ms: Option<u64>,
}

impl Config {
    fn read(settings: &Settings) -> Result<Config, Vec<Problem>> {
        let mut r = Reader::new(settings);
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
        r.finish(Config {
            path,
            must_exist,
            max_age_ms: max_age.map(|s| (s * 1000.0).round() as u64),
        })
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

impl Plugin for File {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "file".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Healthy when a file exists (or must not), optionally modified recently"
                .into(),
        }
    }
}

impl HealthCheck for File {
    fn validate(settings: Settings) -> Vec<Problem> {
        Config::read(&settings).err().unwrap_or_default()
    }

    fn needs(settings: Settings) -> Vec<Capability> {
        match Config::read(&settings) {
            Ok(config) => vec![Capability::Path(config.path)],
            Err(_) => Vec::new(),
        }
    }

    fn check(_service: ServiceInfo, settings: Settings, _timeout_ms: u32) -> CheckResult {
        let config = match Config::read(&settings) {
            Ok(config) => config,
            Err(problems) => {
                return CheckResult {
                    healthy: false,
                    message: problems_text(&problems),
                };
            }
        };
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
        CheckResult { healthy, message }
    }
}
