//! The child processes of the gated `run-command` host function: spawning a command so that its
//! exit status reaches the call, collecting its bounded output, and killing its whole process
//! group at the timeout.
//!
//! The assumption this rests on: the embedder reaps every child. Keel's daemon is a child
//! subreaper whose reaper collects every child's status with `waitpid(-1)` (and so every zombie
//! that is re-parented to it). Hence nothing here counts on collecting a status itself: the
//! command's status travels through a pipe from a watcher process ([`WatchedCommand`]), and
//! after a kill the call waits only until the group has no live member (zombies do not count,
//! see [`keel_process::group_alive`]), never for the processes to be reaped.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::bindings::v0_1::host_api::{CommandOutput, HostError};

/// The most of each output stream of a command that is kept.
pub const COMMAND_OUTPUT_CAP: usize = 64 * 1024;

/// Reads up to `cap` bytes, then keeps draining (and dropping) so the writer never blocks.
async fn read_capped(reader: Option<impl AsyncRead + Unpin>, cap: usize) -> Vec<u8> {
    let Some(mut reader) = reader else {
        return Vec::new();
    };
    let mut kept = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = cap.saturating_sub(kept.len());
                kept.extend_from_slice(&chunk[..n.min(room)]);
            }
        }
    }
    kept
}

/// A `run-command` process whose exit status does not depend on `waitpid` in this process.
///
/// Keel's daemon is a child subreaper whose reaper collects *every* child's status with
/// `waitpid(-1)`, so a plain `Child::wait` here could find the status already taken (ECHILD).
/// Instead the direct child is a tiny watcher: forked again in `pre_exec`, the grandchild execs
/// the program while the watcher waits for it and writes its raw wait status into a pipe, then
/// exits. The grandchild is not this process's child, so nobody else can reap it; the watcher's
/// own status is of no interest. Exec errors still reach `spawn` through std's error pipe (the
/// grandchild inherits it; the watcher closes its copy), so a missing program fails as usual.
/// Both run in a new process group, killed as a whole at the timeout.
pub(crate) struct WatchedCommand {
    child: tokio::process::Child,
    status: std::fs::File,
}

impl WatchedCommand {
    pub(crate) fn spawn(
        program: &str,
        args: &[String],
        dir: Option<&Path>,
    ) -> std::io::Result<Self> {
        use std::os::fd::FromRawFd;
        // A missing program is reported without spawning: std's spawn waits for a child whose
        // exec failed, and that status could be taken by a reaper elsewhere in the process.
        find_program(program, dir)?;
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills two descriptors or fails; both are owned below.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: fresh descriptors from pipe2, owned by nothing else.
        let (read, write) = unsafe {
            (
                std::fs::File::from_raw_fd(fds[0]),
                std::os::fd::OwnedFd::from_raw_fd(fds[1]),
            )
        };
        let read_fd = fds[0];
        let write_fd = fds[1];
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env_clear()
            .process_group(0)
            .kill_on_drop(true);
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        // SAFETY: the closure runs in the forked child and calls only async-signal-safe
        // functions (fork, close, waitpid, write, _exit).
        unsafe {
            command.pre_exec(move || {
                libc::close(read_fd);
                let pid = libc::fork();
                if pid < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if pid == 0 {
                    // The grandchild goes on to exec the program; the status pipe is
                    // close-on-exec.
                    return Ok(());
                }
                // The watcher: close everything but the status pipe (std's exec-error pipe
                // among them, so spawn returns as soon as the grandchild has exec'ed).
                for fd in 3..4096 {
                    if fd != write_fd {
                        libc::close(fd);
                    }
                }
                let mut status: libc::c_int = 0;
                loop {
                    let r = libc::waitpid(pid, &mut status, 0);
                    if r == pid {
                        break;
                    }
                    if r < 0 && *libc::__errno_location() != libc::EINTR {
                        libc::_exit(1);
                    }
                }
                let bytes = status.to_ne_bytes();
                libc::write(write_fd, bytes.as_ptr().cast(), bytes.len());
                libc::_exit(0);
            });
        }
        let child = command.spawn();
        drop(write);
        let child = child?;
        Ok(Self {
            child,
            status: read,
        })
    }

    /// Collects the output and the status, or kills the process group at the timeout.
    pub(crate) async fn finish(
        mut self,
        program: &str,
        timeout: Duration,
    ) -> Result<CommandOutput, HostError> {
        let stdout = self.child.stdout.take();
        let stderr = self.child.stderr.take();
        let mut status_pipe = tokio::fs::File::from_std(self.status);
        let status = async move {
            let mut raw = Vec::new();
            status_pipe.read_to_end(&mut raw).await.map(|_| raw)
        };
        let run = async {
            tokio::join!(
                read_capped(stdout, COMMAND_OUTPUT_CAP),
                read_capped(stderr, COMMAND_OUTPUT_CAP),
                status
            )
        };
        let pgid = self.child.id().map(|p| p as i32);
        match tokio::time::timeout(timeout, run).await {
            Ok((stdout, stderr, Ok(raw))) if raw.len() == 4 => {
                let status = i32::from_ne_bytes(raw.try_into().expect("four bytes"));
                let exit_code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
                Ok(CommandOutput {
                    exit_code,
                    stdout,
                    stderr,
                })
            }
            Ok(_) => Err(HostError::Failed(format!(
                "the exit status of `{program}` was lost (its watcher process was killed)"
            ))),
            Err(_) => {
                // Kill the whole group (watcher and program) before the plugin sees the answer.
                if let Some(pgid) = pgid {
                    // SAFETY: killpg with a process group this call created.
                    unsafe { libc::killpg(pgid, libc::SIGKILL) };
                }
                let _ = self.child.start_kill();
                // A timed-out command is gone when the caller hears of it, not just signalled:
                // reap the watcher, then wait (briefly) until no process of the group is alive.
                let gone = async {
                    let _ = self.child.wait().await;
                    while pgid.is_some_and(keel_process::group_alive) {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                };
                let _ = tokio::time::timeout(KILL_WAIT, gone).await;
                Err(HostError::TimedOut)
            }
        }
    }
}

/// How long a timed-out command's call waits for its killed processes to end (they are dead
/// within microseconds unless the machine is very busy; the call's own deadline leaves room).
const KILL_WAIT: Duration = Duration::from_millis(200);

/// Checks that `program` names an existing file: a path (relative to `dir`), or a bare name
/// found in a directory of PATH.
fn find_program(program: &str, dir: Option<&Path>) -> std::io::Result<()> {
    let exists = |p: &Path| p.is_file();
    let found = if program.contains('/') {
        let p = Path::new(program);
        match dir {
            Some(dir) if p.is_relative() => exists(&dir.join(p)),
            _ => exists(p),
        }
    } else {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|d| exists(&d.join(program))))
    };
    if found {
        Ok(())
    } else {
        Err(std::io::Error::from_raw_os_error(libc::ENOENT))
    }
}
