//! What each service needs in the state directory before it can run: its two output FIFOs and
//! its log file. Creating them costs a journaled create each (three per service), so a daemon
//! does not wait for all of them before it serves: a thread of its own creates them in start
//! order (the services that start first are ready first), and each service waits only for its
//! own, when it first launches a process or opens its log.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::watch;

use super::{logs, process::OutputFifos};
use crate::graph::ServiceGraph;
use crate::state::StateDir;

type Outcome = Option<Result<(), Arc<str>>>;

/// The nice value of the thread that creates the files.
const FILES_NICE: libc::c_int = 5;

/// One service's files: being created, created, or not creatable (with why).
#[derive(Clone)]
pub struct FilesReady(watch::Receiver<Outcome>);

impl FilesReady {
    /// Waits until the files exist; the error says which could not be created and why.
    pub async fn wait(&mut self) -> Result<(), Arc<str>> {
        match self.0.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone().expect("waited for an outcome"),
            Err(_) => Err("the preparation of the state directory ended early".into()),
        }
    }
}

/// The files of every service of a graph, being created in the background.
pub struct ServiceFiles {
    ready: HashMap<String, FilesReady>,
}

impl ServiceFiles {
    /// Starts creating, where missing, the FIFOs and log file of each service of `graph`
    /// (every service of its config), in start order.
    pub fn prepare(graph: &ServiceGraph, state: &StateDir) -> Self {
        let mut ready = HashMap::new();
        let mut senders = Vec::new();
        for name in graph.start_levels().into_iter().flatten() {
            let (tx, rx) = watch::channel(None);
            ready.insert(name.to_string(), FilesReady(rx));
            senders.push((name.to_string(), tx));
        }
        let state = state.clone();
        // A thread of its own, at a lower priority: at start it runs beside the plugins'
        // loading, which every service waits for, while only the first services wait for
        // their files (a nice value cannot be raised again, so not a pool thread).
        let spawned = std::thread::Builder::new()
            .name("keel-files".into())
            .spawn(move || {
                // SAFETY: PRIO_PROCESS with 0 applies to the calling thread only on Linux.
                unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, FILES_NICE) };
                for (name, tx) in senders {
                    let outcome = create(&state, &name).map_err(|e| {
                        tracing::error!(service = %name, "{e}");
                        Arc::<str>::from(e)
                    });
                    tx.send_replace(Some(outcome));
                }
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start the thread that prepares the state directory: {e}");
        }
        Self { ready }
    }

    /// The files of `service`; `None` for a service this preparation does not know.
    pub fn of(&self, service: &str) -> Option<FilesReady> {
        self.ready.get(service).cloned()
    }
}

fn create(state: &StateDir, service: &str) -> Result<(), String> {
    let fifo_dir = state.fifo_dir();
    OutputFifos::create(&fifo_dir, service).map_err(|e| {
        format!(
            "cannot create the output FIFOs of `{service}` in {}: {e}",
            fifo_dir.display()
        )
    })?;
    let log = state.log_file(service);
    logs::open_append(&log)
        .map_err(|e| format!("cannot create the log file {}: {e}", log.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The graph of a config of two services in a temporary directory, and its state
    /// directory, created.
    fn two_services() -> (tempfile::TempDir, ServiceGraph, StateDir) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("services.toml");
        std::fs::write(&path, TWO).unwrap();
        let config = crate::config::load(&path).unwrap();
        let graph = ServiceGraph::build(&config).unwrap();
        let state = StateDir::new(dir.path().join("state"));
        state.create().unwrap();
        (dir, graph, state)
    }

    const TWO: &str = r#"
[services.api]
dependencies = ["db"]
[services.api.deployment]
mode = "binary"
[services.api.deployment.binary]
binary_path = "/bin/true"

[services.db.deployment]
mode = "binary"
[services.db.deployment.binary]
binary_path = "/bin/true"
"#;

    #[tokio::test]
    async fn every_service_gets_its_fifos_and_log_file() {
        let (_dir, graph, state) = two_services();
        let files = ServiceFiles::prepare(&graph, &state);
        for name in ["api", "db"] {
            files.of(name).unwrap().wait().await.unwrap();
            let fifos = OutputFifos::paths(&state.fifo_dir(), name);
            for p in [&fifos.stdout, &fifos.stderr] {
                use std::os::unix::fs::FileTypeExt;
                assert!(std::fs::metadata(p).unwrap().file_type().is_fifo(), "{p:?}");
            }
            assert!(state.log_file(name).is_file());
        }
        assert!(files.of("web").is_none());
    }

    #[tokio::test]
    async fn a_service_whose_files_cannot_be_made_is_told_why() {
        let (_dir, graph, state) = two_services();
        // A plain file where the FIFO directory should be.
        std::fs::remove_dir_all(state.fifo_dir()).unwrap();
        std::fs::write(state.fifo_dir(), "").unwrap();
        let files = ServiceFiles::prepare(&graph, &state);
        let err = files.of("db").unwrap().wait().await.unwrap_err();
        assert!(
            err.contains("cannot create the output FIFOs of `db`"),
            "{err}"
        );
    }
}
