//! Sleeps with sub-millisecond precision, for the health monitor's fast polling of a starting
//! service. tokio's timer counts whole milliseconds and rounds a deadline up to the next one,
//! so a 1 ms sleep lasts 1 to 2 ms; a kernel timer (timerfd) registered with the runtime's
//! reactor fires when asked.
//!
//! A monitor sleeps through a [`Sleeper`], which holds a timer only while the sleeps are short
//! (while its service starts), so the descriptor a timer costs is returned once the service is
//! up, and which falls back to tokio's timer when no descriptor is left.

use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::Duration;

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// Sleeps shorter than this go through a [`PreciseTimer`]; longer ones through tokio, whose
/// rounding is then a small part of the sleep.
pub const BELOW: Duration = Duration::from_millis(10);

/// Sleeps of any length, each through the timer that suits it: a [`PreciseTimer`] for those
/// under [`BELOW`] (created at the first one, dropped at the first longer one), tokio's timer
/// for the others, and for every sleep when no timer can be had.
#[derive(Default)]
pub struct Sleeper {
    precise: Option<PreciseTimer>,
}

impl Sleeper {
    /// Waits at least `d`. Must be called within a tokio runtime.
    pub async fn sleep(&mut self, d: Duration) {
        if d >= BELOW {
            self.precise = None;
        } else if self.precise.is_none() {
            self.precise = PreciseTimer::new().ok();
        }
        if let Some(timer) = self.precise.as_mut()
            && timer.sleep(d).await.is_ok()
        {
            return;
        }
        tokio::time::sleep(d).await;
    }

    /// Whether a kernel timer is held now.
    #[cfg(test)]
    fn holds_a_timer(&self) -> bool {
        self.precise.is_some()
    }
}

struct Fd(TimerFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// A one-shot kernel timer on the monotonic clock, awaited through the reactor.
pub struct PreciseTimer(AsyncFd<Fd>);

impl PreciseTimer {
    /// Must be called within a tokio runtime.
    pub fn new() -> io::Result<Self> {
        let fd = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        // SAFETY: `Fd` owns the timer's descriptor, which stays open, and is the one
        // `as_raw_fd` returns, for as long as the `AsyncFd` that owns the `Fd` lives.
        let fd = unsafe { AsyncFd::register_with_interest(Fd(fd), Interest::READABLE) }?;
        Ok(Self(fd))
    }

    /// Waits `d` (at least a microsecond: a zero expiration would disarm the timer).
    pub async fn sleep(&mut self, d: Duration) -> io::Result<()> {
        let d = d.max(Duration::from_micros(1));
        self.0.get_ref().0.set(
            Expiration::OneShot(TimeSpec::from_duration(d)),
            TimerSetTimeFlags::empty(),
        )?;
        loop {
            let mut ready = self.0.readable().await?;
            // Reading the expiration count consumes it; EAGAIN (not yet) clears the readiness.
            match ready.try_io(|fd| fd.get_ref().0.wait().map_err(io::Error::from)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[tokio::test]
    async fn a_sleep_lasts_at_least_what_was_asked_and_the_timer_can_be_reused() {
        let mut timer = PreciseTimer::new().unwrap();
        for d in [
            Duration::from_micros(300),
            Duration::from_millis(2),
            Duration::ZERO,
        ] {
            let t0 = Instant::now();
            timer.sleep(d).await.unwrap();
            assert!(t0.elapsed() >= d, "{d:?} ended after {:?}", t0.elapsed());
        }
    }

    #[tokio::test]
    async fn a_sleeper_holds_a_timer_only_while_its_sleeps_are_short() {
        let mut sleeper = Sleeper::default();
        assert!(!sleeper.holds_a_timer());
        let t0 = Instant::now();
        sleeper.sleep(Duration::from_micros(500)).await;
        assert!(t0.elapsed() >= Duration::from_micros(500));
        assert!(sleeper.holds_a_timer(), "a short sleep went through tokio");
        let t0 = Instant::now();
        sleeper.sleep(BELOW).await;
        assert!(t0.elapsed() >= BELOW);
        assert!(!sleeper.holds_a_timer(), "a long sleep kept the descriptor");
    }

    #[tokio::test]
    async fn a_sleep_dropped_before_it_ends_leaves_the_timer_usable() {
        let mut timer = PreciseTimer::new().unwrap();
        let cut = tokio::time::timeout(
            Duration::from_millis(5),
            timer.sleep(Duration::from_secs(60)),
        )
        .await;
        assert!(cut.is_err(), "a 60 s sleep ended within 5 ms");
        let t0 = Instant::now();
        timer.sleep(Duration::from_millis(1)).await.unwrap();
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the re-armed timer kept the old deadline"
        );
    }
}
