//! Per-service logs: lines read from the service's output FIFOs, timestamped, appended to
//! `logs/NAME.log`, rotated by size with a bounded number of old files, and broadcast to
//! followers.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use time::OffsetDateTime;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::sync::{broadcast, mpsc};

use super::files::FilesReady;
use super::process::OutputFifos;

/// Rotation limits.
#[derive(Debug, Clone, Copy)]
pub struct Rotation {
    /// Rotate when the file would grow past this many bytes.
    pub max_bytes: u64,
    /// Keep this many old files (`NAME.log.1` is the newest).
    pub keep: u32,
}

impl Default for Rotation {
    fn default() -> Self {
        Self {
            max_bytes: 10 * 1024 * 1024,
            keep: 5,
        }
    }
}

/// Longest line kept whole; longer output is split.
const MAX_LINE: usize = 16 * 1024;

/// An append-only log file that rotates itself.
pub struct LogFile {
    path: PathBuf,
    file: File,
    size: u64,
    rotation: Rotation,
}

impl LogFile {
    pub fn open(path: &Path, rotation: Rotation) -> std::io::Result<Self> {
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            path: path.to_path_buf(),
            file,
            size,
            rotation,
        })
    }

    /// Appends one already formatted line (with its newline).
    pub fn write_line(&mut self, line: &str) -> std::io::Result<()> {
        if self.size > 0 && self.size + line.len() as u64 > self.rotation.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(line.as_bytes())?;
        self.size += line.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let numbered = |n: u32| PathBuf::from(format!("{}.{n}", self.path.display()));
        if self.rotation.keep == 0 {
            fs::remove_file(&self.path).ok();
        } else {
            fs::remove_file(numbered(self.rotation.keep)).ok();
            for n in (1..self.rotation.keep).rev() {
                fs::rename(numbered(n), numbered(n + 1)).ok();
            }
            fs::rename(&self.path, numbered(1))?;
        }
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

pub(super) fn open_append(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

/// `2026-11-22T04:11:10.123Z`: UTC, fixed width, milliseconds.
pub fn timestamp() -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    OffsetDateTime::now_utc().format(FORMAT).unwrap_or_default()
}

/// Where a log line came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
    /// Keel's own notes about the service (started, exited, restarting...).
    Keel,
    /// A hook's run, by the hook plugin's name (`[hook NAME]`).
    Hook(Arc<str>),
}

impl Stream {
    fn tag(&self) -> std::borrow::Cow<'static, str> {
        match self {
            Stream::Stdout => "stdout".into(),
            Stream::Stderr => "stderr".into(),
            Stream::Keel => "keel".into(),
            Stream::Hook(name) => format!("hook {name}").into(),
        }
    }
}

/// The writing side of one service's log, owned by one task.
#[derive(Clone)]
pub struct ServiceLog {
    notes: mpsc::UnboundedSender<(Stream, String)>,
    lines: broadcast::Sender<Arc<str>>,
    path: PathBuf,
}

impl ServiceLog {
    /// Starts the log task of a service: once `files` are there, it drains both FIFOs
    /// (opened read-write so that they never report end-of-file between two runs of the
    /// service) and Keel's notes (those sent before then wait in the queue).
    pub fn start(
        path: PathBuf,
        fifos: OutputFifos,
        mut files: FilesReady,
        rotation: Rotation,
    ) -> Self {
        let (notes, mut notes_rx) = mpsc::unbounded_channel::<(Stream, String)>();
        // Followers that fall this far behind skip lines (and are told so); it is allocated up
        // front for every service, so it stays small.
        let (lines, _) = broadcast::channel(64);
        let broadcast = lines.clone();
        let log_path = path.clone();
        tokio::spawn(async move {
            // Why the files are missing is said by the service when it cannot start.
            if files.wait().await.is_err() {
                return;
            }
            let opened = (|| {
                let file = LogFile::open(&log_path, rotation)?;
                let open = |p: &Path| pipe::OpenOptions::new().read_write(true).open_receiver(p);
                Ok::<_, std::io::Error>((file, open(&fifos.stdout)?, open(&fifos.stderr)?))
            })();
            let (mut file, out, err) = match opened {
                Ok(x) => x,
                Err(e) => {
                    tracing::error!("cannot open the log {}: {e}", log_path.display());
                    return;
                }
            };
            let (raw_tx, mut raw_rx) = mpsc::channel::<(Stream, String)>(256);
            tokio::spawn(read_lines(out, Stream::Stdout, raw_tx.clone()));
            tokio::spawn(read_lines(err, Stream::Stderr, raw_tx));
            loop {
                let (stream, text) = tokio::select! {
                    Some(x) = raw_rx.recv() => x,
                    Some(x) = notes_rx.recv() => x,
                    else => return,
                };
                let line = format!("{} [{}] {}\n", timestamp(), stream.tag(), text);
                if let Err(e) = file.write_line(&line) {
                    tracing::warn!("cannot write log {}: {e}", file.path.display());
                }
                let _ = broadcast.send(Arc::from(line.as_str()));
            }
        });
        Self { notes, lines, path }
    }

