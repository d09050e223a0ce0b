//! Keel: a service host. See ARCHITECTURE.md for how the modules fit together.

pub mod cli;
pub mod config;
pub mod daemon;
pub mod graph;
pub mod health;
pub mod metrics;
pub mod plugins;
pub mod state;
pub mod supervisor;
pub mod view;
