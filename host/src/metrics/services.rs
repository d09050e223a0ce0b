//! The per-service metrics, written at each scrape from three sources: the config (the
//! `_info` series), each service's latest snapshot (status, up, start time, last exit code,
//! health, consecutive failures) and the tally of the event stream (restarts, exits, checks,
//! start-to-healthy, hook runs). Also the daemon's count of services per status.

use std::sync::{Arc, Mutex};

use keel_api::{ExitInfo, HealthState, Snapshot, Status};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use super::tally::{CHECK_BUCKETS, Counts, ExitResult, RestartCause, Tally};
use crate::config::Config;
use crate::supervisor::ServicesWatch;

pub const STATUSES: [Status; 6] = [
    Status::Stopped,
    Status::Starting,
    Status::Running,
    Status::Stopping,
    Status::Restarting,
    Status::Failed,
];

const HEALTH_STATES: [HealthState; 3] = [
    HealthState::Starting,
    HealthState::Healthy,
    HealthState::Unhealthy,
];

/// Writes every service's series.
pub struct ServiceCollector {
    /// The config served and its services' snapshots: replaced by a reload.
    pub served: Arc<std::sync::RwLock<(Arc<Config>, ServicesWatch)>>,
    pub tally: Arc<Mutex<Tally>>,
}

impl std::fmt::Debug for ServiceCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServiceCollector")
    }
}

/// One metric family: its descriptor once, then a sample per service (`each` writes none, one
/// or several).
fn family<'a, T>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    rows: &'a [T],
    mut each: impl FnMut(&mut MetricEncoder, &'a T) -> Result<(), std::fmt::Error>,
) -> Result<(), std::fmt::Error> {
    let mut m = encoder.encode_descriptor(name, help, None, kind)?;
    for row in rows {
        each(&mut m, row)?;
    }
    Ok(())
}

fn gauge<V: prometheus_client::encoding::EncodeGaugeValue>(
    m: &mut MetricEncoder,
    labels: &[(&str, &str)],
    v: V,
) -> Result<(), std::fmt::Error> {
    m.encode_family(&labels)?.encode_gauge(&v)
}

fn counter(m: &mut MetricEncoder, labels: &[(&str, &str)], v: u64) -> Result<(), std::fmt::Error> {
    m.encode_family(&labels)?
        .encode_counter::<NoLabelSet, _, u64>(&v, None)
}

/// A histogram from per-bucket counts (each observation in the first bucket it fits; the
/// encoder accumulates them), `count` observations in all.
pub fn histogram(
    m: &mut MetricEncoder,
    labels: &[(&str, &str)],
    bounds: &[f64],
    counts: &[u64],
    count: u64,
    sum: f64,
) -> Result<(), std::fmt::Error> {
    let mut buckets: Vec<(f64, u64)> = bounds.iter().copied().zip(counts.iter().copied()).collect();
    let within: u64 = counts.iter().sum();
    buckets.push((f64::INFINITY, count.saturating_sub(within)));
    m.encode_family(&labels)?
        .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
}

/// What a scrape needs of a service's snapshot (copied out while its channel is borrowed).
struct Live {
    status: Status,
    pid: Option<i32>,
    started_at_ms: Option<u64>,
    exit_code: Option<i32>,
    /// The state and consecutive failures, while a process runs and is checked.
    health: Option<(HealthState, u32)>,
}

impl Live {
    fn of(s: &Snapshot) -> Self {
        Live {
            status: s.status,
            pid: s.pid,
            started_at_ms: s.started_at_ms,
            exit_code: match s.last_exit {
                Some(ExitInfo::Code(c)) => Some(c),
                _ => None,
            },
            health: s.pid.and(s.health.as_ref()).map(|h| (h.state, h.failures)),
        }
    }
}

/// What one service contributes, gathered before writing.
struct Row<'a> {
    name: &'a str,
    snap: Live,
    tally: Counts,
    check_type: Option<&'a str>,
}

