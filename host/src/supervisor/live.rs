//! The plugins every service calls, through one indirection, so that a reload replaces them for
//! the next call of every service (those it keeps running included) without touching the
//! services' tasks.

use std::sync::{Arc, RwLock};

use futures_util::future::BoxFuture;

use super::{Deployer, LaunchSpec, PreflightCheck};
use crate::config::Service;
use crate::health::{CheckReport, Checker};

pub(super) struct LivePlugins {
    current: RwLock<(Arc<dyn Deployer>, Arc<dyn Checker>)>,
}

impl LivePlugins {
    pub fn new(deployer: Arc<dyn Deployer>, checker: Arc<dyn Checker>) -> Self {
        Self {
            current: RwLock::new((deployer, checker)),
        }
    }

    /// From now on, calls go to these; calls under way finish with the ones they began with.
    pub fn replace(&self, deployer: Arc<dyn Deployer>, checker: Arc<dyn Checker>) {
        *self.current.write().expect("not poisoned") = (deployer, checker);
    }

    fn deployer(&self) -> Arc<dyn Deployer> {
        self.current.read().expect("not poisoned").0.clone()
    }

    fn checker(&self) -> Arc<dyn Checker> {
        self.current.read().expect("not poisoned").1.clone()
    }
}

impl Deployer for LivePlugins {
    fn launch<'a>(&'a self, service: &'a Service) -> BoxFuture<'a, Result<LaunchSpec, String>> {
        let deployer = self.deployer();
        Box::pin(async move { deployer.launch(service).await })
    }

    fn prerequisites<'a>(&'a self, service: &'a Service) -> BoxFuture<'a, Vec<PreflightCheck>> {
        let deployer = self.deployer();
        Box::pin(async move { deployer.prerequisites(service).await })
    }
}

impl Checker for LivePlugins {
    fn check<'a>(&'a self, service: &'a Service) -> BoxFuture<'a, Option<CheckReport>> {
        let checker = self.checker();
        Box::pin(async move { checker.check(service).await })
    }
}
