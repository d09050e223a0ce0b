//! The Unix calls of a notify check: the service's datagram socket (with the senders'
//! credentials), the notification descriptor's pipe, and where a sender stands.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::socket::{
    AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType, UnixAddr, UnixCredentials,
    bind, recvmsg, setsockopt, socket, sockopt::PassCred,
};
use nix::unistd::{Pid, Uid, getpgid};

/// The longest datagram read: sd_notify's messages are a few short lines, and systemd reads
/// at most this much too.
const DATAGRAM_MAX: usize = 4096;

/// Binds the service's notification socket at `path` (a previous daemon's is replaced: the
/// path stays the same, so a service it re-adopts reaches this daemon), asking the kernel for
/// every sender's credentials.
pub fn bind_socket(path: &Path) -> std::io::Result<OwnedFd> {
    let fd = socket(
        AddressFamily::Unix,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )?;
    setsockopt(&fd, PassCred, &true)?;
    let addr = UnixAddr::new(path)?;
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    bind(fd.as_raw_fd(), &addr)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(fd)
}

/// One datagram and who sent it.
pub struct Datagram {
    pub data: Vec<u8>,
    /// The sender's credentials, as the kernel vouches for them.
    pub sender: Option<UnixCredentials>,
}

/// Reads one datagram (`WouldBlock` when none waits). Descriptors passed with it (sd_notify's
/// `FDSTORE=1`, or the pipe of systemd-notify's `BARRIER=1`, which waits for it to be
/// closed) are closed at once: Keel keeps none.
pub fn receive(fd: &OwnedFd) -> std::io::Result<Datagram> {
    let mut buf = vec![0u8; DATAGRAM_MAX];
    let mut cmsg = nix::cmsg_space!(UnixCredentials, [RawFd; 253]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(
        fd.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC | MsgFlags::MSG_DONTWAIT,
    )?;
    let len = msg.bytes;
    let mut sender = None;
    for c in msg.cmsgs()? {
        match c {
            ControlMessageOwned::ScmCredentials(c) => sender = Some(c),
            ControlMessageOwned::ScmRights(fds) => {
                for fd in fds {
                    // SAFETY: the kernel has just given this process these descriptors.
                    drop(unsafe { OwnedFd::from_raw_fd(fd) });
                }
            }
            _ => {}
        }
    }
    buf.truncate(len);
    Ok(Datagram { data: buf, sender })
}

/// Where a datagram's sender stands with the service whose process group is `pgid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    /// A member of the service's process group.
    Member,
    /// Gone before its message was read, or from another PID namespace: it cannot be placed.
    Unplaced,
    /// A process of another group, or of another user than the daemon's (or root).
    Outsider,
}

/// Places a sender by its credentials: its user must be the daemon's or root (nobody else can
/// reach the state directory anyway), and its process group the service's.
pub fn place(sender: Option<&UnixCredentials>, pgid: i32) -> Sender {
    let Some(c) = sender else {
        return Sender::Unplaced;
    };
    let uid = Uid::from_raw(c.uid());
    if uid != Uid::effective() && !uid.is_root() {
        return Sender::Outsider;
    }
    if c.pid() <= 0 {
        return Sender::Unplaced;
    }
    match getpgid(Some(Pid::from_raw(c.pid()))) {
        Ok(g) if g.as_raw() == pgid => Sender::Member,
        Ok(_) => Sender::Outsider,
        Err(_) => Sender::Unplaced,
    }
}

/// A pipe for s6's notification-fd: the read end for the daemon (non-blocking), the write
/// end for the service. Both close on exec; the spawn puts the write end where the service
/// expects it.
pub fn notification_pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
    // Only the read end is the daemon's to poll; the service's end blocks as pipes do.
    let flags = nix::fcntl::fcntl(&write, nix::fcntl::FcntlArg::F_GETFL)?;
    let flags = OFlag::from_bits_truncate(flags) & !OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(&write, nix::fcntl::FcntlArg::F_SETFL(flags))?;
    Ok((read, write))
}

/// What reading the pipe found.
#[derive(Debug, PartialEq, Eq)]
pub enum PipeRead {
    Newline,
    /// Bytes without a newline: still waiting.
    Other,
    /// The service closed its end.
    Closed,
}

/// Reads what waits in the pipe (`WouldBlock` when nothing does).
pub fn read_pipe(fd: &OwnedFd) -> std::io::Result<PipeRead> {
    let mut buf = [0u8; 256];
    match nix::unistd::read(fd, &mut buf) {
        Ok(0) => Ok(PipeRead::Closed),
        Ok(n) if buf[..n].contains(&b'\n') => Ok(PipeRead::Newline),
        Ok(_) => Ok(PipeRead::Other),
        Err(Errno::EINTR) => Ok(PipeRead::Other),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    #[test]
    fn a_datagram_arrives_with_its_senders_credentials_and_passed_descriptors_are_closed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.sock");
        // A stale file where the socket goes is replaced.
        std::fs::write(&path, "stale").unwrap();
        let fd = bind_socket(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            receive(&fd).err().map(|e| e.kind()),
            Some(std::io::ErrorKind::WouldBlock)
        );

        let client = UnixDatagram::unbound().unwrap();
        client.send_to(b"READY=1\nSTATUS=up", &path).unwrap();
        let got = receive(&fd).unwrap();
        assert_eq!(got.data, b"READY=1\nSTATUS=up");
        let me = got.sender.expect("credentials");
        assert_eq!(me.pid(), std::process::id() as i32);
        // This test's own process group is its group; another number is not.
        let own = getpgid(None).unwrap().as_raw();
        assert_eq!(place(Some(&me), own), Sender::Member);
        assert_eq!(place(Some(&me), own + 1), Sender::Outsider);
        assert_eq!(place(None, own), Sender::Unplaced);

        // A passed descriptor (systemd-notify's barrier pipe) is closed: its reader sees EOF.
        let (r, w) = nix::unistd::pipe().unwrap();
        let fds = [w.as_raw_fd()];
        let cmsg = [nix::sys::socket::ControlMessage::ScmRights(&fds)];
        let iov = [std::io::IoSlice::new(b"BARRIER=1")];
        let to = UnixAddr::new(&path).unwrap();
        nix::sys::socket::sendmsg(
            client.as_raw_fd(),
            &iov,
            &cmsg,
            MsgFlags::empty(),
            Some(&to),
        )
        .unwrap();
        drop(w);
        assert_eq!(receive(&fd).unwrap().data, b"BARRIER=1");
        let mut buf = [0u8; 1];
        assert_eq!(
            nix::unistd::read(&r, &mut buf),
            Ok(0),
            "the barrier is released"
        );
    }

    #[test]
    fn the_pipe_tells_a_newline_from_other_bytes_and_from_its_end() {
        let (read, write) = notification_pipe().unwrap();
        assert_eq!(
            read_pipe(&read).err().map(|e| e.kind()),
            Some(std::io::ErrorKind::WouldBlock)
        );
        nix::unistd::write(&write, b"x").unwrap();
        assert_eq!(read_pipe(&read).unwrap(), PipeRead::Other);
        nix::unistd::write(&write, b"\n").unwrap();
        assert_eq!(read_pipe(&read).unwrap(), PipeRead::Newline);
        drop(write);
        assert_eq!(read_pipe(&read).unwrap(), PipeRead::Closed);
    }
}
