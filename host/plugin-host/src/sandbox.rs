//! The per-call sandbox: a store whose state is made new for every call, so that its WASI
//! context carries exactly the call's [`Permit`], with a memory limiter, a wall-clock deadline
//! enforced through epochs, and bounded capture of everything the guest writes.
//!
//! A store is either new (and instantiated for the call) or a warm one from the plugin's
//! [`crate::pool`], whose state is replaced wholesale by [`rearm`]: nothing of a previous call's
//! authority, output or deadline survives into the next; only the guest's own memory does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::{Engine, ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::http_gate::HttpGate;
use crate::output::{CapturedOutput, LogBook};
use crate::permit::{AddressBook, Permit};
use crate::stats::Stats;
use crate::types::{Diagnostics, ServiceInfo};

/// The most table elements a plugin may grow a table to.
const MAX_TABLE_ELEMENTS: usize = 100_000;
/// The most host resources (sockets, streams, pollables...) a call may hold at once.
const MAX_RESOURCES: usize = 10_000;

/// Everything one call's store holds.
pub(crate) struct State {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    gate: HttpGate,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) call: CallContext,
}

/// What host functions need to know about the current call.
pub(crate) struct CallContext {
    /// The plugin's name (for messages and tracing).
    pub plugin: Arc<str>,
    /// The effective authority.
    pub permit: Arc<Permit>,
    /// The service the call is for, if any.
    pub service: Option<ServiceInfo>,
    /// When the call must be over.
    pub deadline: Instant,
    /// The plugin's `log` lines.
    pub logs: LogBook,
    /// The guest's stdout and stderr.
    pub output: CapturedOutput,
    /// Where the plugin's refused capabilities are counted.
    pub stats: Option<Arc<Stats>>,
}

impl CallContext {
    /// Counts a capability of `kind` refused during the call.
    pub fn count_denied(&self, kind: &str) {
        if let Some(stats) = &self.stats {
            stats.denied(kind);
        }
    }

    /// Time left until the deadline.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

/// Caps linear memory per store; remembers a refused growth so a following trap can be
/// reported as what it is.
pub(crate) struct MemoryLimiter {
    max_bytes: usize,
    /// The size a refused growth asked for.
    pub exceeded: Option<usize>,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            // Refuse the growth: `memory.grow` returns -1, so a guest that handles allocation
            // failure (`try_reserve`) carries on, and one that does not aborts with a trap that
            // `call::finish` reports as a memory-limit error thanks to this note.
            self.exceeded = Some(desired);
            tracing::debug!(desired, limit = self.max_bytes, "memory growth refused");
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        64
    }

    fn tables(&self) -> usize {
        64
    }

    fn memories(&self) -> usize {
        16
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.gate,
        }
    }
}

impl State {
    /// Whether the store may serve another call: the guest holds no host resource (so nothing
    /// opened under this call's authority can reach the next call) and hit no limit.
    pub fn reusable(&self) -> bool {
        self.table.is_empty() && self.limiter.exceeded.is_none()
    }

    /// The diagnostics collected so far (log lines are moved out).
    pub fn take_diagnostics(&mut self) -> Diagnostics {
        Diagnostics {
            logs: self.call.logs.take(),
            stderr: self.call.output.text(),
        }
    }
}

/// What a new store is for.
pub(crate) struct StoreSpec {
    pub plugin: Arc<str>,
    pub permit: Arc<Permit>,
    /// Resolved addresses of the permit's network targets (`None` when it has none).
    pub addresses: Option<Arc<AddressBook>>,
    pub service: Option<ServiceInfo>,
    pub memory_bytes: usize,
    pub deadline: Instant,
    pub stats: Option<Arc<Stats>>,
}

/// Builds a new store for one call (see [`new_state`]).
pub(crate) fn new_store(engine: &Engine, spec: StoreSpec) -> Result<Store<State>, String> {
    let mut store = Store::new(engine, new_state(spec)?);
    store.limiter(|s| &mut s.limiter);
    // Every epoch tick (10 ms) the guest yields to the executor, so other tasks and the
    // tokio-level timeout keep running even while it spins; past the call's deadline it traps.
    store.epoch_deadline_callback(|cx| {
        if Instant::now() >= cx.data().call.deadline {
            Ok(UpdateDeadline::Interrupt)
        } else {
            Ok(UpdateDeadline::Yield(1))
        }
    });
    store.set_epoch_deadline(1);
    Ok(store)
}

/// Makes a warm store (one that [`State::reusable`] admitted) ready for the next call: its
/// whole state is replaced by the new call's, and its epoch deadline re-armed.
pub(crate) fn rearm(store: &mut Store<State>, spec: StoreSpec) -> Result<(), String> {
    debug_assert!(store.data().reusable());
    *store.data_mut() = new_state(spec)?;
    store.set_epoch_deadline(1);
    Ok(())
}

/// The state of a store for one call. The WASI context has no preopens, no environment and no
/// network unless the permit grants them: TCP to resolved granted addresses only, name lookup
/// only with network, read-only preopens of granted directories, granted variables only.
fn new_state(spec: StoreSpec) -> Result<State, String> {
    let output = CapturedOutput::default();
    let mut wasi = WasiCtxBuilder::new();
    wasi.stdout(output.clone())
        .stderr(output.clone())
        .allow_udp(false)
        .allow_tcp(false)
        .allow_ip_name_lookup(false);
    if let Some(book) = spec.addresses.clone().filter(|_| spec.permit.has_network()) {
        wasi.allow_tcp(true).allow_ip_name_lookup(true);
        let stats = spec.stats.clone();
        wasi.socket_addr_check(move |addr, use_| {
            let ok = book.admits(addr, use_);
            if !ok {
                tracing::debug!(%addr, ?use_, "socket use denied");
                if let Some(stats) = &stats {
                    stats.denied("network");
                }
            }
            Box::pin(async move { ok })
        });
    }
    for name in &spec.permit.env {
        if let Ok(value) = std::env::var(name) {
            wasi.env(name, value);
        }
    }
    for dir in spec.permit.preopen_dirs() {
        let guest = dir.to_string_lossy();
        wasi.preopened_dir(dir, guest.as_ref(), FsPerms::ReadOnly)
            .map_err(|e| format!("cannot open granted directory {}: {e}", dir.display()))?;
    }
    let mut table = ResourceTable::new();
    table.set_max_capacity(MAX_RESOURCES);
    Ok(State {
        table,
        wasi: wasi.build(),
        http: WasiHttpCtx::new(),
        gate: HttpGate::new(spec.plugin.clone(), spec.permit.clone(), spec.stats.clone()),
        limiter: MemoryLimiter {
            max_bytes: spec.memory_bytes,
            exceeded: None,
        },
        call: CallContext {
            plugin: spec.plugin,
            permit: spec.permit,
            service: spec.service,
            deadline: spec.deadline,
            logs: LogBook::default(),
            output,
            stats: spec.stats,
        },
    })
}
