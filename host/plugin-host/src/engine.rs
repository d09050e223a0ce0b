//! The process-wide WebAssembly engine: Cranelift, epoch interruption driven by one background
//! ticker, and the pooling instance allocator (on-demand allocation if the pool cannot be
//! reserved, e.g. under a tight address-space limit); and the limit on calls in flight
//! ([`Turns`]), which the engine's pool of stacks is sized for.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit};

use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig,
    Strategy,
};

use crate::grant::MAX_MEMORY_MB;

/// How often the epoch advances: the granularity of deadlines and of cooperative yields.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The most plugin calls that run at once; more wait for a turn (within their deadline).
/// Every call in flight holds an instance: a thousand calls at once must not exhaust the
/// engine's instance pool.
pub const MAX_CONCURRENT_CALLS: usize = 256;

/// Calls that run at once before further calls wait a little for a turn ([`LANE_WAIT`]).
///
/// When many calls fall due together (the health checks of every service with the same
/// interval, see the supervisor's check grid), running them a few at a time is cheaper than
/// all at once: each finds a warm instance (the pool keeps as many) and a warm cache, instead
/// of a hundred fresh instances. A call that waits longer than [`LANE_WAIT`] goes ahead
/// anyway, so slow calls (a check waiting on an unreachable host) never hold the others up.
pub const LANES: usize = crate::pool::MAX_IDLE;

/// How long a call waits for one of the [`LANES`] before it runs beside them.
pub const LANE_WAIT: Duration = Duration::from_millis(250);

/// How many plugin instances may exist at once with the pooling allocator (each call has one).
const POOL_INSTANCES: u32 = 512;

/// Bytes of a freed instance's linear memory kept resident (reset in place) for the next one.
const KEEP_RESIDENT: usize = 1 << 20;
/// Freed slots kept warm.
const WARM_SLOTS: u32 = 8;

/// The shared engine, created (and its ticker started) on first use.
pub(crate) fn shared() -> Result<Engine, String> {
    static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let engine = create()?;
            start_ticker(&engine);
            Ok(engine)
        })
        .clone()
}

fn config() -> Config {
    let mut config = Config::new();
    config
        .strategy(Strategy::Cranelift)
        .cranelift_opt_level(OptLevel::Speed)
        .wasm_component_model(true)
        .epoch_interruption(true)
        .parallel_compilation(true);
    config
}

fn create() -> Result<Engine, String> {
    let mut pooled = config();
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(POOL_INSTANCES)
        .total_core_instances(POOL_INSTANCES * 4)
        .total_memories(POOL_INSTANCES)
        .total_tables(POOL_INSTANCES * 4)
        // A stack is needed only while a call runs, and at most this many run at once; each
        // one reserved costs a guard-page mprotect when the engine is created.
        .total_stacks(MAX_CONCURRENT_CALLS as u32)
        .max_memory_size((MAX_MEMORY_MB as usize) << 20)
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(64 << 10)
        .pagemap_scan(Enabled::Auto)
        .max_unused_warm_slots(WARM_SLOTS);
    pooled.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    match Engine::new(&pooled) {
        Ok(engine) => {
            tracing::debug!("wasm engine: pooling allocator");
            Ok(engine)
        }
        Err(pool_err) => {
            tracing::warn!(
                "pooling allocator unavailable ({pool_err}); using on-demand allocation"
            );
            Engine::new(&config()).map_err(|e| format!("{e:#}"))
        }
    }
}

/// The turns of one plugin host's calls: at most [`MAX_CONCURRENT_CALLS`] at once, and the
/// first [`LANES`] of them without waiting. Each host has its own.
pub(crate) struct Turns {
    /// Admits at most [`MAX_CONCURRENT_CALLS`] calls at once.
    slots: Semaphore,
    /// The [`LANES`].
    lanes: Semaphore,
}

/// A call's turn to run (see [`Turns::take`]); released when dropped.
pub(crate) struct Turn<'a> {
    _lane: Option<SemaphorePermit<'a>>,
    _slot: SemaphorePermit<'a>,
}

/// Why a call got no turn.
pub(crate) enum NoTurn {
    /// The turns were closed (the host is going away).
    Closed,
    /// The call's deadline passed while it waited.
    TimedOut,
}

impl Turns {
    pub(crate) fn new() -> Self {
        Self {
            slots: Semaphore::new(MAX_CONCURRENT_CALLS),
            lanes: Semaphore::new(LANES),
        }
    }

    /// Waits for a turn: one of the [`LANES`] (at most [`LANE_WAIT`]), and below
    /// [`MAX_CONCURRENT_CALLS`] (until `deadline`).
    pub(crate) async fn take(&self, deadline: Instant) -> Result<Turn<'_>, NoTurn> {
        let lane_until = (Instant::now() + LANE_WAIT).min(deadline);
        let lane = tokio::time::timeout_at(lane_until.into(), self.lanes.acquire())
            .await
            .ok()
            .and_then(Result::ok);
        let waited = tokio::time::timeout_at(deadline.into(), self.slots.acquire());
        match waited.await {
            Ok(Ok(slot)) => Ok(Turn {
                _lane: lane,
                _slot: slot,
            }),
            Ok(Err(_closed)) => Err(NoTurn::Closed),
            Err(_) => Err(NoTurn::TimedOut),
        }
    }
}

/// Plugin calls in flight. The ticker only runs while there is one: an idle host has no thread
/// waking a hundred times a second.
static ACTIVE_CALLS: AtomicUsize = AtomicUsize::new(0);
/// The ticker threads, to wake when a call begins.
static TICKERS: Mutex<Vec<std::thread::Thread>> = Mutex::new(Vec::new());

/// Marks a plugin call in flight for as long as it lives.
pub(crate) struct InFlight;

impl InFlight {
    pub(crate) fn enter() -> Self {
        if ACTIVE_CALLS.fetch_add(1, Ordering::SeqCst) == 0 {
            for t in TICKERS.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                t.unpark();
            }
        }
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        ACTIVE_CALLS.fetch_sub(1, Ordering::SeqCst);
    }
}

fn start_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("keel-wasm-epoch".into())
        .spawn(move || {
            loop {
                if ACTIVE_CALLS.load(Ordering::SeqCst) == 0 {
                    // Woken by the next call; the timeout notices a dropped engine.
                    std::thread::park_timeout(Duration::from_secs(1));
                    if weak.upgrade().is_none() {
                        return;
                    }
                    continue;
                }
                // A tick after the call began, not at once: a call shorter than a tick never
                // has to yield.
                std::thread::sleep(EPOCH_TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => return,
                }
            }
        });
    if let Ok(handle) = &spawned {
        TICKERS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(handle.thread().clone());
    }
    if let Err(e) = spawned {
        // Without the ticker deadlines still hold through the tokio timeout around each call;
        // only a spinning guest would keep its thread busy until then.
        tracing::error!("cannot start the epoch ticker thread: {e}");
    }
}
