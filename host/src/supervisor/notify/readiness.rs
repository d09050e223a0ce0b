//! The pure part of a notify check: what one sd_notify datagram says, and what a process's
//! notifications and the passing of time mean for its health. No sockets, no clocks of its
//! own: the time comes in as an argument, so every rule is unit-tested.

use std::time::{Duration, Instant};

/// One assignment of an sd_notify datagram that Keel acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// `READY=1`: started up.
    Ready,
    /// `STATUS=…`: free text, shown as the health message.
    Status(String),
    /// `WATCHDOG=1`: still alive.
    Watchdog,
    /// `WATCHDOG=trigger`: the service asks for its watchdog to fire now.
    WatchdogTrigger,
    /// `WATCHDOG_USEC=…`: the service changes its watchdog interval.
    WatchdogUsec(Duration),
    /// `STOPPING=1`: shutting down (noted; its exit is what counts).
    Stopping,
}

/// The notices of one datagram, in order: newline-separated `KEY=VALUE` assignments, as
/// sd_notify(3) writes them. Unknown keys (`MAINPID`, `RELOADING`, `BARRIER`, `FDSTORE`, …)
/// and malformed lines are ignored, as systemd ignores them.
pub fn parse(datagram: &[u8]) -> Vec<Notice> {
    let text = String::from_utf8_lossy(datagram);
    text.split('\n')
        .filter_map(|line| {
            let (key, value) = line.split_once('=')?;
            Some(match (key, value) {
                ("READY", "1") => Notice::Ready,
                ("STATUS", s) => Notice::Status(s.to_string()),
                ("WATCHDOG", "1") => Notice::Watchdog,
                ("WATCHDOG", "trigger") => Notice::WatchdogTrigger,
                ("WATCHDOG_USEC", n) => match n.parse::<u64>() {
                    Ok(us) if us > 0 => Notice::WatchdogUsec(Duration::from_micros(us)),
                    _ => return None,
                },
                ("STOPPING", "1") => Notice::Stopping,
                _ => return None,
            })
        })
        .collect()
}

/// What a notice or a deadline means for the service's health: one answer for its
/// `HealthTracker`, as a polled check's answer would be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub healthy: bool,
    pub message: String,
}

/// What one process has told so far, and the deadline that comes next.
#[derive(Debug, Clone)]
pub struct Readiness {
    ready: bool,
    /// The last `STATUS=`.
    status: Option<String>,
    /// Until `READY=1`: when the start period ends without it (fires once).
    start_deadline: Option<Instant>,
    start_timeout: Duration,
    watchdog: Option<Duration>,
    /// The last `WATCHDOG=1`, or `READY=1` (which arms the watchdog).
    last_ping: Instant,
    /// The watchdog fired and no `WATCHDOG=1` has come since.
    overdue: bool,
}

impl Readiness {
    /// A process first seen at `now`. `ready` for a re-adopted process that said `READY=1` to
    /// the previous daemon: it will not say it again, and its watchdog counts from now.
    pub fn new(
        now: Instant,
        start_timeout: Duration,
        watchdog: Option<Duration>,
        ready: bool,
    ) -> Self {
        Self {
            ready,
            status: None,
            start_deadline: (!ready).then(|| now + start_timeout),
            start_timeout,
            watchdog,
            last_ping: now,
            overdue: false,
        }
    }

    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// The message of a healthy answer: the service's own `STATUS=`, else what made it so.
    fn healthy(&self, why: &str) -> Verdict {
        Verdict {
            healthy: true,
            message: self.status.clone().unwrap_or_else(|| why.to_string()),
        }
    }

    fn unhealthy(&self, why: String) -> Verdict {
        let message = match &self.status {
            Some(s) => format!("{why} (last status: {s})"),
            None => why,
        };
        Verdict {
            healthy: false,
            message,
        }
    }

