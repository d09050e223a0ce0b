//! Prometheus metrics of the daemon, its services, its plugins and its hooks (`GET /metrics`
//! on the control socket, and on `keel daemon --metrics-listen ADDR`).
//!
//! Nothing is counted inside the supervisor for metrics' sake. A scrape writes what the
//! supervisor already publishes (each service's latest snapshot, the config) and what the
//! plugin host counts on its call path; the counters of things that happen (restarts, exits,
//! checks, hook runs) come from one task that follows the supervisor's event stream
//! (`tally`). The text is written by the `prometheus-client` crate through collectors: the
//! Prometheus text format (0.0.4) by default, OpenMetrics when the scraper asks for it.
//!
//! `services` (per service, and services per status), `plugins` (per plugin), `process`
//! (`process_*`), `tally` (the event-derived counters).

mod plugins;
mod process;
mod services;
mod tally;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use tokio::sync::broadcast::error::RecvError;

pub use plugins::StatsSource;
use tally::Tally;

use crate::config::Config;
use crate::supervisor::{ServicesWatch, Supervisor};

/// The format of a scrape's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text format 0.0.4 (what `promtool` and most tools read).
    Prometheus,
    /// OpenMetrics 1.0 text, for scrapers that ask for it in `Accept`.
    OpenMetrics,
}

impl Format {
    /// The format a request's `Accept` header asks for.
    pub fn negotiate(accept: Option<&str>) -> Self {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Prometheus,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// Each service's exit codes that count as success, for the tally.
fn success_codes(config: &Config) -> Vec<(String, Vec<i32>)> {
    config
        .services
        .iter()
        .map(|s| (s.name.clone(), s.startup.success_exit_codes.clone()))
        .collect()
}

/// The daemon's metrics.
pub struct Metrics {
    registry: Registry,
    /// What the collectors read, replaced by a reload.
    served: Arc<std::sync::RwLock<(Arc<Config>, ServicesWatch)>>,
    plugins: Option<Arc<std::sync::RwLock<StatsSource>>>,
    tally: Arc<Mutex<Tally>>,
    /// The size of the last scrape: the next one's buffer is made that large at once, rather
    /// than grown (and copied) a dozen times on the way to megabytes.
    last_len: AtomicUsize,
}

impl Metrics {
    /// Begins following `supervisor`'s events (a task that lives as long as the supervisor's
    /// event channel) and sets up the collectors; `plugins` gives the plugin host's counts.
    pub fn start(
        supervisor: &Supervisor,
        config: Arc<Config>,
        plugins: Option<StatsSource>,
        started_at_ms: u64,
    ) -> Arc<Self> {
        // Subscribe before reading the snapshots, so no change falls between the two.
        let mut events = supervisor.subscribe();
        let watch = supervisor.watch_all();
        let codes = success_codes(supervisor.config());
        let tally = Arc::new(Mutex::new(Tally::new(watch.all(), codes)));
        {
            let (tally, watch) = (tally.clone(), watch.clone());
            tokio::spawn(async move {
                loop {
                    match events.recv().await {
                        Ok(first) => {
                            let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
                            t.observe(&first);
                            // Whatever else is queued, under the same lock.
                            while let Ok(e) = events.try_recv() {
                                t.observe(&e);
                            }
                        }
                        Err(RecvError::Lagged(missed)) => {
                            tracing::warn!("metrics missed {missed} supervisor events");
                            let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
                            t.lost += missed;
                            t.resync(watch.all());
                        }
                        Err(RecvError::Closed) => return,
                    }
                }
            });
        }
        let mut registry = Registry::default();
        registry.register_collector(Box::new(DaemonCollector {
            started_at_seconds: started_at_ms as f64 / 1000.0,
        }));
        registry.register_collector(Box::new(process::ProcessCollector));
        let served = Arc::new(std::sync::RwLock::new((config, watch)));
        registry.register_collector(Box::new(services::ServiceCollector {
            served: served.clone(),
            tally: tally.clone(),
        }));
        let plugins = plugins.map(|source| Arc::new(std::sync::RwLock::new(source)));
        if let Some(source) = &plugins {
            registry.register_collector(Box::new(plugins::PluginCollector {
                source: source.clone(),
            }));
        }
        Arc::new(Metrics {
            registry,
            served,
            plugins,
            tally,
            last_len: AtomicUsize::new(64 * 1024),
        })
    }

    /// After a reload: the services of `supervisor` (its config's) from now on, and the counts
    /// of its new plugin host. The event stream is the same one, so the tally goes on.
    pub fn reloaded(&self, supervisor: &Supervisor, plugins: Option<StatsSource>) {
        let config = supervisor.shared_config();
        let watch = supervisor.watch_all();
        let codes = success_codes(&config);
        self.tally
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .reconfigure(watch.all(), codes);
        *self.served.write().unwrap_or_else(|e| e.into_inner()) = (config, watch);
        if let (Some(slot), Some(source)) = (&self.plugins, plugins) {
            *slot.write().unwrap_or_else(|e| e.into_inner()) = source;
        }
    }

    /// Every metric, in `format`.
    pub fn render(&self, format: Format) -> String {
        let mut out = String::with_capacity(self.last_len.load(Ordering::Relaxed) * 9 / 8);
        let written = match format {
            Format::Prometheus => {
                prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
            }
            Format::OpenMetrics => {
                prometheus_client::encoding::text::encode(&mut out, &self.registry)
            }
        };
        // Writing into a String cannot fail.
        written.expect("metrics encode into a string");
        self.last_len.store(out.len(), Ordering::Relaxed);
        out
    }
}

/// The daemon's own series: what it is built of, and when it started.
#[derive(Debug)]
struct DaemonCollector {
    started_at_seconds: f64,
}

impl Collector for DaemonCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let info = ConstGauge::new(1i64);
        let mut m = encoder.encode_descriptor(
            "keel_build_info",
            "The running Keel: its version, the newest WIT package its plugin host binds, and \
             the wasmtime it runs plugins on (always 1).",
            None,
            info.metric_type(),
        )?;
        let labels = [
            ("version", env!("CARGO_PKG_VERSION")),
            ("wit_version", crate::plugins::WIT_VERSION),
            ("wasmtime_version", crate::plugins::WASMTIME_VERSION),
        ];
        info.encode(m.encode_family(&labels)?)?;
        let start = ConstGauge::new(self.started_at_seconds);
        start.encode(encoder.encode_descriptor(
            "keel_daemon_start_time_seconds",
            "When the daemon started, in seconds since the Unix epoch.",
            None,
            start.metric_type(),
        )?)
    }
}
