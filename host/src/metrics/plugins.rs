//! The per-plugin metrics, from the counts the plugin host keeps on its one call path.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use super::services::histogram;
use crate::plugins::{CALL_DURATION_BUCKETS, CacheStatus, CallOutcome, PluginStats};

/// Where the current counts come from (the daemon's plugin host).
pub type StatsSource = Arc<dyn Fn() -> Vec<PluginStats> + Send + Sync>;

/// A one-series-per-plugin metric: name, help, type, and its value for a plugin.
type PerPlugin = (
    &'static str,
    &'static str,
    MetricType,
    fn(&PluginStats) -> f64,
);

pub struct PluginCollector {
    /// The plugin host's counts: a reload's new host starts them at zero again (a counter
    /// reset, which Prometheus's rate functions expect).
    pub source: Arc<std::sync::RwLock<StatsSource>>,
}

impl std::fmt::Debug for PluginCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PluginCollector")
    }
}

impl Collector for PluginCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let source = self
            .source
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let stats = source();
        let counter = |v: u64| {
            move |m: &mut prometheus_client::encoding::MetricEncoder| {
                m.encode_counter::<NoLabelSet, _, u64>(&v, None)
            }
        };
        let mut m = encoder.encode_descriptor(
            "keel_plugin_calls",
            "Calls into a plugin since the daemon started, by exported function and outcome \
             (ok, error, trap, timeout, memory, denied).",
            None,
            MetricType::Counter,
        )?;
        for p in &stats {
            for (function, f) in &p.functions {
                for outcome in CallOutcome::ALL {
                    let labels = [
                        ("plugin", p.plugin.as_str()),
                        ("function", function),
                        ("outcome", outcome.as_str()),
                    ];
                    counter(f.outcomes[outcome as usize])(&mut m.encode_family(&labels)?)?;
                }
            }
        }
        let mut m = encoder.encode_descriptor(
            "keel_plugin_call_duration_seconds",
            "How long calls into a plugin took, by function (calls refused before running \
             are not timed).",
            None,
            MetricType::Histogram,
        )?;
        for p in &stats {
            for (function, f) in &p.functions {
                let labels = [("plugin", p.plugin.as_str()), ("function", function)];
                histogram(
                    &mut m,
                    &labels,
                    &CALL_DURATION_BUCKETS,
                    &f.buckets,
                    f.timed,
                    f.seconds,
                )?;
            }
        }
        let mut m = encoder.encode_descriptor(
            "keel_plugin_denied_capabilities",
            "Capabilities refused to a plugin, before a call or inside one, by kind.",
            None,
            MetricType::Counter,
        )?;
        for p in &stats {
            for (kind, n) in &p.denied {
                let labels = [("plugin", p.plugin.as_str()), ("kind", kind.as_str())];
                counter(*n)(&mut m.encode_family(&labels)?)?;
            }
        }
        let per_plugin: [PerPlugin; 4] = [
            (
                "keel_plugin_warm_misses",
                "Calls that found no warm instance of the plugin and instantiated a new one.",
                MetricType::Counter,
                |p| p.warm_misses as f64,
            ),
            (
                "keel_plugin_compile_seconds",
                "How long loading the plugin's code took at the daemon's start (compiling it, \
                 or reading the compiled-code cache).",
                MetricType::Gauge,
                |p| p.compile.as_secs_f64(),
            ),
            (
                "keel_plugin_code_cache_hits",
                "Loads of the plugin's code from the compiled-code cache.",
                MetricType::Counter,
                |p| f64::from(u8::from(p.cache == CacheStatus::Hit)),
            ),
            (
                "keel_plugin_code_cache_misses",
                "Loads of the plugin's code that compiled it (not in the cache, or no cache).",
                MetricType::Counter,
                |p| f64::from(u8::from(p.cache != CacheStatus::Hit)),
            ),
        ];
        for (name, help, kind, value) in per_plugin {
            let mut m = encoder.encode_descriptor(name, help, None, kind)?;
            for p in &stats {
                let labels = [("plugin", p.plugin.as_str())];
                let mut s = m.encode_family(&labels)?;
                match kind {
                    MetricType::Counter => counter(value(p) as u64)(&mut s)?,
                    _ => s.encode_gauge(&value(p))?,
                }
            }
        }
        Ok(())
    }
}