    /// Takes one notice received at `now`; the answer it makes, if any.
    pub fn on_notice(&mut self, notice: Notice, now: Instant) -> Option<Verdict> {
        match notice {
            Notice::Ready => self.become_ready(now, "ready (READY=1)"),
            Notice::Status(s) => {
                self.status = Some(s);
                // While starting, the text shows beside "starting" (an answer that does not
                // count in the start period); once ready, it replaces the message.
                Some(match (self.ready, self.overdue) {
                    (true, false) => self.healthy(""),
                    (true, true) => self.unhealthy(self.overdue_text()),
                    (false, _) => self.unhealthy("not ready yet".to_string()),
                })
            }
            Notice::Watchdog => {
                self.last_ping = now;
                if self.overdue {
                    self.overdue = false;
                    return Some(self.healthy("ready (WATCHDOG=1)"));
                }
                None
            }
            Notice::WatchdogTrigger => {
                self.overdue = true;
                Some(self.unhealthy("the service fired its watchdog (WATCHDOG=trigger)".into()))
            }
            Notice::WatchdogUsec(d) => {
                self.watchdog = Some(d);
                None
            }
            Notice::Stopping => None,
        }
    }

    /// s6's notification-fd: a newline means what `READY=1` does.
    pub fn on_newline(&mut self, now: Instant) -> Option<Verdict> {
        self.become_ready(now, "ready (newline on its notification descriptor)")
    }

    /// The first word of readiness arms the watchdog; a later one changes nothing.
    fn become_ready(&mut self, now: Instant, why: &str) -> Option<Verdict> {
        if self.ready {
            return None;
        }
        self.ready = true;
        self.start_deadline = None;
        self.last_ping = now;
        self.overdue = false;
        Some(self.healthy(why))
    }

    /// When the next deadline falls: the start period's end while not ready, then the
    /// watchdog's (none once it has fired, until the next `WATCHDOG=1`).
    pub fn deadline(&self) -> Option<Instant> {
        if !self.ready {
            return self.start_deadline;
        }
        match (self.watchdog, self.overdue) {
            (Some(w), false) => Some(self.last_ping + w),
            _ => None,
        }
    }

    /// The deadline passed at `now`: the answer that makes, if it did pass.
    pub fn on_deadline(&mut self, now: Instant) -> Option<Verdict> {
        if self.deadline().is_none_or(|d| now < d) {
            return None;
        }
        if !self.ready {
            self.start_deadline = None;
            return Some(self.unhealthy(format!(
                "no READY=1 within the start timeout ({}s)",
                self.start_timeout.as_secs_f64()
            )));
        }
        self.overdue = true;
        Some(self.unhealthy(self.overdue_text()))
    }

