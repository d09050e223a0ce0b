//! Small helpers plugins share: words of a command line, programs run through the host, text
//! for host and I/O errors, authorities, base64 and FNV-1a.

use crate::host::{self, HostError};

/// Splits a command line into words like a POSIX shell does for a simple command: blanks
/// separate words, single quotes keep everything literally, double quotes keep everything but
/// `\"` and `\\`, a backslash outside quotes escapes the next character. No expansion of any
/// kind. An unclosed quote is an error.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(format!("unclosed single quote in {line:?}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(format!("unclosed double quote in {line:?}")),
                        },
                        Some(c) => word.push(c),
                        None => return Err(format!("unclosed double quote in {line:?}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err(format!("a trailing backslash in {line:?}")),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// What a program run through the host's `run-command` printed and how it ended.
pub struct Ran {
    /// The exit code, or none when a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The first non-empty line of stderr, else of stdout, e.g. to explain a failure.
    pub fn first_line(&self) -> &str {
        self.stderr
            .lines()
            .chain(self.stdout.lines())
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("")
    }
}

/// Runs a granted program through the host (no shell) and returns its output as text. The error
/// is the host's reason, e.g. `failed: cannot run `docker`: No such file or directory`.
pub fn run(program: &str, args: &[&str], timeout_ms: u32) -> Result<Ran, HostError> {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let out = host::run_command(program, &args, timeout_ms)?;
    Ok(Ran {
        code: out.exit_code,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Standard base64 with padding (RFC 4648, section 4), as protobuf's JSON mapping writes
/// `bytes` fields (etcd's keys and values).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The 64-bit FNV-1a hash of `parts`, each followed by a zero byte so that `("ab", "c")` and
/// `("a", "bc")` differ: a short, stable name for store keys built from long or arbitrary text.
pub fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.iter().chain(&[0]) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

/// A host error as text, e.g. `denied: path /etc/shadow`.
pub fn host_error_text(error: &HostError) -> String {
    match error {
        HostError::Denied(what) => format!("denied: {what}"),
        HostError::Failed(why) => format!("failed: {why}"),
        HostError::TimedOut => "timed out".to_string(),
    }
}

/// `host:port` as an authority, with an IPv6 address in brackets (`[::1]:8080`).
pub fn authority(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The text of an I/O error without the `(os error N)` suffix or std's "failed to lookup address
/// information: " prefix, starting in lower case (`connection refused`), to fit in the middle of
/// a sentence.
pub fn io_error_text(error: &std::io::Error) -> String {
    let text = error.to_string();
    let text = match text.rfind(" (os error ") {
        Some(at) => &text[..at],
        None => &text,
    };
    let text = text
        .strip_prefix("failed to lookup address information: ")
        .unwrap_or(text);
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => format!("{:?}", error.kind()),
    }
}
