//! What "process group alive" means in Keel, for the supervisor (is a service's group empty
//! yet?) and the plugin host (has a timed-out command's group ended?).
//!
//! A group is alive while one of its members has not exited. A zombie has exited: it only
//! waits for its parent (or whoever inherited it) to collect its status, and nothing can
//! signal it away. Counting zombies would make Keel wait for whoever reaps them, and a PID 1
//! that reaps late would hold up every stop and restart of a service that is already dead.

use nix::errno::Errno;
use nix::sys::signal::killpg;
use nix::unistd::Pid;
use procfs::FromRead;
use procfs::process::Stat;

/// Whether process group `pgid` has a live member: a process that is neither a zombie (`Z`)
/// nor dead (`X`).
///
/// Signal 0 to the group answers most calls at once: ESRCH means the group has no member at
/// all. Any other answer (success, or EPERM for a member that is not ours to signal) counts
/// zombies too, so then `/proc` is searched for a member that has not exited.
pub fn group_alive(pgid: i32) -> bool {
    if pgid <= 0 {
        return false; // not a group: 0 and negative numbers mean something else to killpg
    }
    if let Err(Errno::ESRCH) = killpg(Pid::from_raw(pgid), None) {
        return false;
    }
    has_live_member(pgid)
}

/// Searches `/proc` for a process of group `pgid` that has not exited. getpgid(2) tells the
/// members far more cheaply than reading every process's stat, so only the members' are read.
fn has_live_member(pgid: i32) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        // No /proc: signal 0 found a member, and whether it has exited cannot be told.
        return true;
    };
    let group = Pid::from_raw(pgid);
    dir.flatten().any(|entry| {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<i32>().ok()) else {
            return false;
        };
        if nix::unistd::getpgid(Some(Pid::from_raw(pid))) != Ok(group) {
            return false;
        }
        // A process that ended (and was reaped) since the listing has no stat: not a member.
        Stat::from_file(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| stat.pgrp == pgid && !matches!(stat.state, 'Z' | 'X'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::{Child, Command};
    use std::time::{Duration, Instant};

    use nix::sys::signal::Signal;
    use nix::sys::wait::{Id, WaitPidFlag, waitid};

    /// Starts `sh -c script` as the leader of a new process group.
    fn group_of(script: &str) -> Child {
        Command::new("sh")
            .args(["-c", script])
            .process_group(0)
            .spawn()
            .expect("spawn sh")
    }

    /// Waits until `pid` has exited, leaving it a zombie (its status is not collected).
    fn wait_exited_not_reaped(pid: u32) {
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT;
        waitid(Id::Pid(Pid::from_raw(pid as i32)), flags).expect("waitid");
    }

    fn state_of(pid: u32) -> Option<char> {
        Stat::from_file(format!("/proc/{pid}/stat"))
            .ok()
            .map(|s| s.state)
    }

    /// Polls `group_alive` until it says `want` or five seconds pass.
    fn becomes(pgid: i32, want: bool) -> bool {
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if group_alive(pgid) == want {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    #[test]
    fn a_running_group_is_alive_and_a_reaped_one_is_not() {
        let mut leader = group_of("exec sleep 30");
        let pgid = leader.id() as i32;
        assert!(group_alive(pgid));
        killpg(Pid::from_raw(pgid), Signal::SIGKILL).unwrap();
        leader.wait().unwrap();
        assert!(!group_alive(pgid), "an empty group counts as alive");
    }

    #[test]
    fn a_group_of_only_a_zombie_is_not_alive() {
        let mut leader = group_of("exit 0");
        let pgid = leader.id() as i32;
        wait_exited_not_reaped(leader.id());
        assert_eq!(state_of(leader.id()), Some('Z'));
        // The zombie still makes the group exist for the kernel: the answer comes from /proc.
        assert_eq!(killpg(Pid::from_raw(pgid), None), Ok(()));
        assert!(!group_alive(pgid), "a zombie counts as a live member");
        leader.wait().unwrap();
        assert!(!group_alive(pgid));
    }

    #[test]
    fn a_member_outliving_its_zombie_leader_keeps_the_group_alive() {
        // The leader starts a member in its group and exits; nobody reaps the leader yet.
        let mut leader = group_of("sleep 30 & exit 0");
        let pgid = leader.id() as i32;
        wait_exited_not_reaped(leader.id());
        assert_eq!(state_of(leader.id()), Some('Z'));
        assert!(
            group_alive(pgid),
            "the group's sleeping member was not found"
        );
        // Once the member is killed, only zombies (or nothing) are left.
        killpg(Pid::from_raw(pgid), Signal::SIGKILL).unwrap();
        assert!(
            becomes(pgid, false),
            "the killed group still counts as alive"
        );
        leader.wait().unwrap();
    }

    #[test]
    fn numbers_that_are_not_groups_are_not_alive() {
        assert!(!group_alive(0));
        assert!(!group_alive(-1));
    }
}
