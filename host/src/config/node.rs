//! An owned TOML tree that remembers where every key and value came from, with `${VAR}` expanded.
//!
//! The schema walker reads this tree instead of deserializing with serde so that it can report
//! every problem of a file in one run, each with its line and column.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// A value and the byte range it was written at.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub span: Range<usize>,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Datetime(String),
    Array(Vec<Node>),
    Table(Table),
}

/// A table in file order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_span: Range<usize>,
    pub node: Node,
}

impl Table {
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }
}

impl Value {
    /// The TOML name of this value's type, for "expected X, found Y" messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "a string",
            Value::Integer(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Boolean(_) => "a boolean",
            Value::Datetime(_) => "a datetime",
            Value::Array(_) => "an array",
            Value::Table(_) => "a table",
        }
    }
}

/// A `${VAR}` that could not be expanded.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpandError {
    pub span: Range<usize>,
    /// The dotted key path of the string.
    pub key: String,
    pub message: String,
}

/// Converts the parser's tree into [`Node`]s, expanding variables in every string with `lookup`.
pub fn from_toml(
    root: &Spanned<DeTable<'_>>,
    lookup: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<ExpandError>,
) -> Node {
    Node {
        span: root.span(),
        value: Value::Table(convert_table(root.get_ref(), "", lookup, errors)),
    }
}

fn convert_table(
    table: &DeTable<'_>,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<ExpandError>,
) -> Table {
    Table {
        entries: table
            .iter()
            .map(|(k, v)| {
                let key = k.get_ref().to_string();
                let path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                Entry {
                    node: convert(v, &path, lookup, errors),
                    key,
                    key_span: k.span(),
                }
            })
            .collect(),
    }
}

fn convert(
    v: &Spanned<DeValue<'_>>,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<ExpandError>,
) -> Node {
    let span = v.span();
    let value = match v.get_ref() {
        DeValue::String(s) => match expand(s, lookup) {
            Ok(s) => Value::String(s),
            Err(message) => {
                errors.push(ExpandError {
                    span: span.clone(),
                    key: path.to_string(),
                    message,
                });
                Value::String(s.to_string())
            }
        },
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => Value::Integer(n),
            // The parser accepted it, so it is only out of i64's range.
            Err(_) => Value::Float(f64::INFINITY),
        },
        DeValue::Float(f) => Value::Float(f.as_str().parse().unwrap_or(f64::NAN)),
        DeValue::Boolean(b) => Value::Boolean(*b),
        DeValue::Datetime(d) => Value::Datetime(d.to_string()),
        DeValue::Array(a) => Value::Array(
            a.iter()
                .enumerate()
                .map(|(i, v)| convert(v, &format!("{path}[{i}]"), lookup, errors))
                .collect(),
        ),
        DeValue::Table(t) => Value::Table(convert_table(t, path, lookup, errors)),
    };
    Node { span, value }
}

/// Expands `${NAME}` and `${NAME:-default}`; `$$` is a literal `$`. Any other `$` stays as it is,
/// so passwords and shell snippets with a lone `$` are not mangled.
pub fn expand(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .ok_or_else(|| format!("unclosed `${{` in {input:?}"))?;
            let inner = &body[..end];
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            if name.is_empty()
                || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                || name.starts_with(|c: char| c.is_ascii_digit())
            {
                return Err(format!("`${{{inner}}}` is not a valid variable reference"));
            }
            match (lookup(name), default) {
                (Some(v), _) if !(v.is_empty() && default.is_some()) => out.push_str(&v),
                (_, Some(d)) => out.push_str(&expand(d, lookup)?),
                (None, None) => {
                    return Err(format!(
                        "environment variable `{name}` is not set (write `${{{name}:-default}}` to give a default)"
                    ));
                }
                (Some(v), None) => out.push_str(&v),
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/home/u".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_set_variables_and_defaults() {
        assert_eq!(expand("${HOME}/.keel", &env).unwrap(), "/home/u/.keel");
        assert_eq!(expand("${PORT:-8080}", &env).unwrap(), "8080");
        assert_eq!(expand("${EMPTY:-x}", &env).unwrap(), "x");
        assert_eq!(expand("a$b $$ ${HOME}", &env).unwrap(), "a$b $ /home/u");
    }

    #[test]
    fn unset_variable_without_default_names_it() {
        let err = expand("${NOPE}/bin", &env).unwrap_err();
        assert!(err.contains("`NOPE` is not set"), "{err}");
        assert!(expand("${HOME", &env).unwrap_err().contains("unclosed"));
        assert!(expand("${1X}", &env).unwrap_err().contains("not a valid"));
    }
}
