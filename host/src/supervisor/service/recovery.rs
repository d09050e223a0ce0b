//! What a daemon takes over of a service when it starts: the record and PID file a previous
//! daemon saved, and the service's process if it still runs. The record is the authority; the
//! PID file (PID, start time, how to stop) stands in for it when the record is lost or
//! damaged, and when neither says which process runs, the process is found by its marks (see
//! `marks`). A process is taken over only once it is known to be the service's (by PID and
//! start time, or by its marks), so a damaged or stale file never makes Keel signal another
//! process, and a service that still runs is never started again beside itself.

use std::time::{Duration, Instant};

use super::super::reaper;
use super::{Machine, Running, Status};
use crate::state::{CorruptState, ExitInfo, PidFile, ProcessId, ServiceRecord};

impl Machine {
    /// Takes over what a previous daemon left: a live process is adopted, a dead one is
    /// handled by policy. Damaged files are moved aside with a note in the service's log.
    pub(super) async fn recover(&mut self) {
        let mut damaged = false;
        let record = match self.t.state.load(self.name()) {
            Ok(r) => r,
            Err(e) => {
                self.set_aside(&e);
                damaged = true;
                None
            }
        };
        let pid_file = match self.t.state.load_pid(self.name()) {
            Ok(f) => f,
            Err(e) => {
                self.set_aside(&e);
                damaged = true;
                None
            }
        };
        match record {
            Some(saved) => self.resume(saved, pid_file).await,
            // Nothing saved at all: a service that has not run.
            None if !damaged && pid_file.is_none() => self.set(Status::Stopped).await,
            None => self.recover_without_record(pid_file).await,
        }
    }

    fn set_aside(&mut self, e: &CorruptState) {
        let aside = self.t.state.quarantine(&e.path);
        let whereto = aside
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .map(|n| format!("; moved aside as {n}"))
            .unwrap_or_default();
        tracing::warn!(service = self.name(), "{e}{whereto}");
        self.t.log.note(format!("{e}{whereto}"));
        // What is written next replaces it.
        self.saved = None;
    }

    /// Carries on from a readable record. A PID file out of line with it (missing, damaged,
    /// stale, or an older Keel's) is written again.
    async fn resume(&mut self, saved: ServiceRecord, pid_file: Option<PidFile>) {
        let expected = PidFile::of(&saved);
        if let (Some(found), Some(expected)) = (&pid_file, &expected)
            && found.pid != expected.pid
        {
            self.t.log.note(format!(
                "{} named pid {} where the record has pid {}: written again from the record",
                self.t.state.pid_file(self.name()).display(),
                found.pid,
                expected.pid
            ));
        }
        self.saved = (pid_file == expected).then(|| saved.clone());
        self.record = saved;
        match self.record.process {
            Some(id) => {
                if !self.adopt(id, "").await {
                    self.died_while_away(id).await;
                }
            }
            None if self.record.failed.is_some() => self.set(Status::Failed).await,
            // Wanted with no process recorded: the daemon was waiting to restart it, and may
            // have started a copy it was killed before recording. That copy is taken over,
            // not started again beside itself.
            None if self.record.wanted => {
                if !self.adopt_found().await {
                    self.set(Status::Stopped).await;
                }
            }
            None => self.set(Status::Stopped).await,
        }
    }

    /// Without a readable record: the process the PID file names if it is the service's,
    /// else one found by its marks. What the record alone knew (restarts, last exit) is lost.
    async fn recover_without_record(&mut self, pid_file: Option<PidFile>) {
        self.saved = None;
        self.record = ServiceRecord::new(self.name());
        let Some(f) = pid_file else {
            if !self.adopt_found().await {
                self.set(Status::Stopped).await;
            }
            return;
        };
        if let Some(id) = self.t.marks.check(self.name(), f.pid, f.start_time) {
            self.record.stop_signal = f.stop_signal.clone();
            self.record.stop_command = f.stop_command.clone();
            if self.adopt_unrecorded(id, "its PID file").await {
                return;
            }
        } else if ProcessId::of(f.pid).is_some_and(|p| p.is_alive()) {
            self.t.log.note(format!(
                "pid {} in {} is not this service's process: left alone",
                f.pid,
                self.t.state.pid_file(self.name()).display()
            ));
        }
        self.record.stop_signal = None;
        self.record.stop_command = None;
        let listed = f.start_time.map(|start_time| ProcessId {
            pid: f.pid,
            start_time,
        });
        match listed {
            // The file tells which process ran, and it has ended; it ran, so it was wanted.
            Some(id) if !id.is_alive() => {
                self.record.wanted = true;
                self.died_while_away(id).await;
            }
            _ => {
                if !self.adopt_found().await {
                    self.set(Status::Stopped).await;
                }
            }
        }
    }

    /// Adopts the service's process found by its marks, if one runs.
    async fn adopt_found(&mut self) -> bool {
        let found = self.t.marks.find(self.name()).await;
        let mut found = found.into_iter();
        for id in found.by_ref() {
            // Checked again: the search may be older than this service's turn.
            if self.t.marks.check(self.name(), id.pid, Some(id.start_time)) == Some(id)
                && self.adopt_unrecorded(id, "its marks").await
            {
                let others: Vec<String> = found.map(|o| o.pid.to_string()).collect();
                if !others.is_empty() {
                    self.t.log.note(format!(
                        "also found with this service's marks: pid {} (left alone)",
                        others.join(", ")
                    ));
                }
                return true;
            }
        }
        false
    }

    /// Adopts a process found without a record: it runs, so it is wanted.
    async fn adopt_unrecorded(&mut self, id: ProcessId, found_by: &str) -> bool {
        self.record.wanted = true;
        self.record.started_at_ms = id.started_at_ms();
        self.adopt(id, &format!(" (found by {found_by})")).await
    }

    /// Supervises `id` from now on; false when it no longer runs.
    async fn adopt(&mut self, id: ProcessId, how: &str) -> bool {
        let Some(exit) = reaper::watch_foreign(id) else {
            return false;
        };
        tracing::info!(
            service = self.name(),
            pid = id.pid,
            "re-adopted running process{how}"
        );
        self.t.log.note(format!(
            "re-adopted pid {} after a daemon restart{how}",
            id.pid
        ));
        self.running = Some(Running {
            id,
            since: Instant::now(),
            exit,
        });
        self.health = self.fresh_health();
        self.set(Status::Running).await;
        true
    }

    /// The process `id` ended while no daemon watched: what it left behind is ended, then the
    /// policy decides, as if it had just exited.
    async fn died_while_away(&mut self, id: ProcessId) {
        tracing::info!(
            service = self.name(),
            pid = id.pid,
            "process died while the daemon was away"
        );
        self.t
            .log
            .note(format!("pid {} died while the daemon was away", id.pid));
        self.kill_leftovers(id).await;
        self.record.process = None;
        self.record.ready = false;
        if !self.record.wanted {
            return self.set(Status::Stopped).await;
        }
        // A copy that a daemon killed before it could save its record started runs
        // unsupervised: it is taken over, not started again beside itself.
        if self.adopt_found().await {
            return;
        }
        self.exited_after(
            ExitInfo::Unknown,
            Duration::ZERO,
            keel_api::HookCause::Recovery,
        )
        .await;
    }
}
