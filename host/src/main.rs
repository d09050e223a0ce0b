use std::process::ExitCode;

fn main() -> ExitCode {
    // Before any thread starts: see its documentation.
    keel_plugin_host::quiet_library_backtraces();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KEEL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    keel::cli::run()
}
