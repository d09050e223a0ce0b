//! The state directory: where the daemon keeps PID files, service state, logs and its socket,
//! all written atomically so that a crash at any moment leaves either the old or the new file.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod pid_file;
pub use keel_api::ExitInfo;
pub use pid_file::PidFile;

/// The layout of a state directory (default `~/.keel`).
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// `--state-dir`, else `$KEEL_STATE_DIR`, else `~/.keel`.
    pub fn resolve(flag: Option<&Path>) -> anyhow::Result<Self> {
        let root = match flag {
            Some(p) => p.to_path_buf(),
            None => match std::env::var_os("KEEL_STATE_DIR").filter(|v| !v.is_empty()) {
                Some(p) => PathBuf::from(p),
                None => {
                    let home = std::env::var_os("HOME")
                        .filter(|h| !h.is_empty())
                        .ok_or_else(|| {
                            anyhow::anyhow!("HOME is not set; give --state-dir or KEEL_STATE_DIR")
                        })?;
                    PathBuf::from(home).join(".keel")
                }
            },
        };
        Ok(Self {
            root: std::path::absolute(&root).unwrap_or(root),
        })
    }

    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates the directory tree, every directory 0700 (nothing in it is for other users).
    pub fn create(&self) -> std::io::Result<()> {
        for d in [
            self.root.clone(),
            self.pids_dir(),
            self.logs_dir(),
            self.services_dir(),
            self.fifo_dir(),
            self.notify_dir(),
        ] {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&d)?;
            fs::set_permissions(&d, fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }

    pub fn pids_dir(&self) -> PathBuf {
        self.root.join("pids")
    }
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }
    pub fn services_dir(&self) -> PathBuf {
        self.root.join("state")
    }
    pub fn fifo_dir(&self) -> PathBuf {
        self.root.join("fifo")
    }
    /// The notify checks' sockets (`NOTIFY_SOCKET`), one per service.
    pub fn notify_dir(&self) -> PathBuf {
        self.root.join("notify")
    }
    pub fn notify_socket(&self, service: &str) -> PathBuf {
        self.notify_dir().join(format!("{service}.sock"))
    }
    pub fn socket(&self) -> PathBuf {
        self.root.join("keel.sock")
    }
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("daemon.lock")
    }
    pub fn daemon_log(&self) -> PathBuf {
        self.logs_dir().join("daemon.log")
    }
    /// Compiled plugin code, shared by every state directory of the user, so that a new one
    /// does not compile the plugins again: `$KEEL_CACHE_DIR/plugins` when set, else
    /// `$XDG_CACHE_HOME/keel/plugins`, else `~/.cache/keel/plugins`; `<state>/cache/plugins`
    /// when there is no home.
    pub fn plugin_cache(&self) -> PathBuf {
        let env = |name: &str| {
            std::env::var_os(name)
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
        };
        if let Some(dir) = std::env::var_os("KEEL_CACHE_DIR").filter(|v| !v.is_empty()) {
            return PathBuf::from(dir).join("plugins");
        }
        if let Some(xdg) = env("XDG_CACHE_HOME") {
            return xdg.join("keel").join("plugins");
        }
        match env("HOME") {
            Some(home) => home.join(".cache").join("keel").join("plugins"),
            None => self.root.join("cache").join("plugins"),
        }
    }
    pub fn plugins_dir(&self) -> PathBuf {
        self.root.join("plugins")
    }
    /// Where plugins granted `store` keep their key-value stores, one directory each.
    pub fn plugin_data(&self) -> PathBuf {
        self.root.join("plugin-data")
    }
    pub fn pid_file(&self, service: &str) -> PathBuf {
        self.pids_dir().join(format!("{service}.pid"))
    }
    pub fn record_file(&self, service: &str) -> PathBuf {
        self.services_dir().join(format!("{service}.json"))
    }
    pub fn log_file(&self, service: &str) -> PathBuf {
        self.logs_dir().join(format!("{service}.log"))
    }

    /// Saves a service's record and PID file (or removes the PID file when it has no process).
    pub fn save(&self, record: &ServiceRecord) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(record).expect("serializable");
        atomic_write(&self.record_file(&record.name), &json)?;
        match PidFile::of(record) {
            Some(f) => atomic_write(&self.pid_file(&record.name), f.render().as_bytes()),
            None => remove_if_exists(&self.pid_file(&record.name)),
        }
    }

    /// Reads a service's saved record. A corrupt file is reported as such (the caller warns and
    /// starts from nothing); a missing one is `Ok(None)`.
    pub fn load(&self, service: &str) -> Result<Option<ServiceRecord>, CorruptState> {
        let path = self.record_file(service);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| CorruptState {
                    path,
                    reason: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CorruptState {
                path,
                reason: e.to_string(),
            }),
        }
    }

    /// Reads a service's PID file. A damaged one is reported like a corrupt record; a
    /// missing one is `Ok(None)`.
    pub fn load_pid(&self, service: &str) -> Result<Option<PidFile>, CorruptState> {
        let path = self.pid_file(service);
        let corrupt = |reason: String| CorruptState {
            path: path.clone(),
            reason,
        };
        match fs::read(&path) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes).map_err(|e| corrupt(e.to_string()))?;
                PidFile::parse(&text).map(Some).map_err(corrupt)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(corrupt(e.to_string())),
        }
    }

    /// Moves a corrupt file aside as `FILE.corrupt` (kept for inspection, never silently
    /// deleted; an earlier one of that name is kept too, the new one gets a number) and
    /// returns where it went.
    pub fn quarantine(&self, path: &Path) -> Option<PathBuf> {
        let mut base = path.as_os_str().to_owned();
        base.push(".corrupt");
        let mut aside = PathBuf::from(&base);
        let mut n = 1;
        while aside.exists() {
            n += 1;
            let mut numbered = base.clone();
            numbered.push(format!(".{n}"));
            aside = numbered.into();
        }
        match fs::rename(path, &aside) {
            Ok(()) => Some(aside),
            Err(e) => {
                tracing::warn!("could not move {} aside: {e}", path.display());
                None
            }
        }
    }

    /// Names of services that have a saved record or PID file.
    pub fn saved_services(&self) -> Vec<String> {
        let mut names = Vec::new();
        for (dir, ext) in [(self.services_dir(), "json"), (self.pids_dir(), "pid")] {
            if let Ok(rd) = fs::read_dir(dir) {
                for e in rd.flatten() {
                    let p = e.path();
                    if p.extension().is_some_and(|x| x == ext)
                        && let Some(stem) = p.file_stem().and_then(|s| s.to_str())
                        && !names.iter().any(|n| n == stem)
                    {
                        names.push(stem.to_string());
                    }
                }
            }
        }
        names
    }

    /// Removes everything saved for a service that is no longer in the config.
    pub fn forget(&self, service: &str) -> std::io::Result<()> {
        remove_if_exists(&self.record_file(service))?;
        remove_if_exists(&self.pid_file(service))
    }
}

