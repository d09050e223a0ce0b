//! Bounds on what a plugin may answer. wasmtime lifts an answer into host memory in full, but
//! never more than the guest's own (capped) memory holds; past that, anything larger than these
//! limits is refused as malformed rather than passed on to logs, state files or the terminal.

use crate::lifecycle::{Decision, HookPhase, Verdict};
use crate::types::{Capability, Finding, LaunchSpec, Problem, Started, WorkloadStatus};

/// The longest text field accepted in an answer.
pub const MAX_TEXT: usize = 64 * 1024;
/// The most items accepted in a list in an answer.
pub const MAX_ITEMS: usize = 1024;

/// An answer whose size can be checked.
pub(crate) trait Bounded {
    /// `Err` names the field that is too large.
    fn bounded(&self) -> Result<(), String>;

    /// Whether the answer is the plugin reporting an error (counted as such in metrics).
    fn reports_error(&self) -> bool {
        false
    }
}

fn text(what: &str, s: &str) -> Result<(), String> {
    if s.len() > MAX_TEXT {
        Err(format!(
            "{what} is {} bytes, more than the limit of {MAX_TEXT}",
            s.len()
        ))
    } else {
        Ok(())
    }
}

fn items<T>(what: &str, list: &[T]) -> Result<(), String> {
    if list.len() > MAX_ITEMS {
        Err(format!(
            "{what} has {} items, more than the limit of {MAX_ITEMS}",
            list.len()
        ))
    } else {
        Ok(())
    }
}

impl Bounded for () {
    fn bounded(&self) -> Result<(), String> {
        Ok(())
    }
}

impl Bounded for String {
    fn bounded(&self) -> Result<(), String> {
        text("the text", self)
    }
}

impl<T: Bounded> Bounded for Option<T> {
    fn bounded(&self) -> Result<(), String> {
        self.as_ref().map_or(Ok(()), Bounded::bounded)
    }
}

impl<T: Bounded> Bounded for Result<T, String> {
    fn bounded(&self) -> Result<(), String> {
        match self {
            Ok(v) => v.bounded(),
            Err(e) => text("the error message", e),
        }
    }

    fn reports_error(&self) -> bool {
        self.is_err()
    }
}

impl Bounded for Vec<Problem> {
    fn bounded(&self) -> Result<(), String> {
        items("the list of problems", self)?;
        self.iter().try_for_each(|p| {
            text("a problem's key", &p.key)?;
            text("a problem's message", &p.message)
        })
    }
}

impl Bounded for Vec<Capability> {
    fn bounded(&self) -> Result<(), String> {
        items("the list of needs", self)?;
        self.iter()
            .try_for_each(|c| text("a capability", c.target()))
    }
}

impl Bounded for Vec<Finding> {
    fn bounded(&self) -> Result<(), String> {
        items("the list of findings", self)?;
        self.iter().try_for_each(|f| text("a finding", &f.message))
    }
}

impl Bounded for (bool, String) {
    fn bounded(&self) -> Result<(), String> {
        text("the check message", &self.1)
    }
}

impl Bounded for WorkloadStatus {
    fn bounded(&self) -> Result<(), String> {
        text("the status message", &self.message)
    }
}

impl Bounded for LaunchSpec {
    fn bounded(&self) -> Result<(), String> {
        text("the program", &self.program)?;
        items("the arguments", &self.args)?;
        items("the environment", &self.env)?;
        self.args.iter().try_for_each(|a| text("an argument", a))?;
        self.env.iter().try_for_each(|(k, v)| {
            text("an environment name", k)?;
            text("an environment value", v)
        })?;
        self.working_dir
            .as_deref()
            .map_or(Ok(()), |d| text("the working directory", d))?;
        self.stop_signal
            .as_deref()
            .map_or(Ok(()), |s| text("the stop signal", s))?;
        if let Some(cmd) = &self.stop_command {
            items("the stop command", cmd)?;
            cmd.iter()
                .try_for_each(|a| text("a stop command argument", a))?;
        }
        Ok(())
    }
}

impl Bounded for Started {
    fn bounded(&self) -> Result<(), String> {
        match self {
            Started::Launch(spec) => spec.bounded(),
            Started::Handle(h) => text("the handle", h),
        }
    }
}

impl Bounded for Vec<HookPhase> {
    fn bounded(&self) -> Result<(), String> {
        items("the list of phases", self)
    }
}

impl Bounded for Decision {
    fn bounded(&self) -> Result<(), String> {
        match &self.verdict {
            Verdict::Veto(r) | Verdict::Skip(r) | Verdict::Suppress(r) => text("the reason", r)?,
            Verdict::Proceed | Verdict::Delay(_) => {}
        }
        items("the environment", &self.env)?;
        self.env.iter().try_for_each(|(k, v)| {
            text("a variable's name", k)?;
            text("a variable's value", v)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_text_is_refused() {
        let big = "x".repeat(MAX_TEXT + 1);
        assert!(big.bounded().is_err());
        assert!((true, "ok".to_string()).bounded().is_ok());
        assert!(
            (false, big)
                .bounded()
                .unwrap_err()
                .contains("check message")
        );
    }
}
