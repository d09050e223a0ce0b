//! A reload's new settings, taken in by a service's task.

use std::sync::Arc;

use super::super::hooks::Hooks;
use super::super::policy::RestartTracker;
use super::{Machine, ServiceHooks};
use crate::config::Service;

impl Machine {
    /// Takes `service` as the service's settings and `hooks` as its hooks. The restart
    /// history stays unless the restart settings changed. A stopped service's launch spec is
    /// asked of the plugin again at its next launch; a running one keeps the spec its process
    /// was started with (its stop signal and command among it).
    pub(super) fn reconfigure(&mut self, service: Arc<Service>, hooks: Hooks) {
        if service.startup != self.t.service.startup {
            self.tracker = RestartTracker::new(&service.startup);
        }
        if self.running.is_none() {
            self.spec = None;
        }
        self.t.hooks = ServiceHooks::new(hooks, &service, &self.t.log, &self.t.events);
        self.t.service = service.clone();
        self.t.settings.send_replace(service);
    }
}
