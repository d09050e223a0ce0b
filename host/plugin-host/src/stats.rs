//! What a plugin's calls came to, counted where every call passes (the generic call path and
//! the authorization before it), for an embedder's metrics: calls by function and outcome with
//! their durations, capabilities refused by kind, warm-instance misses, and how the plugin's
//! code was loaded. Counting is a few atomic adds and one short lock per call; reading makes
//! a [`PluginStats`] copy, so a scrape never holds up a call.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::cache::CacheStatus;
use crate::error::PluginError;

/// How a call ended, as metrics count it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CallOutcome {
    /// It returned an answer (a health check that says "unhealthy" included).
    Ok,
    /// The plugin reported an error, answered something malformed, or the host failed it.
    Error,
    /// The guest trapped.
    Trap,
    /// It ran out of time.
    Timeout,
    /// It hit its memory limit.
    Memory,
    /// It asked for a capability its grant does not allow; nothing ran.
    Denied,
}

impl CallOutcome {
    pub const ALL: [CallOutcome; 6] = [
        CallOutcome::Ok,
        CallOutcome::Error,
        CallOutcome::Trap,
        CallOutcome::Timeout,
        CallOutcome::Memory,
        CallOutcome::Denied,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Ok => "ok",
            CallOutcome::Error => "error",
            CallOutcome::Trap => "trap",
            CallOutcome::Timeout => "timeout",
            CallOutcome::Memory => "memory",
            CallOutcome::Denied => "denied",
        }
    }

    /// The outcome of a call that failed with `error`.
    pub fn of_error(error: &PluginError) -> Self {
        match error {
            PluginError::Timeout { .. } => CallOutcome::Timeout,
            PluginError::MemoryLimit { .. } => CallOutcome::Memory,
            PluginError::Trap { .. } => CallOutcome::Trap,
            PluginError::Denied { .. } => CallOutcome::Denied,
            _ => CallOutcome::Error,
        }
    }
}

/// Upper bounds (seconds) of the call-duration histogram's buckets: a warm local check takes
/// tens of microseconds, an instantiation milliseconds, a deployment call up to its timeout.
pub const CALL_DURATION_BUCKETS: [f64; 8] = [0.0001, 0.0005, 0.001, 0.005, 0.025, 0.1, 1.0, 10.0];

/// One function's calls.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FunctionStats {
    /// Calls by outcome, in the order of [`CallOutcome::ALL`].
    pub outcomes: [u64; 6],
    /// Calls that ran (not denied) by duration: how many took at most each bound of
    /// [`CALL_DURATION_BUCKETS`] (not cumulative: each call is in its first bucket that fits;
    /// calls longer than the last bound are in none).
    pub buckets: [u64; 8],
    /// Calls that ran.
    pub timed: u64,
    /// Their total duration, in seconds.
    pub seconds: f64,
}

/// A copy of one plugin's counts.
#[derive(Clone, Debug, PartialEq)]
pub struct PluginStats {
    pub plugin: String,
    /// Calls by exported function name (`check`, `needs`, `validate`, ...).
    pub functions: BTreeMap<&'static str, FunctionStats>,
    /// Capabilities refused, by kind (`network`, `command`, ... as the grant names them).
    pub denied: BTreeMap<String, u64>,
    /// Calls that found no warm instance and instantiated a new one.
    pub warm_misses: u64,
    /// How long loading its code took at this start (compiling it, or reading the cache).
    pub compile: Duration,
    /// Whether that code came from the cache.
    pub cache: CacheStatus,
}

/// The live counters of one plugin.
#[derive(Debug)]
pub(crate) struct Stats {
    functions: Mutex<BTreeMap<&'static str, FunctionStats>>,
    denied: Mutex<BTreeMap<String, u64>>,
    warm_misses: AtomicU64,
    compile: Duration,
    cache: CacheStatus,
}

impl Stats {
    pub fn new(compile: Duration, cache: CacheStatus) -> Self {
        Self {
            functions: Mutex::new(BTreeMap::new()),
            denied: Mutex::new(BTreeMap::new()),
            warm_misses: AtomicU64::new(0),
            compile,
            cache,
        }
    }

    /// Counts one call of `function`; `took` is `None` for a call that did not run.
    pub fn call(&self, function: &'static str, outcome: CallOutcome, took: Option<Duration>) {
        let mut functions = self.functions.lock().unwrap_or_else(|e| e.into_inner());
        let f = functions.entry(function).or_default();
        f.outcomes[outcome as usize] += 1;
        if let Some(took) = took {
            let secs = took.as_secs_f64();
            f.timed += 1;
            f.seconds += secs;
            if let Some(i) = CALL_DURATION_BUCKETS.iter().position(|b| secs <= *b) {
                f.buckets[i] += 1;
            }
        }
    }

    /// Counts a capability of `kind` refused, before a call or inside one.
    pub fn denied(&self, kind: &str) {
        let mut denied = self.denied.lock().unwrap_or_else(|e| e.into_inner());
        match denied.get_mut(kind) {
            Some(n) => *n += 1,
            None => {
                denied.insert(kind.to_string(), 1);
            }
        }
    }

    /// Counts a call that found no warm instance.
    pub fn warm_miss(&self) {
        self.warm_misses.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self, plugin: &str) -> PluginStats {
        PluginStats {
            plugin: plugin.to_string(),
            functions: self
                .functions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            denied: self
                .denied
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            warm_misses: self.warm_misses.load(Ordering::Relaxed),
            compile: self.compile,
            cache: self.cache,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_counted_by_function_outcome_and_duration() {
        let stats = Stats::new(Duration::from_millis(5), CacheStatus::Hit);
        stats.call("check", CallOutcome::Ok, Some(Duration::from_micros(50)));
        stats.call("check", CallOutcome::Ok, Some(Duration::from_millis(3)));
        stats.call("check", CallOutcome::Timeout, Some(Duration::from_secs(20)));
        stats.call("check", CallOutcome::Denied, None);
        stats.denied("network");
        stats.warm_miss();
        let s = stats.snapshot("tcp");
        let check = &s.functions["check"];
        assert_eq!(check.outcomes, [2, 0, 0, 1, 0, 1]);
        assert_eq!(check.timed, 3);
        // 50 µs in the first bucket, 3 ms in the 5 ms one, 20 s beyond the last.
        assert_eq!(check.buckets, [1, 0, 0, 1, 0, 0, 0, 0]);
        assert!((check.seconds - 20.00305).abs() < 1e-9);
        assert_eq!(s.denied["network"], 1);
        assert_eq!(s.warm_misses, 1);
        assert_eq!(s.cache, CacheStatus::Hit);
    }
}