/// A state file that could not be read back.
#[derive(Debug, thiserror::Error)]
#[error("state file {} is unreadable ({reason})", path.display())]
pub struct CorruptState {
    pub path: PathBuf,
    pub reason: String,
}

/// A process the daemon started, identified by PID *and* start time, so a reused PID is never
/// mistaken for the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessId {
    pub pid: i32,
    /// The process's start time in clock ticks since boot (`/proc/PID/stat`, field 22).
    pub start_time: u64,
}

impl ProcessId {
    /// The identity of a live process, or `None` when there is no such process.
    pub fn of(pid: i32) -> Option<Self> {
        let stat = procfs::process::Process::new(pid).ok()?.stat().ok()?;
        Some(Self {
            pid,
            start_time: stat.starttime,
        })
    }

    /// Whether this very process still exists (not a zombie, not a new process with its PID).
    pub fn is_alive(&self) -> bool {
        procfs::process::Process::new(self.pid)
            .and_then(|p| p.stat())
            .is_ok_and(|s| s.starttime == self.start_time && s.state != 'Z' && s.state != 'X')
    }

    /// When this process started, in Unix time (milliseconds, to the clock tick): for a process
    /// taken back without the record that said when it started.
    pub fn started_at_ms(&self) -> Option<u64> {
        use nix::time::{ClockId, clock_gettime};
        // The start time counts ticks since boot, on the clock that includes suspend.
        let up = clock_gettime(ClockId::CLOCK_BOOTTIME).ok()?;
        let up_ms = up.tv_sec() as u64 * 1000 + up.tv_nsec() as u64 / 1_000_000;
        let start_ms = self.start_time * 1000 / procfs::ticks_per_second();
        Some(now_ms().saturating_sub(up_ms.saturating_sub(start_ms)))
    }
}

