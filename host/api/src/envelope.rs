//! The envelope every answer comes in, and errors with their structured details.

use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};

use crate::preflight::Preflight;

/// A successful answer: `{"success": true, "data": …}`.
#[derive(Debug, Serialize)]
pub struct Success<T> {
    pub success: bool,
    pub data: T,
}

impl<T> Success<T> {
    pub fn new(data: T) -> Self {
        Self {
            success: true,
            data,
        }
    }
}

/// A refusal: `{"success": false, "error": "…", "details": …}` (`details` only where the
/// error has some).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub success: bool,
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<ErrorDetails>,
}

impl Failure {
    pub fn new(error: String, details: Option<ErrorDetails>) -> Self {
        Self {
            success: false,
            error,
            details,
        }
    }
}

/// What some errors carry beside their message, for a client to act on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ErrorDetails {
    /// 412: a start refused by pre-flight; every failed service's report.
    Preflight(Vec<Preflight>),
    /// 409: a stop refused because services that depend on `service` run.
    DependentsRunning {
        service: String,
        dependents: Vec<String>,
    },
    /// 422: a reload refused because the file has problems; every one, located.
    Problems { problems: Vec<String> },
}

/// Either envelope, as a client reads it.
#[derive(Debug, Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
pub struct Reply<T> {
    pub success: bool,
    /// The answer's data (`Some` whenever `success`, also when the data itself is `null`).
    #[serde(default = "none", deserialize_with = "present")]
    pub data: Option<T>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub details: Option<ErrorDetails>,
}

fn none<T>() -> Option<T> {
    None
}

/// A `data` that is there is `Some`, even when it is `null` (for answers that are options).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}
