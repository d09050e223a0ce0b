//! [`Settings`]: a plugin's typed settings, from which the SDK derives `validate`, `needs` and
//! the answer of every call made with settings that do not read cleanly.

use crate::reader::Reader;
use crate::types::{self, Capability, Problem};

/// A plugin's settings as a struct. The SDK reads it for every call: `validate` answers the
/// problems the read recorded, `needs` asks [`Settings::needs`] of a clean read, and the calls
/// that do something (a check, a start, a hook's run) reach the plugin only with a clean read.
pub trait Settings: Sized {
    /// Reads every key the plugin knows through `r`, recording a problem (with
    /// [`Reader::problem`]) for anything a getter cannot see, e.g. two keys that contradict.
    ///
    /// Read every key before deciding anything: a key no getter asked for is reported as
    /// unknown. A getter returns `None` both for an absent key and for a wrong one (the problem
    /// is recorded then), so fill required fields with a placeholder (`unwrap_or_default()`):
    /// the struct is used only when no problem was recorded.
    fn read(r: &mut Reader) -> Self;

    /// What a call with these settings needs the operator to grant, e.g.
    /// `Capability::Network("localhost:6379".into())`. Ask for exactly what the call uses.
    fn needs(&self) -> Vec<Capability> {
        Vec::new()
    }
}

/// Reads `T` from a settings table: the value when the table reads cleanly, else every problem
/// (of every key, unknown keys included) in one list.
pub fn read<T: Settings>(settings: &types::Settings) -> Result<T, Vec<Problem>> {
    let mut r = Reader::new(settings);
    let value = T::read(&mut r);
    r.finish(value)
}

/// One line for a list of problems: what a call made with invalid settings answers, e.g.
/// `invalid settings: prot: unknown setting "prot"; did you mean "port"?`.
pub fn problems_text(problems: &[Problem]) -> String {
    let parts: Vec<String> = problems
        .iter()
        .map(|p| {
            if p.key.is_empty() {
                p.message.clone()
            } else {
                format!("{}: {}", p.key, p.message)
            }
        })
        .collect();
    format!("invalid settings: {}", parts.join("; "))
}
