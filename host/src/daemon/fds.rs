//! The daemon's file descriptors. Every service holds a few open for the daemon's whole life
//! (its log file and the read ends of its two output FIFOs), one more while it runs (the
//! pidfd its exit is noticed through) and one while it starts (the timer of its health
//! check's fast polling), so a large platform needs more than the soft limit of
//! 1024 that most systems start a process with. And the kernel's table of a process's
//! descriptors grows by doubling: in a process whose threads already run, each doubling waits
//! for an RCU grace period while every thread that opens a file meanwhile waits too. Both are
//! settled once, at start, before any thread exists.

/// Descriptors a service may hold at once.
const PER_SERVICE: u64 = 5;
/// The daemon's own: sockets, API connections, plugin cache files, the blocking pool's work.
const BASE: u64 = 256;

/// Raises the soft limit on open files to what `services` services need (never above the hard
/// limit, never lowered), and sizes the descriptor table for that many up front. Must run while
/// the process has a single thread. Returns the soft limit in force.
pub fn prepare(services: usize) -> u64 {
    let want = BASE + PER_SERVICE * services as u64;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write or read only the struct given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 1024;
    }
    if lim.rlim_cur < want {
        let raised = libc::rlimit {
            rlim_cur: want.min(lim.rlim_max),
            rlim_max: lim.rlim_max,
        };
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = raised.rlim_cur;
        } else {
            tracing::warn!(
                "cannot raise the open-file limit to {want} (it is {}): a platform this large may run out of file descriptors",
                lim.rlim_cur
            );
        }
    }
    if lim.rlim_cur < want {
        tracing::warn!(
            "the open-file limit is {} but {services} services may need {want}; raise the hard limit (ulimit -Hn, LimitNOFILE=)",
            lim.rlim_cur
        );
    }
    // The kernel sizes the table to the next power of two above the highest descriptor: open
    // one at the top of what is wanted, and close it again; the table stays.
    let top = want.next_power_of_two().min(lim.rlim_cur).saturating_sub(1);
    // SAFETY: plain descriptor calls on descriptors this function owns.
    unsafe {
        let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd >= 0 {
            let high = libc::dup2(fd, top as libc::c_int);
            if high >= 0 && high != fd {
                libc::close(high);
            }
            libc::close(fd);
        }
    }
    lim.rlim_cur
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of this process's descriptor table, from /proc (the `FDSize` line).
    fn table_size() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("FDSize:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    #[test]
    fn the_table_is_sized_and_the_limit_raised_for_the_services() {
        // (Test threads exist already; the sizing works the same, it only costs a grace
        // period here.)
        let limit = prepare(1000);
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
        assert_eq!(lim.rlim_cur, limit);
        let want = BASE + PER_SERVICE * 1000;
        assert!(limit >= want.min(lim.rlim_max), "limit {limit}");
        assert!(
            table_size() >= want.next_power_of_two().min(limit),
            "{}",
            table_size()
        );
        // Nothing is left open at the top.
        let top = want.next_power_of_two().min(limit) - 1;
        assert!(!std::path::Path::new(&format!("/proc/self/fd/{top}")).exists());
    }
}
