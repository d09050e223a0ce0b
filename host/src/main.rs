use std::process::ExitCode;

fn main() -> ExitCode {
    // Before any thread starts: see its documentation.
    keel_plugin_host::quiet_library_backtraces();
    let logs = tracing_subscriber::fmt().with_writer(std::io::stderr);
    match tracing_subscriber::EnvFilter::try_from_env("KEEL_LOG") {
        Ok(filter) => logs.with_env_filter(filter).init(),
        // The default (warnings and errors) needs no filter expression parsed at every start.
        Err(_) => logs.with_max_level(tracing::Level::WARN).init(),
    }
    keel::cli::run()
}
