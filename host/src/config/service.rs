//! What both forms of a service share: the one place a [`Service`] is assembled, the fields
//! both read the same way, and the checks of a service's name, type and restart policy.

use std::ops::Range;

use super::diag::suggestion;
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
