//! Running one export call under its limits, and turning how it ended into a typed result.
//!
//! [`run`] is the one path every call into a loaded plugin takes, whatever its world: a turn,
//! a store (a warm one re-armed, or a new one), the call under its deadline, the verdict, and
//! the instance given back for the next call when it ended cleanly.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::{Engine, Store, Trap};

use crate::answer::Bounded;
use crate::engine::{NoTurn, Turns};
use crate::error::PluginError;
use crate::permit::Permit;
use crate::pool::{Linked, Warm};
use crate::sandbox::{self, State, StoreSpec};
use crate::stats::Stats;
use crate::types::{Diagnostics, ServiceInfo};
use crate::world::World;

/// Time limit for calls that carry none of their own, unless the grant sets one.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything about a call except the plugin's code.
pub(crate) struct CallSetup {
    /// The exported function, for messages.
    pub function: &'static str,
    /// The effective authority.
    pub permit: Arc<Permit>,
    /// The service the call is for.
    pub service: Option<ServiceInfo>,
    /// When the operation must be over (instantiation, and a preceding `needs`, included).
    pub deadline: Instant,
    /// The operation's whole time limit, for messages.
    pub limit: Duration,
}

impl CallSetup {
    /// A setup whose deadline is `limit` from now.
    pub fn new(
        function: &'static str,
        permit: Arc<Permit>,
        service: Option<ServiceInfo>,
        limit: Duration,
    ) -> Self {
        Self {
            function,
            permit,
            service,
            deadline: Instant::now() + limit,
            limit,
        }
    }
}

/// Who is being called, as far as the sandbox is concerned.
pub(crate) struct Callee {
    pub name: Arc<str>,
    pub memory_bytes: usize,
    /// Where its calls are counted (`None`: a call made while loading it).
    pub stats: Option<Arc<Stats>>,
}

/// A successful call.
pub(crate) struct Done<T> {
    pub value: T,
    pub duration: Duration,
    pub diagnostics: Diagnostics,
}

/// How a guarded call ended.
pub(crate) enum Ended<T> {
    Returned(wasmtime::Result<T>),
    TimedOut,
}

/// Runs one export call: waits for a turn, takes a warm instance of the plugin (its store
/// re-armed with this call's state) or instantiates a new one from `linked`'s pre-instance,
/// runs `body` under the call's deadline, and gives the instance back when the call ended
/// cleanly (see `pool` for when it is kept).
pub(crate) async fn run<W: World, T: Bounded>(
    engine: &Engine,
    turns: &Turns,
    callee: &Callee,
    linked: &Linked<W, W::Instance>,
    setup: CallSetup,
    body: impl AsyncFnOnce(&mut Store<State>, &W::Instance) -> wasmtime::Result<T>,
) -> Result<Done<T>, PluginError> {
    let _turn = turns.take(setup.deadline).await.map_err(|why| match why {
        NoTurn::Closed => host_error(callee, "the plugin host is closed".into()),
        NoTurn::TimedOut => PluginError::Timeout {
            plugin: callee.name.to_string(),
            function: setup.function,
            after: setup.limit,
            diagnostics: Default::default(),
        },
    })?;
    let spec = spec(callee, &setup).await?;
    let (mut store, warm) = match linked.take() {
        Some(w) => {
            let mut store = w.store;
            sandbox::rearm(&mut store, spec).map_err(|m| host_error(callee, m))?;
            (store, Some((w.instance, w.uses)))
        }
        None => {
            if let Some(stats) = &callee.stats {
                stats.warm_miss();
            }
            let store = sandbox::new_store(engine, spec).map_err(|m| host_error(callee, m))?;
            (store, None)
        }
    };
    let started = Instant::now();
    let ended = guard(setup.deadline, async {
        let (instance, uses) = match warm {
            Some(w) => w,
            None => (linked.pre.instantiate(&mut store).await?, 0),
        };
        let value = body(&mut store, &instance).await?;
        Ok((value, instance, uses))
    })
    .await;
    let (ended, instance) = match ended {
        Ended::Returned(Ok((value, instance, uses))) => {
            (Ended::Returned(Ok(value)), Some((instance, uses)))
        }
        Ended::Returned(Err(e)) => (Ended::Returned(Err(e)), None),
        Ended::TimedOut => (Ended::TimedOut, None),
    };
    let done = finish(callee, &setup, started, &mut store, ended);
    if let (Ok(_), Some((instance, uses))) = (&done, instance) {
        linked.give_back(Warm {
            store,
            instance,
            uses: uses + 1,
        });
    }
    done
}