impl Collector for ServiceCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let (config, watch) = self
            .served
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let live = watch.map(Live::of);
        let rows: Vec<Row> = {
            let tally = self.tally.lock().unwrap_or_else(|e| e.into_inner());
            config
                .services
                .iter()
                .zip(live)
                .map(|(svc, snap)| Row {
                    name: &svc.name,
                    tally: tally.get(&svc.name).cloned().unwrap_or_default(),
                    check_type: svc.health_check.as_ref().map(|h| h.check_type.as_str()),
                    snap,
                })
                .collect()
        };
        let e = &mut encoder;
        family(
            e,
            "keel_services",
            "Services by status.",
            MetricType::Gauge,
            &STATUSES,
            |m, status| {
                let n = rows.iter().filter(|r| r.snap.status == *status).count();
                gauge(m, &[("status", status.as_str())], n as i64)
            },
        )?;
        let services = &config.services;
        family(
            e,
            "keel_service_info",
            "A service's configured attributes (always 1).",
            MetricType::Gauge,
            services,
            |m, s| {
                let check = s
                    .health_check
                    .as_ref()
                    .map_or("", |h| h.check_type.as_str());
                let labels = [
                    ("service", s.name.as_str()),
                    ("category", s.category.as_str()),
                    ("type", s.service_type.as_str()),
                    ("mode", s.deployment.mode.as_str()),
                    ("check_type", check),
                ];
                gauge(m, &labels, 1i64)
            },
        )?;
        family(
            e,
            "keel_service_status",
            "A service's status, as a state set: 1 for the status it is in, else 0.",
            MetricType::Gauge,
            &rows,
            |m, r| {
                STATUSES.iter().try_for_each(|s| {
                    let labels = [("service", r.name), ("status", s.as_str())];
                    gauge(m, &labels, i64::from(r.snap.status == *s))
                })
            },
        )?;
        family(
            e,
            "keel_service_up",
            "Whether a service is running (1) or not (0).",
            MetricType::Gauge,
            &rows,
            |m, r| {
                let up = i64::from(r.snap.status == Status::Running);
                gauge(m, &[("service", r.name)], up)
            },
        )?;
        family(
            e,
            "keel_service_start_time_seconds",
            "When a service's current process started, in seconds since the Unix epoch.",
            MetricType::Gauge,
            &rows,
            |m, r| match (r.snap.pid, r.snap.started_at_ms) {
                (Some(_), Some(ms)) => gauge(m, &[("service", r.name)], ms as f64 / 1000.0),
                _ => Ok(()),
            },
        )?;
        family(
            e,
            "keel_service_restarts",
            "Restarts by the restart policy since the daemon started, by cause: exit (the \
             process ended), health (it turned unhealthy), recovery (it ended while no daemon ran).",
            MetricType::Counter,
            &rows,
            |m, r| {
                RestartCause::ALL.iter().try_for_each(|c| {
                    let labels = [("service", r.name), ("cause", c.as_str())];
                    counter(m, &labels, r.tally.restarts[*c as usize])
                })
            },
        )?;
        family(
            e,
            "keel_service_exits",
            "Ends of a service's processes since the daemon started, by result: success (an \
             exit code among success_exit_codes), failure (another code), signal, unknown.",
            MetricType::Counter,
            &rows,
            |m, r| {
                ExitResult::ALL.iter().try_for_each(|x| {
                    let labels = [("service", r.name), ("result", x.as_str())];
                    counter(m, &labels, r.tally.exits[*x as usize])
                })
            },
        )?;
        family(
            e,
            "keel_service_last_exit_code",
            "The exit code of a service's last process that exited with one.",
            MetricType::Gauge,
            &rows,
            |m, r| match r.snap.exit_code {
                Some(c) => gauge(m, &[("service", r.name)], i64::from(c)),
                None => Ok(()),
            },
        )?;
        let checked: Vec<&Row> = rows.iter().filter(|r| r.check_type.is_some()).collect();
        family(
            e,
            "keel_service_health",
            "The health of a service with a check, as a state set (all 0 while no process runs).",
            MetricType::Gauge,
            &checked,
            |m, r| {
                let state = r.snap.health.map(|(state, _)| state);
                HEALTH_STATES.iter().try_for_each(|s| {
                    let labels = [("service", r.name), ("state", s.as_str())];
                    gauge(m, &labels, i64::from(state == Some(*s)))
                })
            },
        )?;
        family(
            e,
            "keel_service_check_failures",
            "Consecutive failed checks of a service's current process.",
            MetricType::Gauge,
            &checked,
            |m, r| {
                let n = r.snap.health.map_or(0, |(_, failures)| failures);
                gauge(m, &[("service", r.name)], n)
            },
        )?;
        family(
            e,
            "keel_service_checks",
            "Health check answers since the daemon started, by result (healthy, unhealthy).",
            MetricType::Counter,
            &checked,
            |m, r| {
                let [ok, bad] = r.tally.checks;
                counter(m, &[("service", r.name), ("result", "healthy")], ok)?;
                counter(m, &[("service", r.name), ("result", "unhealthy")], bad)
            },
        )?;
        family(
            e,
            "keel_service_check_duration_seconds",
            "How long a service's health checks took (whole milliseconds, as checks report).",
            MetricType::Histogram,
            &checked,
            |m, r| {
                let t = &r.tally;
                let count = t.checks[0] + t.checks[1];
                let labels = [("service", r.name)];
                histogram(
                    m,
                    &labels,
                    &CHECK_BUCKETS,
                    &t.check_buckets,
                    count,
                    t.check_seconds,
                )
            },
        )?;
        family(
            e,
            "keel_service_start_to_healthy_seconds",
            "Time from the start of a service's latest process that became healthy to its first \
             healthy check.",
            MetricType::Gauge,
            &checked,
            |m, r| match r.tally.start_to_healthy {
                Some(s) => gauge(m, &[("service", r.name)], s),
                None => Ok(()),
            },
        )?;
        family(
            e,
            "keel_hook_runs",
            "Lifecycle hook runs since the daemon started, by service, hook, phase and verdict.",
            MetricType::Counter,
            &rows,
            |m, r| {
                r.tally
                    .hooks
                    .iter()
                    .try_for_each(|((hook, phase, verdict), n)| {
                        let labels = [
                            ("service", r.name),
                            ("hook", hook.as_str()),
                            ("phase", *phase),
                            ("verdict", *verdict),
                        ];
                        counter(m, &labels, *n)
                    })
            },
        )?;
        let lost = self.tally.lock().unwrap_or_else(|e| e.into_inner()).lost;
        let mut m = encoder.encode_descriptor(
            "keel_metrics_events_lost",
            "Supervisor events the metrics missed by falling behind (the event-derived \
             counters undercount by what these events showed).",
            None,
            MetricType::Counter,
        )?;
        m.encode_counter::<NoLabelSet, _, u64>(&lost, None)
    }
}