    fn overdue_text(&self) -> String {
        match self.watchdog {
            Some(w) => format!("watchdog: no WATCHDOG=1 within {}s", w.as_secs_f64()),
            None => "watchdog fired".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn datagrams_are_parsed_as_sd_notify_writes_them() {
        assert_eq!(
            parse(b"READY=1\nSTATUS=serving 3 clients\nMAINPID=42\nWATCHDOG=1\n"),
            vec![
                Notice::Ready,
                Notice::Status("serving 3 clients".into()),
                Notice::Watchdog
            ]
        );
        assert_eq!(
            parse(b"WATCHDOG=trigger\nWATCHDOG_USEC=2500000\nSTOPPING=1"),
            vec![
                Notice::WatchdogTrigger,
                Notice::WatchdogUsec(Duration::from_millis(2500)),
                Notice::Stopping
            ]
        );
        // READY=0, garbage, a zero interval, BARRIER: nothing to act on.
        assert!(parse(b"READY=0\nnonsense\nWATCHDOG_USEC=0\nBARRIER=1").is_empty());
        // STATUS keeps everything after the first `=`.
        assert_eq!(parse(b"STATUS=a=b"), vec![Notice::Status("a=b".into())]);
    }

    #[test]
    fn ready_makes_it_healthy_with_its_status_as_the_message() {
        let t0 = Instant::now();
        let mut r = Readiness::new(t0, 30 * S, None, false);
        assert_eq!(r.deadline(), Some(t0 + 30 * S));
        let v = r.on_notice(Notice::Status("loading".into()), t0).unwrap();
        assert!(!v.healthy);
        let v = r.on_notice(Notice::Ready, t0 + S).unwrap();
        assert_eq!((v.healthy, v.message.as_str()), (true, "loading"));
        assert_eq!(r.deadline(), None, "no watchdog, nothing more to wait for");
        let v = r
            .on_notice(Notice::Status("serving".into()), t0 + 2 * S)
            .unwrap();
        assert_eq!((v.healthy, v.message.as_str()), (true, "serving"));
        // A second READY=1 changes nothing.
        assert_eq!(r.on_notice(Notice::Ready, t0 + 3 * S), None);
    }

    #[test]
    fn no_ready_within_the_start_timeout_is_unhealthy_once() {
        let t0 = Instant::now();
        let mut r = Readiness::new(t0, 5 * S, Some(S), false);
        assert_eq!(r.on_deadline(t0 + 4 * S), None);
        let v = r.on_deadline(t0 + 5 * S).unwrap();
        assert!(!v.healthy);
        assert!(
            v.message
                .contains("no READY=1 within the start timeout (5s)"),
            "{v:?}"
        );
        assert_eq!(r.deadline(), None);
        // A late READY=1 still heals it.
        assert!(r.on_notice(Notice::Ready, t0 + 6 * S).unwrap().healthy);
    }

    #[test]
    fn the_watchdog_is_armed_by_ready_reset_by_each_ping_and_fires_when_missed() {
        let t0 = Instant::now();
        let w = 2 * S;
        let mut r = Readiness::new(t0, 30 * S, Some(w), false);
        // Pings before READY=1 do not matter: the start period rules.
        assert_eq!(r.on_notice(Notice::Watchdog, t0), None);
        assert_eq!(r.deadline(), Some(t0 + 30 * S));
        r.on_notice(Notice::Ready, t0 + S);
        assert_eq!(r.deadline(), Some(t0 + 3 * S));
        assert_eq!(r.on_notice(Notice::Watchdog, t0 + 2 * S), None);
        assert_eq!(r.deadline(), Some(t0 + 4 * S));
        assert_eq!(r.on_deadline(t0 + 3 * S), None, "not due yet");
        let v = r.on_deadline(t0 + 4 * S).unwrap();
        assert_eq!(
            (v.healthy, v.message.as_str()),
            (false, "watchdog: no WATCHDOG=1 within 2s")
        );
        assert_eq!(r.deadline(), None, "fired once, until the next ping");
        // A late ping heals it, and arms it again.
        let v = r.on_notice(Notice::Watchdog, t0 + 5 * S).unwrap();
        assert!(v.healthy);
        assert_eq!(r.deadline(), Some(t0 + 7 * S));
    }

    #[test]
    fn the_service_may_fire_or_change_its_watchdog() {
        let t0 = Instant::now();
        let mut r = Readiness::new(t0, 30 * S, None, false);
        r.on_notice(Notice::Ready, t0);
        assert_eq!(r.deadline(), None);
        r.on_notice(Notice::WatchdogUsec(3 * S), t0 + S);
        assert_eq!(r.deadline(), Some(t0 + 3 * S));
        let v = r.on_notice(Notice::WatchdogTrigger, t0 + S).unwrap();
        assert!(
            !v.healthy && v.message.contains("WATCHDOG=trigger"),
            "{v:?}"
        );
    }

    #[test]
    fn a_process_that_was_ready_before_a_daemon_restart_stays_ready() {
        let t0 = Instant::now();
        let mut r = Readiness::new(t0, 30 * S, Some(2 * S), true);
        assert!(r.is_ready());
        // Its watchdog counts from the adoption.
        assert_eq!(r.deadline(), Some(t0 + 2 * S));
        assert!(!r.on_deadline(t0 + 2 * S).unwrap().healthy);
    }

    #[test]
    fn a_newline_on_the_descriptor_is_ready() {
        let t0 = Instant::now();
        let mut r = Readiness::new(t0, 30 * S, None, false);
        let v = r.on_newline(t0).unwrap();
        assert!(
            v.healthy && v.message.contains("notification descriptor"),
            "{v:?}"
        );
        assert_eq!(r.on_notice(Notice::Ready, t0), None, "ready once");
    }
}