/// What the store of a call must hold: resolves the permit's network targets, then describes
/// the sandbox (which [`sandbox::new_store`] builds or [`sandbox::rearm`] installs).
pub(crate) async fn spec(callee: &Callee, setup: &CallSetup) -> Result<StoreSpec, PluginError> {
    let addresses = if setup.permit.has_network() {
        let resolved = tokio::time::timeout_at(setup.deadline.into(), setup.permit.resolve())
            .await
            .map_err(|_| PluginError::Timeout {
                plugin: callee.name.to_string(),
                function: setup.function,
                after: setup.limit,
                diagnostics: Diagnostics::default(),
            })?;
        Some(resolved.map_err(|message| host_error(callee, message))?)
    } else {
        None
    };
    Ok(StoreSpec {
        plugin: callee.name.clone(),
        permit: setup.permit.clone(),
        addresses,
        service: setup.service.clone(),
        memory_bytes: callee.memory_bytes,
        deadline: setup.deadline,
        stats: callee.stats.clone(),
    })
}

/// A new store for a call.
pub(crate) async fn store(
    engine: &Engine,
    callee: &Callee,
    setup: &CallSetup,
) -> Result<Store<State>, PluginError> {
    let spec = spec(callee, setup).await?;
    sandbox::new_store(engine, spec).map_err(|message| host_error(callee, message))
}

/// A failure of the host's own (not the plugin's) making.
pub(crate) fn host_error(callee: &Callee, message: String) -> PluginError {
    PluginError::Host {
        plugin: callee.name.to_string(),
        message,
    }
}

/// Runs `fut` (instantiation and the export call) until `deadline`. The epoch deadline set by
/// the sandbox stops a guest that computes; this timeout also stops one that waits in a host
/// call. A call stopped midway leaves its store unusable: it is dropped, never reused.
pub(crate) async fn guard<T>(
    deadline: Instant,
    fut: impl Future<Output = wasmtime::Result<T>>,
) -> Ended<T> {
    let _in_flight = crate::engine::InFlight::enter();
    match tokio::time::timeout_at(deadline.into(), fut).await {
        Ok(result) => Ended::Returned(result),
        Err(_) => Ended::TimedOut,
    }
}

/// Turns how a call ended into its value or a typed error, with the call's diagnostics.
pub(crate) fn finish<T: Bounded>(
    callee: &Callee,
    setup: &CallSetup,
    started: Instant,
    store: &mut Store<State>,
    ended: Ended<T>,
) -> Result<Done<T>, PluginError> {
    let duration = started.elapsed();
    let diagnostics = store.data_mut().take_diagnostics();
    let plugin = callee.name.to_string();
    let function = setup.function;
    let error = match ended {
        Ended::Returned(Ok(value)) => {
            return match value.bounded() {
                Ok(()) => Ok(Done {
                    value,
                    duration,
                    diagnostics,
                }),
                Err(reason) => Err(PluginError::Malformed {
                    plugin,
                    function,
                    reason,
                    diagnostics,
                }),
            };
        }
        Ended::TimedOut => {
            return Err(PluginError::Timeout {
                plugin,
                function,
                after: setup.limit,
                diagnostics,
            });
        }
        Ended::Returned(Err(error)) => error,
    };
    if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        return Err(PluginError::Timeout {
            plugin,
            function,
            after: setup.limit,
            diagnostics,
        });
    }
    if store.data().limiter.exceeded.is_some() {
        return Err(PluginError::MemoryLimit {
            plugin,
            function,
            limit_mb: (callee.memory_bytes >> 20) as u64,
            diagnostics,
        });
    }
    tracing::debug!(plugin, function, "plugin call failed: {error:?}");
    Err(PluginError::Trap {
        plugin,
        function,
        message: render(&error),
        diagnostics,
    })
}

/// The trap (root cause) first, then the wasm backtrace and any other context.
fn render(error: &wasmtime::Error) -> String {
    let mut parts: Vec<String> = error.chain().map(|e| e.to_string()).collect();
    parts.reverse();
    parts.dedup();
    parts.join("\n")
}
