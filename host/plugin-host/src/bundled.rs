//! The plugins compiled into the host, built by `plugins/build.sh` into `plugins/dist/bundled`.

use crate::types::PluginKind;

/// `(name, kind, component bytes)` of every bundled plugin. The name is the file's stem and
/// must be what the plugin's `describe()` says, and the kind its world (checked at load): a
/// host that loads only some of them still knows, and reserves, the others.
pub(crate) const BUNDLED: &[(&str, PluginKind, &[u8])] = &[
    (
        "binary",
        PluginKind::Deployment,
        include_bytes!("../../../plugins/dist/bundled/binary.wasm"),
    ),
    (
        "tcp",
        PluginKind::HealthCheck,
        include_bytes!("../../../plugins/dist/bundled/tcp.wasm"),
    ),
    (
        "http",
        PluginKind::HealthCheck,
        include_bytes!("../../../plugins/dist/bundled/http.wasm"),
    ),
    (
        "docker",
        PluginKind::Deployment,
        include_bytes!("../../../plugins/dist/bundled/docker.wasm"),
    ),
    (
        "docker-compose",
        PluginKind::Deployment,
        include_bytes!("../../../plugins/dist/bundled/docker-compose.wasm"),
    ),
    (
        "command",
        PluginKind::HealthCheck,
        include_bytes!("../../../plugins/dist/bundled/command.wasm"),
    ),
    (
        "file",
        PluginKind::HealthCheck,
        include_bytes!("../../../plugins/dist/bundled/file.wasm"),
    ),
    (
        "unix",
        PluginKind::HealthCheck,
        include_bytes!("../../../plugins/dist/bundled/unix.wasm"),
    ),
];

/// The names of the bundled plugins, without loading any (for shell completion).
pub fn names() -> impl Iterator<Item = &'static str> {
    BUNDLED.iter().map(|(name, _, _)| *name)
}
