//! How a service's main process is recognised by a daemon that did not start it, when the
//! saved record and PID file cannot say which process it is. The process carries marks of its
//! service: in its environment, `KEEL_SERVICE` (the service's name) and
//! `KEEL_SERVICE_STATE_DIR` (the state directory of the daemon that supervises it); and in its
//! output, which goes into the service's FIFOs (held open for as long as it runs; a process
//! started by an older Keel has only this mark). It also leads a process group of its own,
//! since every service is started as one.
//!
//! Marks are inherited, so a service's children carry them too. A child that set up a group or
//! a session of its own is told apart from the main process: a program that means to leave
//! something running detaches it with `setsid`, and the main process leads no session; of the
//! processes left, the main process is the one none of the others descends from.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::state::{ProcessId, StateDir};

pub const SERVICE_VAR: &str = "KEEL_SERVICE";
pub const STATE_DIR_VAR: &str = "KEEL_SERVICE_STATE_DIR";

/// The marks of one state directory's services, and what a search of the machine's processes
/// found of them (made once per daemon, when a service first needs it).
#[derive(Clone)]
pub struct Marks(Arc<Inner>);

struct Inner {
    /// The state directory as the environment mark spells it: without symbolic links, so a
    /// daemon started through another path to the same directory still recognises it.
    state_dir: String,
    fifo_dir: PathBuf,
    found: OnceCell<HashMap<String, Vec<ProcessId>>>,
}

impl Marks {
    pub fn new(state: &StateDir) -> Self {
        let root = std::fs::canonicalize(state.root()).unwrap_or_else(|_| state.root().into());
        Self(Arc::new(Inner {
            state_dir: root.to_string_lossy().into_owned(),
            fifo_dir: StateDir::new(root).fifo_dir(),
            found: OnceCell::new(),
        }))
    }

    /// The environment entries that mark a process of `service`.
    pub fn env(&self, service: &str) -> [(String, String); 2] {
        [
            (SERVICE_VAR.to_string(), service.to_string()),
            (STATE_DIR_VAR.to_string(), self.0.state_dir.clone()),
        ]
    }

    /// Whether `pid` is the main process of `service`: alive, leading its own process group
    /// (every service is started as one), and either started at `start_time` (the identity a
    /// PID file or record gives: a reused PID has another start time) or, when that is not
    /// known, carrying the service's marks.
    pub fn check(&self, service: &str, pid: i32, start_time: Option<u64>) -> Option<ProcessId> {
        let stat = procfs::process::Process::new(pid).ok()?.stat().ok()?;
        if stat.pgrp != pid || matches!(stat.state, 'Z' | 'X') {
            return None;
        }
        let known = match start_time {
            Some(t) => t == stat.starttime,
            None => self.service_of(pid).as_deref() == Some(service),
        };
        known.then_some(ProcessId {
            pid,
            start_time: stat.starttime,
        })
    }

    /// The running main processes of `service` found by their marks, the most likely first
    /// (normally there is one). The machine is searched once, on the blocking pool, by the
    /// first service that asks; each answer is checked again before it is used.
    pub async fn find(&self, service: &str) -> Vec<ProcessId> {
        let inner = self.0.clone();
        let found = self
            .0
            .found
            .get_or_init(|| async move {
                tokio::task::spawn_blocking(move || inner.search())
                    .await
                    .unwrap_or_default()
            })
            .await;
        found.get(service).cloned().unwrap_or_default()
    }

    /// The service whose marks process `pid` carries.
    fn service_of(&self, pid: i32) -> Option<String> {
        self.0.service_of(pid)
    }
}

