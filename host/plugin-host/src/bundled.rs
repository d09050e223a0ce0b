//! The plugins compiled into the host, built by `plugins/build.sh` into `plugins/dist/bundled`.

/// `(file stem, component bytes)` of every bundled plugin; names come from their `describe()`.
pub(crate) const BUNDLED: &[(&str, &[u8])] = &[
    (
        "binary",
        include_bytes!("../../../plugins/dist/bundled/binary.wasm"),
    ),
    (
        "tcp",
        include_bytes!("../../../plugins/dist/bundled/tcp.wasm"),
    ),
    (
        "http",
        include_bytes!("../../../plugins/dist/bundled/http.wasm"),
    ),
    (
        "docker",
        include_bytes!("../../../plugins/dist/bundled/docker.wasm"),
    ),
    (
        "docker-compose",
        include_bytes!("../../../plugins/dist/bundled/docker-compose.wasm"),
    ),
    (
        "command",
        include_bytes!("../../../plugins/dist/bundled/command.wasm"),
    ),
    (
        "file",
        include_bytes!("../../../plugins/dist/bundled/file.wasm"),
    ),
    (
        "unix",
        include_bytes!("../../../plugins/dist/bundled/unix.wasm"),
    ),
];
