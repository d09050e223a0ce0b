//! Warm instances: a plugin instance whose call ended cleanly is kept, with its store, for the
//! plugin's next call, so that a frequent call (a health check every second) costs a call and
//! not an instantiation: instantiating and tearing down a store is most of what a tcp check
//! costs beyond the connect itself.
//!
//! What a reused instance keeps is only the guest's own memory, as any long-lived component
//! instance does. Everything that carries authority is made new per call (the whole store state,
//! see [`crate::sandbox::rearm`]), and an instance is kept only when:
//!
//! - its call returned a well-formed answer (a trap, a timeout, a cancelled call, a denied
//!   capability or a malformed answer drops it);
//! - the guest holds no host resource: no socket, stream or pollable opened under one call's
//!   permit can be used in another call;
//! - it hit no memory limit, and has served fewer than [`MAX_USES`] calls (a slow leak in a
//!   guest is bounded).
//!
//! At most [`MAX_IDLE`] instances per plugin are kept (as many as the host's lanes, the calls
//! it runs at once in a burst), so idle memory stays bounded whatever the number of services.

use std::sync::Mutex;

use wasmtime::Store;

use crate::sandbox::State;

/// Warm instances kept per plugin.
pub(crate) const MAX_IDLE: usize = 16;
/// Calls one instance serves before it is dropped.
pub(crate) const MAX_USES: u32 = 10_000;

/// An instance with its store, between calls.
pub(crate) struct Warm<I> {
    pub store: Store<State>,
    pub instance: I,
    /// Calls served so far.
    pub uses: u32,
}

/// A plugin's typed entry point together with its warm instances.
pub(crate) struct Linked<P, I> {
    pub pre: P,
    idle: Mutex<Vec<Warm<I>>>,
}

impl<P, I> Linked<P, I> {
    pub fn new(pre: P) -> Self {
        Self {
            pre,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The most recently used warm instance, if any (the one most likely still in cache).
    pub fn take(&self) -> Option<Warm<I>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }

    /// Keeps `warm` for a later call if it may serve one (see the module's rules).
    pub fn give_back(&self, warm: Warm<I>) {
        if warm.uses >= MAX_USES || !warm.store.data().reusable() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(warm);
        }
    }
}
