//! The API's views of a configured service, built from the config in one place for the daemon
//! (which answers with them) and the CLI (which lists services without a daemon).

use keel_api::{ServiceSummary, ServiceView, Snapshot};

use crate::config::Service;

/// A service object: the config's fields and the live snapshot.
pub fn service_view(s: &Service, live: Snapshot) -> ServiceView {
    ServiceView {
        service_type: s.service_type.as_str().to_string(),
        category: s.category.clone(),
        description: s.description.clone(),
        deployment_mode: s.deployment.mode.clone(),
        auto_start: s.startup.auto_start,
        dependencies: dependencies(s),
        health_check: s.health_check.as_ref().map(|h| h.check_type.clone()),
        live,
    }
}

/// What a listing shows of a service, with `status`.
pub fn summary<S>(s: &Service, status: S) -> ServiceSummary<S> {
    ServiceSummary {
        name: s.name.clone(),
        service_type: s.service_type.as_str().to_string(),
        category: s.category.clone(),
        status,
        deployment_mode: s.deployment.mode.clone(),
        auto_start: s.startup.auto_start,
        description: s.description.clone(),
        dependencies: dependencies(s),
    }
}

fn dependencies(s: &Service) -> Vec<String> {
    s.dependencies.iter().map(|d| d.name.clone()).collect()
}
