use std::process::ExitCode;

/// mimalloc rather than glibc's malloc: a health check allocates and frees a plugin's store,
/// WASI context and buffers, and with mimalloc the daemon spends less CPU at steady state than
/// with glibc, whose extra time goes largely to `malloc_consolidate` and `free`. Transparent
/// huge pages stay off (`no_thp`): with them its arenas take more resident memory.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