    /// Writes a note from Keel itself into the service's log.
    pub fn note(&self, text: impl Into<String>) {
        let _ = self.notes.send((Stream::Keel, text.into()));
    }

    /// Writes a line about a run of the hook `hook` into the service's log.
    pub fn hook_note(&self, hook: &str, text: impl Into<String>) {
        let _ = self
            .notes
            .send((Stream::Hook(Arc::from(hook)), text.into()));
    }

    /// New lines as they are written.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.lines.subscribe()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

async fn read_lines(mut rx: pipe::Receiver, stream: Stream, tx: mpsc::Sender<(Stream, String)>) {
    // Per stream of every service: small, the kernel keeps the FIFO's 64 KiB.
    let mut buf = vec![0u8; 8 * 1024];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let n = match rx.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        while let Some(i) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=i).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1])
                .trim_end_matches('\r')
                .to_string();
            if tx.send((stream.clone(), text)).await.is_err() {
                return;
            }
        }
        while pending.len() >= MAX_LINE {
            let chunk: Vec<u8> = pending.drain(..MAX_LINE).collect();
            if tx
                .send((stream.clone(), String::from_utf8_lossy(&chunk).into_owned()))
                .await
                .is_err()
            {
                return;
            }
        }
    }
}

/// The last `n` lines of a service's log (current file, then older ones as needed).
pub fn tail(path: &Path, n: usize) -> std::io::Result<Vec<String>> {
    let mut lines: Vec<String> = Vec::new();
    let mut files = vec![path.to_path_buf()];
    for i in 1..=20 {
        let p = PathBuf::from(format!("{}.{i}", path.display()));
        if !p.exists() {
            break;
        }
        files.push(p);
    }
    for f in files {
        if lines.len() >= n {
            break;
        }
        let text = match fs::read_to_string(&f) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let mut older: Vec<String> = text.lines().map(str::to_string).collect();
        let take = older.len().min(n - lines.len());
        let start = older.len() - take;
        let mut chunk: Vec<String> = older.drain(start..).collect();
        chunk.append(&mut lines);
        lines = chunk;
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_by_size_and_keeps_a_bounded_number_of_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("svc.log");
        let mut f = LogFile::open(
            &path,
            Rotation {
                max_bytes: 100,
                keep: 2,
            },
        )
        .unwrap();
        for i in 0..20 {
            f.write_line(&format!("line {i:02} ........................\n"))
                .unwrap();
        }
        assert!(path.exists());
        assert!(dir.path().join("svc.log.1").exists());
        assert!(dir.path().join("svc.log.2").exists());
        assert!(!dir.path().join("svc.log.3").exists());
        for p in ["svc.log", "svc.log.1", "svc.log.2"] {
            assert!(fs::metadata(dir.path().join(p)).unwrap().len() <= 100);
        }
        let last = tail(&path, 5).unwrap();
        assert_eq!(last.len(), 5);
        assert!(last[4].starts_with("line 19"), "{last:?}");
        assert!(last[0].starts_with("line 15"), "{last:?}");
    }
}
