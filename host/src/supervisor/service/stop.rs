//! Stopping: a service's `before-stop` hooks, then its stop command or signal to the whole
//! process group, SIGKILL after the grace time, done only when the group is empty.

use std::time::Duration;

use keel_api::{HookCause, HookPhase};
use nix::sys::signal::Signal;

use super::super::process;
use super::super::reaper::Reaper;
use super::{Gate, Machine, Running, Status, hooked};
use crate::state::ExitInfo;

impl Machine {
    /// Stops the service: unless `force`, its `before-stop` hooks are asked first (a refusal
    /// keeps it running, except when the daemon shuts down); then its process group gets the
    /// stop command or signal, and SIGKILL once the grace time (what the hooks left of
    /// `stop_timeout`) is over (at once with `force`); done only when the group is empty.
    pub(super) async fn stop(&mut self, force: bool, cause: HookCause) -> Result<(), String> {
        if self.running.is_none() {
            self.restart_at = None;
            self.record.wanted = false;
            if self.status != Status::Failed {
                self.set(Status::Stopped).await;
            }
            return Ok(());
        }
        let deadline = self.stop_deadline();
        if !force
            && let Gate::Refused {
                outcome,
                hook,
                reason,
            } = self
                .gate(HookPhase::BeforeStop, cause, "stopping", deadline)
                .await
        {
            let text = hooked::refusal_text(outcome, &hook, &reason);
            if cause != HookCause::Shutdown {
                self.t.log.note(format!("not stopped: {text}"));
                self.set(self.status).await;
                return Err(format!("the stop of {} was {text}", self.name()));
            }
            self.t.log.note(format!(
                "{text}; stopped anyway: the daemon is shutting down"
            ));
        }
        self.restart_at = None;
        self.record.wanted = false;
        let Some(mut running) = self.running.take() else {
            return Ok(());
        };
        self.set(Status::Stopping).await;
        let exit = self
            .terminate(&mut running, force, hooked::grace_left(deadline))
            .await;
        self.last_run = Some((running.id.pid, running.since.elapsed()));
        self.health = None;
        self.t.log.note(format!("stopped ({exit})"));
        self.record.last_exit = Some(exit.clone());
        self.set(Status::Stopped).await;
        self.notify(HookPhase::AfterStop, cause, format!("stopped ({exit})"));
        Ok(())
    }

    /// Ends a running process group, allowing it `grace` before SIGKILL, and returns how its
    /// leader exited.
    pub(super) async fn terminate(
        &mut self,
        running: &mut Running,
        force: bool,
        grace: Duration,
    ) -> ExitInfo {
        let pgid = running.id.pid;
        // The launch spec's way, or for a re-adopted process the way its record saved.
        let (signal, stop_command) = match &self.spec {
            Some(s) => (s.stop_signal, s.stop_command.clone()),
            None => (
                self.record
                    .stop_signal
                    .as_deref()
                    .and_then(process::parse_signal)
                    .unwrap_or(Signal::SIGTERM),
                self.record.stop_command.clone(),
            ),
        };
        let stop_command = stop_command.filter(|c| !c.is_empty());
        if force {
            let _ = process::signal_group(pgid, Signal::SIGKILL);
            // A workload outside the process group (a container) goes too.
            if let Some(cmd) = &stop_command {
                self.t.log.note(format!("killed; then `{}`", cmd.join(" ")));
                run_stop_command(&self.t.reaper, cmd, &self.t.base_dir, grace).await;
            }
        } else if let Some(cmd) = stop_command.clone() {
            self.t
                .log
                .note(format!("stopping with `{}`", cmd.join(" ")));
            run_stop_command(&self.t.reaper, &cmd, &self.t.base_dir, grace).await;
        } else {
            self.t
                .log
                .note(format!("stopping with {}", signal.as_str()));
            let _ = process::signal_group(pgid, signal);
        }
        let deadline = tokio::time::Instant::now() + grace;
        let exited = tokio::time::timeout(grace, &mut running.exit).await.ok();
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if !process::wait_group_empty(pgid, left).await {
            self.t.log.note(format!(
                "still running after {}s; sending SIGKILL to the process group",
                grace.as_secs_f64()
            ));
            let _ = process::signal_group(pgid, Signal::SIGKILL);
            process::wait_group_empty(pgid, Duration::from_secs(5)).await;
        }
        match exited {
            Some(e) => e,
            None => tokio::time::timeout(Duration::from_secs(5), &mut running.exit)
                .await
                .unwrap_or(ExitInfo::Unknown),
        }
    }
}

/// Runs a launch spec's stop command (no shell), at most `limit`; its status goes through the
/// reaper like every other child's.
async fn run_stop_command(reaper: &Reaper, cmd: &[String], dir: &std::path::Path, limit: Duration) {
    let child = std::process::Command::new(&cmd[0])
        .args(&cmd[1..])
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .spawn();
    let shown = cmd.join(" ");
    let child = match child {
        Ok(c) => c,
        Err(e) => return tracing::warn!("stop command `{shown}` failed: {e}"),
    };
    let pid = child.id() as i32;
    drop(child);
    match tokio::time::timeout(limit, reaper.watch(pid)).await {
        Ok(Ok(ExitInfo::Code(0))) => {}
        Ok(Ok(other)) => tracing::warn!("stop command `{shown}`: {other}"),
        Ok(Err(_)) => {}
        Err(_) => {
            tracing::warn!("stop command `{shown}` timed out");
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}
