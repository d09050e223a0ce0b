//! Health: what one check answered (`CheckReport`), the boundary to the check plugins
//! (`Checker`), and the pure state machine that turns a series of answers into a service's
//! health (`HealthTracker`: start period, `retries` consecutive failures, recovery on success).
//! The task that runs the checks on a schedule is `supervisor::monitor`.

use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
pub use keel_api::{CheckReport, Health, HealthState};

use crate::config::Service;

/// Runs a service's configured health check once: the boundary to the check plugins.
pub trait Checker: Send + Sync {
    /// `None` when the service has no health check.
    fn check<'a>(&'a self, service: &'a Service) -> BoxFuture<'a, Option<CheckReport>>;
}

/// A starting service is polled every this-many-th of the time it has been starting...
const START_POLL_DIVISOR: u32 = 100;
/// ... but not more often than this...
const START_POLL_MIN: Duration = Duration::from_millis(1);
/// ... and at the most, so a slow starter is noticed at most this late.
const START_POLL_MAX: Duration = Duration::from_millis(500);

/// The health state machine of one process: Docker's semantics, with the start period defaulting
/// to the service's `start_timeout`.
#[derive(Debug, Clone)]
pub struct HealthTracker {
    retries: u32,
    started: Instant,
    start_period: Duration,
    interval: Duration,
    /// The origin of the grid that checks at `interval` fall on (see `next_delay`).
    grid: Instant,
    health: Health,
}

impl HealthTracker {
    /// A tracker for a process started at `started`. Checks at the interval fall on the
    /// instants `grid + k * interval`: trackers that share `grid` and `interval` check together.
    pub fn new(
        retries: u32,
        interval: Duration,
        start_period: Duration,
        started: Instant,
        grid: Instant,
    ) -> Self {
        Self {
            retries: retries.max(1),
            started,
            start_period,
            interval,
            grid,
            health: Health::starting(),
        }
    }

    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Takes one answer; returns the health after it.
    pub fn on_report(&mut self, report: CheckReport, now: Instant) -> &Health {
        let starting = self.in_start_period(now);
        let h = &mut self.health;
        if report.healthy {
            h.failures = 0;
            h.state = HealthState::Healthy;
        } else if h.state == HealthState::Starting && starting {
            // Still starting: this failure does not count.
        } else {
            h.failures += 1;
            if h.failures >= self.retries {
                h.state = HealthState::Unhealthy;
            }
        }
        h.last = Some(report);
        &self.health
    }

    fn in_start_period(&self, now: Instant) -> bool {
        now.duration_since(self.started) < self.start_period
    }

