//! Diagnostics: one problem in a config file, located by file, line, column and key path.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Maps byte offsets of one source file to 1-based line and column numbers.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    line_starts: Vec<usize>,
    text_len: usize,
}

impl SourceFile {
    pub fn new(path: &Path, text: &str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self {
            path: path.to_path_buf(),
            line_starts,
            text_len: text.len(),
        }
    }

    /// 1-based (line, column) of a byte offset; the column counts bytes, as editors do for ASCII.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text_len);
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        (line + 1, offset - self.line_starts[line] + 1)
    }

    /// A location for a span of this file.
    pub fn locate(&self, span: &Range<usize>) -> Location {
        let (line, column) = self.line_col(span.start);
        Location {
            file: self.path.clone(),
            line,
            column,
        }
    }
}

/// Where a problem is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// One problem found in a config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub location: Location,
    /// The dotted key path, e.g. `services.web.startup.auto_start`; empty for file-level problems.
    pub key: String,
    /// The service the problem belongs to, when it belongs to one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.location, self.message)
        } else {
            write!(f, "{}: {}: {}", self.location, self.key, self.message)
        }
    }
}

/// Every problem found in one file, in file order.
#[derive(Debug, Clone, Default, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }

    pub(crate) fn sort(&mut self) {
        self.0.sort_by(|a, b| {
            (a.location.line, a.location.column).cmp(&(b.location.line, b.location.column))
        });
        self.0.dedup();
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// The closest of `candidates` to `word`, when it is close enough to be a likely typo: Keel's one
/// did-you-mean, the one plugins' settings get through the SDK too.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    keel_suggest::did_you_mean(word, candidates)
}

/// `" (did you mean `x`?)"` or nothing.
pub fn suggestion<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    did_you_mean(word, candidates)
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        let f = SourceFile::new(Path::new("x.toml"), "a = 1\nbb = 2\n");
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(4), (1, 5));
        assert_eq!(f.line_col(6), (2, 1));
        assert_eq!(f.line_col(11), (2, 6));
    }

    #[test]
    fn suggests_close_names_only() {
        let keys = ["auto_start", "start_timeout", "start_order"];
        assert_eq!(did_you_mean("auto_strat", keys), Some("auto_start"));
        assert_eq!(did_you_mean("colour", keys), None);
        assert_eq!(did_you_mean("dsn", ["dns", "git", "ui"]), Some("dns"));
        assert_eq!(did_you_mean("x", ["ui"]), None);
    }

    /// The table the plugin SDK's settings reader is tested against as well.
    #[test]
    fn suggests_what_plugins_suggest() {
        for (typo, expected, candidates) in keel_suggest::cases() {
            assert_eq!(did_you_mean(typo, candidates), expected, "{typo}");
        }
    }
}
