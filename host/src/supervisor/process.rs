//! Processes: spawning a launch spec in its own process group with its output going
//! to the service's log FIFOs, signalling the whole group, and waiting for the group to be empty.

use std::ffi::OsString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::state::ProcessId;

/// What to run: the host-side form of a deployment plugin's `launch-spec`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchSpec {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub working_dir: Option<PathBuf>,
    /// Sent to the process group to stop it (default SIGTERM).
    pub stop_signal: Signal,
    /// Run instead of the stop signal; SIGKILL still follows after the grace time.
    pub stop_command: Option<Vec<String>>,
}

impl LaunchSpec {
    pub fn new(program: impl Into<String>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            working_dir: None,
            stop_signal: Signal::SIGTERM,
            stop_command: None,
        }
    }
}

/// Parses "SIGTERM", "TERM" or "15".
pub fn parse_signal(s: &str) -> Option<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).ok();
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse().ok()
}

/// The two FIFOs a service writes its output into. Each is opened read-write on the service's
/// side, so a write never fails with EPIPE while the daemon is away (it blocks once the pipe
/// buffer is full, and the next daemon drains it).
#[derive(Debug, Clone)]
pub struct OutputFifos {
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

impl OutputFifos {
    /// Where the FIFOs of `service` are, in the FIFO directory `dir`.
    pub fn paths(dir: &Path, service: &str) -> Self {
        Self {
            stdout: dir.join(format!("{service}.out")),
            stderr: dir.join(format!("{service}.err")),
        }
    }

    /// Creates the FIFOs of `service` where missing.
    pub fn create(dir: &Path, service: &str) -> std::io::Result<Self> {
        let f = Self::paths(dir, service);
        for p in [&f.stdout, &f.stderr] {
            match nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o600)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(f)
    }
}

fn open_rw(p: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().read(true).write(true).open(p)
}

/// Starts `spec` as the leader of a new process group, stdin from
/// /dev/null, stdout and stderr into the FIFOs, and `descriptor` (a notify check's pipe) at
/// the number it names. Relative programs and working directories are resolved against
/// `base_dir` (the config file's directory).
pub fn spawn(
    spec: &LaunchSpec,
    fifos: &OutputFifos,
    base_dir: &Path,
    descriptor: Option<&(OwnedFd, i32)>,
) -> std::io::Result<ProcessId> {
    let program: OsString = if spec.program.contains('/') && !Path::new(&spec.program).is_absolute()
    {
        base_dir.join(&spec.program).into()
    } else {
        spec.program.clone().into()
    };
    let mut cmd = std::process::Command::new(program);
    cmd.args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(match &spec.working_dir {
            Some(d) if d.is_relative() => base_dir.join(d),
            Some(d) => d.clone(),
            None => base_dir.to_path_buf(),
        })
        .stdin(Stdio::null())
        .stdout(open_rw(&fifos.stdout)?)
        .stderr(open_rw(&fifos.stderr)?);
    // Its own process group, so that stopping it reaches everything it started. No pre_exec
    // hook (but for a notification descriptor, below): without one std spawns through posix_spawn (a vfork-like clone, which also
    // resets the signal mask), not through a fork that copies the daemon's page tables, so a
    // restart costs the daemon little however large it has grown. The daemon that the CLI
    // starts runs in a session of its own with no terminal, so its services have none either.
    cmd.process_group(0);
    if let Some((fd, number)) = descriptor {
        let (from, to) = (fd.as_raw_fd(), *number);
        // std cannot give a child a descriptor at a number of our choosing, so this one
        // launch goes through fork and this hook instead of posix_spawn. Between fork and exec
        // only async-signal-safe calls are allowed: dup2 and fcntl are.
        // SAFETY: the closure makes only those two calls, on descriptors this process owns.
        unsafe {
            cmd.pre_exec(move || {
                // dup2 onto itself would keep close-on-exec set: clear it instead.
                let done = if from == to {
                    libc::fcntl(to, libc::F_SETFD, 0)
                } else {
                    libc::dup2(from, to)
                };
                if done < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let child = cmd.spawn()?;
    let pid = child.id() as i32;
    // The reaper collects the exit status; dropping `Child` neither waits nor kills.
    drop(child);
    Ok(ProcessId::of(pid).unwrap_or(ProcessId { pid, start_time: 0 }))
}

/// Sends `signal` to every process of the group led by `pgid`. A group that is already gone is
/// not an error.
pub fn signal_group(pgid: i32, signal: Signal) -> std::io::Result<()> {
    match killpg(Pid::from_raw(pgid), signal) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Kills (SIGKILL) what is left of a service's process group once its leader has exited:
/// children it started and left behind, which would otherwise outlive the service and run
/// beside its restarted self (systemd does the same for a unit's control group). Returns
/// whether anything was left.
///
/// The group's number is the leader's PID, and the kernel does not give that number to a new
/// process while the group has members; so while no other process has the leader's PID, the
/// members are the leader's. A process with that PID but another start time means the group
/// emptied and the number was reused: nothing is sent.
pub fn kill_leftovers(leader: ProcessId) -> bool {
    if !group_alive(leader.pid)
        || ProcessId::of(leader.pid).is_some_and(|p| p.start_time != leader.start_time)
    {
        return false;
    }
    let _ = signal_group(leader.pid, Signal::SIGKILL);
    true
}

/// Whether any process of the group is left that has not exited: a zombie member does not
/// count (it only waits to be reaped, and nothing can signal it away). One definition for all
/// of Keel, shared with the plugin host.
pub use keel_process::group_alive;

/// Waits until the group is empty or `limit` passes; true when it emptied.
pub async fn wait_group_empty(pgid: i32, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    let mut step = Duration::from_millis(1);
    loop {
        if !group_alive(pgid) {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(step).await;
        step = (step * 2).min(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names() {
        assert_eq!(parse_signal("SIGTERM"), Some(Signal::SIGTERM));
        assert_eq!(parse_signal("int"), Some(Signal::SIGINT));
        assert_eq!(parse_signal("9"), Some(Signal::SIGKILL));
        assert_eq!(parse_signal("SIGNOPE"), None);
    }
}
