//! What both forms of a service share: the one place a [`Service`] is assembled, the fields
//! both read the same way, and the checks of a service's name, type and restart settings.

use std::ops::Range;
use std::time::Duration;

use super::diag::suggestion;
use super::env_file::env_from_files;
use super::model::{Deployment, HealthCheck, RestartPolicy, Service, ServiceType, Startup};
use super::node::Table;
use super::reader::{Cx, join};

/// A service as one form has read it, before the fields both forms share. Each form reads its
/// own keys into this; [`ServiceParts::finish`] reads the rest and builds the [`Service`].
pub(super) struct ServiceParts {
    pub name: String,
    /// The table header (full form) or the `name` value (short form).
    pub span: Range<usize>,
    /// Whether the name passed [`check_name`]; a service with an invalid one is not built.
    pub name_ok: bool,
    /// `None` when `type` was given but unusable (already reported).
    pub service_type: Option<ServiceType>,
    /// `None` when the deployment is missing or unusable (already reported).
    pub deployment: Option<Deployment>,
    pub health_check: Option<HealthCheck>,
    pub startup: Startup,
}

impl ServiceParts {
    /// Reads the fields both forms share from `t` (at `path`) and builds the service. These
    /// are read even when the service cannot be built, so that every problem in them is
    /// reported; the service is built only when its name, type and deployment are usable.
    pub(super) fn finish(self, cx: &mut Cx, t: &Table, path: &str) -> Option<Service> {
        let category = cx
            .string(t, path, "category")
            .unwrap_or_else(|| "general".into());
        let description = cx.string(t, path, "description").unwrap_or_default();
        let required_for = cx.strings(t, path, "required_for");
        let dependencies = cx.names(t, path, "dependencies");
        let conflicts = cx.names(t, path, "conflicts");
        let env_from_files = env_from_files(cx, t, path);
        if !self.name_ok {
            return None;
        }
        Some(Service {
            name: self.name,
            service_type: self.service_type?,
            category,
            description,
            required_for,
            dependencies,
            conflicts,
            deployment: self.deployment?,
            health_check: self.health_check,
            startup: self.startup,
            env_from_files,
            span: self.span,
        })
    }
}

/// Service names become file names (PID file, log, FIFOs), hence the narrow alphabet.
pub(super) fn check_name(cx: &mut Cx, name: &str, span: &Range<usize>, key: &str) -> bool {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['.', '-'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        cx.error(
            span,
            key,
            format!(
                "invalid service name {name:?}: use 1 to 64 letters, digits, `-`, `_` or `.`, not starting with `.` or `-`"
            ),
        );
    }
    ok
}

/// `type`: `utility` when absent, `None` when given but unusable (reported).
pub(super) fn service_type(cx: &mut Cx, t: &Table, path: &str) -> Option<ServiceType> {
    let Some(s) = cx.string(t, path, "type") else {
        return t.get("type").is_none().then_some(ServiceType::Utility);
    };
    ServiceType::parse(&s).or_else(|| {
        let span = t.get("type").map(|e| e.node.span.clone()).unwrap_or_default();
        let hint = suggestion(&s, ServiceType::NAMES);
        cx.error(
            &span,
            &join(path, "type"),
            format!("unknown service type {s:?}: expected one of platform, infrastructure, utility{hint}"),
        );
        None
    })
}

/// The restart timing keys, which both forms accept: `restart_delay`, `max_restart_delay` and
/// `stable_run`, read into `startup`, which keeps its defaults for those not given. The
/// backoff starts at `restart_delay` and doubles up to `max_restart_delay`, so a maximum below
/// the start is refused (at the key that was written, when only one was).
pub(super) fn restart_timing(cx: &mut Cx, t: &Table, path: &str, startup: &mut Startup) {
    let delay = cx.seconds_or_zero(t, path, "restart_delay");
    let max = cx.seconds_or_zero(t, path, "max_restart_delay");
    if let Some(s) = cx.seconds_or_zero(t, path, "stable_run") {
        startup.stable_run = s;
    }
    startup.restart_delay = delay.unwrap_or(startup.restart_delay);
    startup.max_restart_delay = max.unwrap_or(startup.max_restart_delay);
    // A key written with a bad value is reported already; comparing its default would add a
    // second complaint about something the user did not write.
    let usable = |key: &str, value: Option<Duration>| value.is_some() || t.get(key).is_none();
    if !usable("restart_delay", delay)
        || !usable("max_restart_delay", max)
        || startup.max_restart_delay >= startup.restart_delay
    {
        return;
    }
    let (key, message) = if max.is_some() {
        (
            "max_restart_delay",
            format!(
                "expected at least `restart_delay` ({} seconds), found {}",
                startup.restart_delay.as_secs_f64(),
                startup.max_restart_delay.as_secs_f64()
            ),
        )
    } else {
        (
            "restart_delay",
            format!(
                "expected at most `max_restart_delay` ({} seconds, its default), found {}",
                startup.max_restart_delay.as_secs_f64(),
                startup.restart_delay.as_secs_f64()
            ),
        )
    };
    let span = t.get(key).map(|e| e.node.span.clone()).unwrap_or_default();
    cx.error(&span, &join(path, key), message);
}

/// A restart policy as either document writes it: the guide's lowercase `on-failure` or the
/// registry README's `OnFailure` (any case, `-` or `_` ignored; `no` is `never`).
pub(super) fn restart_policy(
    cx: &mut Cx,
    t: &Table,
    path: &str,
    key: &str,
) -> Option<RestartPolicy> {
    let s = cx.string(t, path, key)?;
    let normalized = s.to_ascii_lowercase().replace(['-', '_'], "");
    match normalized.as_str() {
        "always" => Some(RestartPolicy::Always),
        "onfailure" => Some(RestartPolicy::OnFailure),
        "never" | "no" => Some(RestartPolicy::Never),
        _ => {
            let span = t.get(key).map(|e| e.node.span.clone()).unwrap_or_default();
            cx.error(
                &span,
                &join(path, key),
                format!(
                    "unknown restart policy {s:?}: expected \"Always\", \"OnFailure\" or \"Never\""
                ),
            );
            None
        }
    }
}