/// What the daemon saves about one service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceRecord {
    pub name: String,
    /// The supervised process, when one runs.
    pub process: Option<ProcessId>,
    /// A deployment plugin's handle, for workloads the plugin runs itself.
    #[serde(default)]
    pub handle: Option<String>,
    /// Whether the user wants it running (so a daemon restart brings it back).
    pub wanted: bool,
    /// Unix time in milliseconds of the current process's start.
    pub started_at_ms: Option<u64>,
    pub restarts: u32,
    pub last_exit: Option<ExitInfo>,
    /// Why it is `failed`, when it is.
    pub failed: Option<String>,
    /// How the current process is to be stopped (from its launch spec), so that a daemon that
    /// re-adopts it stops it the same way: a signal name and an optional stop command.
    #[serde(default)]
    pub stop_signal: Option<String>,
    #[serde(default)]
    pub stop_command: Option<Vec<String>>,
    /// The last hook run that refused something, with its reason.
    #[serde(default)]
    pub last_hook: Option<keel_api::HookRun>,
    /// The current process said it is ready (a notify check): a daemon that re-adopts it
    /// takes it as ready, since it will not say so again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ready: bool,
}

impl ServiceRecord {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            process: None,
            handle: None,
            wanted: false,
            started_at_ms: None,
            restarts: 0,
            last_exit: None,
            failed: None,
            stop_signal: None,
            stop_command: None,
            last_hook: None,
            ready: false,
        }
    }
}

/// Writes `bytes` to `path` so that readers see the old or the new content, never a mix: a
/// temporary file in the same directory, renamed over the old one.
///
/// Not fsynced. What the state directory holds describes processes, which do not outlive the
/// machine; the daemon's own crash or kill leaves the page cache, so the next daemon reads
/// what was renamed (as systemd keeps its runtime state in a tmpfs). An fsync would wait for a
/// journal commit on every write, so on every start, stop and restart. After a power loss the
/// file is the old or the new record (ext4, xfs and btrfs flush a file renamed over another
/// before the rename), or at worst unreadable, and an unreadable record is moved aside with a
/// warning like any other.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

fn remove_if_exists(path: &Path) -> std::io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_corruption_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let s = StateDir::new(dir.path().join("st"));
        s.create().unwrap();
        let mode = fs::metadata(s.root()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let mut r = ServiceRecord::new("web");
        r.process = ProcessId::of(std::process::id() as i32);
        r.wanted = true;
        s.save(&r).unwrap();
        assert_eq!(s.load("web").unwrap(), Some(r.clone()));
        let pid_file = fs::read_to_string(s.pid_file("web")).unwrap();
        assert_eq!(
            pid_file.lines().next(),
            Some(&*std::process::id().to_string())
        );
        assert_eq!(s.load_pid("web").unwrap(), PidFile::of(&r));
        assert_eq!(s.saved_services(), vec!["web".to_string()]);

        fs::write(s.record_file("web"), b"{ not json").unwrap();
        let err = s.load("web").unwrap_err();
        assert!(err.to_string().contains("web.json is unreadable"), "{err}");
        assert_eq!(s.load("other").unwrap(), None);
        fs::write(s.pid_file("web"), b"\xff\xfe").unwrap();
        let err = s.load_pid("web").unwrap_err();
        assert!(err.to_string().contains("web.pid is unreadable"), "{err}");
        assert_eq!(s.load_pid("other").unwrap(), None);
    }

    #[test]
    fn a_corrupt_file_is_set_aside_without_replacing_an_earlier_one() {
        let dir = tempfile::tempdir().unwrap();
        let s = StateDir::new(dir.path().to_path_buf());
        s.create().unwrap();
        let path = s.record_file("web");
        for n in 1..=3 {
            fs::write(&path, format!("bad {n}")).unwrap();
            s.quarantine(&path).unwrap();
        }
        assert!(!path.exists());
        let aside = |suffix: &str| {
            fs::read_to_string(s.services_dir().join(format!("web.json.corrupt{suffix}"))).unwrap()
        };
        assert_eq!(aside(""), "bad 1");
        assert_eq!(aside(".2"), "bad 2");
        assert_eq!(aside(".3"), "bad 3");
    }

    #[test]
    fn identity_includes_start_time() {
        let me = ProcessId::of(std::process::id() as i32).unwrap();
        assert!(me.is_alive());
        let reused = ProcessId {
            start_time: me.start_time + 1,
            ..me
        };
        assert!(
            !reused.is_alive(),
            "same PID, other start time: another process"
        );
        let started = me.started_at_ms().unwrap();
        let age = now_ms() - started;
        // This test process started at most a few minutes ago (and not in the future).
        assert!(age < 600_000, "started {age} ms ago");
    }
}