impl Inner {
    fn service_of(&self, pid: i32) -> Option<String> {
        if let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) {
            let (mut service, mut dir) = (None, None);
            for entry in environ.split(|b| *b == 0) {
                let text = String::from_utf8_lossy(entry);
                match text.split_once('=') {
                    Some((SERVICE_VAR, v)) => service = Some(v.to_string()),
                    Some((STATE_DIR_VAR, v)) => dir = Some(v.to_string()),
                    _ => {}
                }
            }
            if dir.as_deref() == Some(self.state_dir.as_str()) && service.is_some() {
                return service;
            }
        }
        // Standard output or error going into one of this state directory's FIFOs.
        [1, 2].into_iter().find_map(|fd| {
            let target = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()?;
            fifo_service(&self.fifo_dir, &target)
        })
    }

    /// Every live process on the machine that leads a process group but not a session and
    /// carries the marks of a service of this state directory, by service; for each, those
    /// that descend from none of the others first, oldest first.
    fn search(&self) -> HashMap<String, Vec<ProcessId>> {
        let mut parents = HashMap::new();
        let mut found: HashMap<String, Vec<ProcessId>> = HashMap::new();
        let Ok(all) = procfs::process::all_processes() else {
            return found;
        };
        for stat in all.flatten().filter_map(|p| p.stat().ok()) {
            parents.insert(stat.pid, stat.ppid);
            let leader = stat.pgrp == stat.pid && stat.session != stat.pid;
            if !leader || matches!(stat.state, 'Z' | 'X') {
                continue;
            }
            if let Some(service) = self.service_of(stat.pid) {
                found.entry(service).or_default().push(ProcessId {
                    pid: stat.pid,
                    start_time: stat.starttime,
                });
            }
        }
        for candidates in found.values_mut() {
            let pids: Vec<i32> = candidates.iter().map(|c| c.pid).collect();
            let descends = |pid: i32| {
                let mut at = pid;
                // Bounded: a PID table read while processes come and go may hold a loop.
                for _ in 0..parents.len() {
                    match parents.get(&at) {
                        Some(&parent) if parent > 1 => {
                            if pids.contains(&parent) {
                                return true;
                            }
                            at = parent;
                        }
                        _ => return false,
                    }
                }
                false
            };
            candidates.sort_by_key(|c| (descends(c.pid), c.start_time, c.pid));
        }
        found
    }
}

/// The service whose FIFO `target` (where a process's output goes) is, if it is one in
/// `fifo_dir`.
fn fifo_service(fifo_dir: &Path, target: &Path) -> Option<String> {
    if target.parent()? != fifo_dir {
        return None;
    }
    let name = target.file_name()?.to_str()?;
    let service = name
        .strip_suffix(".out")
        .or_else(|| name.strip_suffix(".err"))?;
    (!service.is_empty()).then(|| service.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_into_a_services_fifo_names_the_service() {
        let dir = Path::new("/st/fifo");
        assert_eq!(
            fifo_service(dir, Path::new("/st/fifo/web.out")).as_deref(),
            Some("web")
        );
        assert_eq!(
            fifo_service(dir, Path::new("/st/fifo/web.err")).as_deref(),
            Some("web")
        );
        // A FIFO of another state directory, a deleted one, a pipe, a terminal.
        for other in [
            "/other/fifo/web.out",
            "/st/fifo/web.out (deleted)",
            "pipe:[1234]",
            "/dev/pts/0",
        ] {
            assert_eq!(fifo_service(dir, Path::new(other)), None, "{other}");
        }
    }

    #[test]
    fn a_marked_group_leader_is_recognised_and_nothing_else() {
        use std::os::unix::process::CommandExt;
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path().to_path_buf());
        let marks = Marks::new(&state);
        let spawn = |env: &[(String, String)], own_group: bool| {
            let mut c = std::process::Command::new("/bin/sleep");
            c.arg("30").envs(env.iter().map(|(k, v)| (k, v)));
            if own_group {
                c.process_group(0);
            }
            c.spawn().unwrap()
        };
        let mut marked = spawn(&marks.env("web"), true);
        let mut unmarked = spawn(&[], true);
        let mut not_leader = spawn(&marks.env("web"), false);
        let other_dir = Marks::new(&StateDir::new(dir.path().join("other")));
        let mut other = spawn(&other_dir.env("web"), true);
        let pid = |c: &std::process::Child| c.id() as i32;

        let id = marks.check("web", pid(&marked), None).expect("recognised");
        assert_eq!(id, ProcessId::of(pid(&marked)).unwrap());
        assert_eq!(marks.check("api", pid(&marked), None), None);
        assert_eq!(marks.check("web", pid(&unmarked), None), None);
        assert_eq!(marks.check("web", pid(&not_leader), None), None);
        assert_eq!(marks.check("web", pid(&other), None), None);
        // With the start time known, that identity decides; a reused PID has another one.
        let start = |c: &std::process::Child| ProcessId::of(pid(c)).unwrap().start_time;
        assert_eq!(
            marks.check("web", pid(&marked), Some(start(&marked))),
            Some(id)
        );
        assert_eq!(
            marks.check("web", pid(&marked), Some(start(&marked) + 1)),
            None
        );
        assert!(
            marks
                .check("web", pid(&unmarked), Some(start(&unmarked)))
                .is_some()
        );
        assert_eq!(
            marks.check("web", pid(&not_leader), Some(start(&not_leader))),
            None
        );
        for c in [&mut marked, &mut unmarked, &mut not_leader, &mut other] {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }
}
