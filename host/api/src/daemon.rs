//! The daemon itself.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `GET /daemon`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaemonInfo {
    pub pid: u32,
    pub version: String,
    /// The absolute path of the config it serves.
    pub config: PathBuf,
    pub state_dir: PathBuf,
    pub started_at_ms: u64,
}

/// `POST /daemon/shutdown`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShuttingDown {
    pub shutting_down: bool,
}
