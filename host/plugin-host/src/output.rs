//! Bounded capture of a guest's stdout/stderr and of its `log` lines.
//!
//! wasmtime-wasi's `MemoryOutputPipe` reports a full buffer as a closed stream, which makes a
//! Rust guest's `eprintln!` panic; this pipe instead accepts every write, keeps the first
//! [`OUTPUT_CAP`] bytes and counts the rest, so a chatty plugin keeps running and the host keeps
//! a bounded amount of memory.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use crate::types::{LogLevel, LogLine};

/// How much of a call's stdout+stderr is kept.
pub const OUTPUT_CAP: usize = 16 * 1024;
/// The longest log line kept (longer lines are cut).
pub const LOG_LINE_CAP: usize = 4 * 1024;
/// How many log lines one call keeps.
pub const LOG_LINES_CAP: usize = 256;
/// How many bytes of log lines one call keeps.
pub const LOG_BYTES_CAP: usize = 64 * 1024;

#[derive(Default)]
struct Buffer {
    kept: Vec<u8>,
    dropped: usize,
}

/// A cloneable handle on one call's captured output.
#[derive(Clone, Default)]
pub(crate) struct CapturedOutput(Arc<Mutex<Buffer>>);

impl CapturedOutput {
    fn append(&self, bytes: &[u8]) {
        let mut buf = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let room = OUTPUT_CAP.saturating_sub(buf.kept.len());
        let take = room.min(bytes.len());
        buf.kept.extend_from_slice(&bytes[..take]);
        buf.dropped += bytes.len() - take;
    }

    /// The captured text (lossy UTF-8), with a note of how much was dropped.
    pub fn text(&self) -> String {
        let buf = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut text = String::from_utf8_lossy(&buf.kept).into_owned();
        if buf.dropped > 0 {
            text.push_str(&format!("\n[... {} more bytes dropped]", buf.dropped));
        }
        text
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

impl OutputStream for CapturedOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturedOutput {
    async fn ready(&mut self) {}
}

impl AsyncWrite for CapturedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// One call's `log` lines, bounded.
#[derive(Default)]
pub(crate) struct LogBook {
    lines: Vec<LogLine>,
    bytes: usize,
    dropped: usize,
}

impl LogBook {
    /// Records a line (cut to [`LOG_LINE_CAP`]); past the per-call caps lines are counted only.
    pub fn push(&mut self, level: LogLevel, mut message: String) {
        if self.lines.len() >= LOG_LINES_CAP
            || self.bytes + message.len().min(LOG_LINE_CAP) > LOG_BYTES_CAP
        {
            self.dropped += 1;
            return;
        }
        truncate_utf8(&mut message, LOG_LINE_CAP);
        self.bytes += message.len();
        self.lines.push(LogLine { level, message });
    }

    /// The kept lines, with a final note if any were dropped.
    pub fn take(&mut self) -> Vec<LogLine> {
        let mut lines = std::mem::take(&mut self.lines);
        if self.dropped > 0 {
            lines.push(LogLine {
                level: LogLevel::Warn,
                message: format!("[{} more log lines dropped]", self.dropped),
            });
        }
        lines
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary, marking the cut.
pub(crate) fn truncate_utf8(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push_str(" [...]");
}