    /// How long to wait before the next check. A starting service is polled fast, every
    /// hundredth of the time it has been starting (1 ms to 500 ms), so a check interval of
    /// seconds does not slow a platform's start (a service that takes T to come up is seen
    /// at most T/100 late, at the cost of about 100 + 100 ln(T / 100 ms) checks while it
    /// starts). The monitor times these short sleeps with a kernel timer: tokio's would round
    /// each up to the next whole millisecond.
    ///
    /// Afterwards checks come at the configured interval, on the next instant of the grid
    /// `grid + k * interval`: never later than an interval after the previous check, and at
    /// the same instant as every other service with this interval. Services are then checked
    /// in one wake-up of the daemon instead of one each, which is most of what checking costs
    /// when the checks themselves are cheap (timer coalescing, as kernels do for timers).
    pub fn next_delay(&self, now: Instant) -> Duration {
        if self.health.state == HealthState::Starting && self.in_start_period(now) {
            return (now.duration_since(self.started) / START_POLL_DIVISOR)
                .clamp(START_POLL_MIN, START_POLL_MAX)
                .min(self.interval);
        }
        let period = self.interval.as_nanos().max(1);
        let since = now.saturating_duration_since(self.grid).as_nanos();
        let next = (since / period + 1) * period;
        Duration::from_nanos(u64::try_from(next - since).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(healthy: bool) -> CheckReport {
        CheckReport {
            healthy,
            message: String::new(),
            duration_ms: 1,
            at_ms: 0,
        }
    }

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn failures_in_the_start_period_do_not_count() {
        let t0 = Instant::now();
        let mut t = HealthTracker::new(2, S, 10 * S, t0, t0);
        for i in 0..5 {
            assert_eq!(
                t.on_report(report(false), t0 + i * S).state,
                HealthState::Starting
            );
        }
        assert_eq!(t.health().failures, 0);
        assert_eq!(
            t.on_report(report(true), t0 + 6 * S).state,
            HealthState::Healthy
        );
    }

    #[test]
    fn retries_consecutive_failures_make_it_unhealthy_and_a_success_heals() {
        let t0 = Instant::now();
        let mut t = HealthTracker::new(3, S, S, t0, t0);
        t.on_report(report(true), t0);
        assert_eq!(
            t.on_report(report(false), t0 + 2 * S).state,
            HealthState::Healthy
        );
        assert_eq!(
            t.on_report(report(false), t0 + 3 * S).state,
            HealthState::Healthy
        );
        let h = t.on_report(report(false), t0 + 4 * S);
        assert_eq!((h.state, h.failures), (HealthState::Unhealthy, 3));
        let h = t.on_report(report(true), t0 + 5 * S);
        assert_eq!((h.state, h.failures), (HealthState::Healthy, 0));
        // A success in between resets the count.
        t.on_report(report(false), t0 + 6 * S);
        t.on_report(report(true), t0 + 7 * S);
        t.on_report(report(false), t0 + 8 * S);
        assert_eq!(t.health().state, HealthState::Healthy);
    }

    #[test]
    fn a_service_that_never_comes_up_turns_unhealthy_after_its_start_period() {
        let t0 = Instant::now();
        let mut t = HealthTracker::new(2, S, 3 * S, t0, t0);
        t.on_report(report(false), t0 + S);
        assert_eq!(
            t.on_report(report(false), t0 + 3 * S).state,
            HealthState::Starting
        );
        assert_eq!(
            t.on_report(report(false), t0 + 4 * S).state,
            HealthState::Unhealthy
        );
    }

    #[test]
    fn a_starting_service_is_polled_fast_and_then_at_its_interval() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let t = HealthTracker::new(3, 10 * S, 30 * S, t0, t0);
        assert_eq!(t.next_delay(t0), ms(1));
        assert_eq!(t.next_delay(t0 + ms(300)), ms(3));
        assert_eq!(t.next_delay(t0 + 29 * S), ms(290));
        // At most 500 ms apart, however long the start takes.
        let slow = HealthTracker::new(3, 10 * S, 120 * S, t0, t0);
        assert_eq!(slow.next_delay(t0 + 60 * S), ms(500));
        // After the start period: the next instant of the grid (t0 + 40 s).
        assert_eq!(t.next_delay(t0 + 31 * S), 9 * S);
        // Never slower than the interval itself.
        let t = HealthTracker::new(3, ms(200), 30 * S, t0, t0);
        assert_eq!(t.next_delay(t0 + 29 * S), ms(200));
        // Healthy: the interval, on the grid.
        let mut t = HealthTracker::new(3, 10 * S, 30 * S, t0, t0);
        t.on_report(report(true), t0);
        assert_eq!(t.next_delay(t0 + ms(50)), 10 * S - ms(50));
        assert_eq!(t.next_delay(t0 + 10 * S), 10 * S);
    }

    #[test]
    fn services_with_the_same_interval_are_checked_at_the_same_instants() {
        let grid = Instant::now();
        let ms = Duration::from_millis;
        // Two services started 137 ms apart, healthy at once.
        let mut a = HealthTracker::new(3, S, 10 * S, grid + ms(5), grid);
        let mut b = HealthTracker::new(3, S, 10 * S, grid + ms(142), grid);
        a.on_report(report(true), grid + ms(7));
        b.on_report(report(true), grid + ms(150));
        let next_a = grid + ms(7) + a.next_delay(grid + ms(7));
        let next_b = grid + ms(150) + b.next_delay(grid + ms(150));
        assert_eq!(next_a, grid + S);
        assert_eq!(next_b, grid + S);
        // A check that took a while still leads to the next instant, not a second check now.
        let after = grid + S + ms(30);
        assert_eq!(after + a.next_delay(after), grid + 2 * S);
    }
}
