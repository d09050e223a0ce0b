#!/usr/bin/env bash
# Builds Keel's bundled plugins and the host's test fixtures (WebAssembly components for
# wasm32-wasip2) and copies them to dist/:
#
#   dist/bundled/<name>.wasm    from bundled/<name>   (embedded by the host with include_bytes!)
#   dist/fixtures/<name>.wasm   from fixtures/<name>  (used by the host's tests)
#
# The outputs are committed, so the build is reproducible: the same sources, Cargo.lock and
# pinned toolchain (rust-toolchain.toml) give the same bytes wherever the checkout, CARGO_HOME
# or target directory is. Absolute paths that could end up in a binary (panic locations of
# dependencies, for instance) are remapped to fixed prefixes.
#
#   ./build.sh           build and update dist/
#   ./build.sh --check   build in a fresh temporary target directory and compare with dist/;
#                        exits 1 naming every file that differs (or is missing or extra); also
#                        builds the smallest check as a crate outside this workspace that
#                        depends on the SDK alone (by path), as a third party's would
#
# Both first check that the SDK's copy of the WIT (sdk/wit, which authors outside the repository
# build against) is the host's wit/0.1.2.
set -euo pipefail

usage() { echo "usage: $0 [--check]" >&2; exit 2; }
check=false
case "${1-}" in
    "") ;;
    --check) check=true ;;
    *) usage ;;
esac
[ $# -le 1 ] || usage

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
repo="$(cd "$here/.." && pwd -P)"   # the plugins read ../wit from here
cd "$here"

if ! cmp -s "$here/sdk/wit/keel-plugin.wit" "$repo/wit/0.1.2/keel-plugin.wit"; then
    echo "sdk/wit/keel-plugin.wit differs from wit/0.1.2/keel-plugin.wit: the SDK must carry" \
        "the WIT the host binds (copy it)" >&2
    exit 1
fi

# rust-toolchain.toml pins the compiler; with RUSTUP_AUTO_INSTALL=0 rustup will not fetch it (or
# the target) by itself. Both commands are quick no-ops when everything is installed.
rustup toolchain install --no-self-update >/dev/null
rustup target add wasm32-wasip2 >/dev/null

cargo_home="$(cd "${CARGO_HOME:-$HOME/.cargo}" && pwd -P)"
if $check; then
    target_dir="$(mktemp -d "${TMPDIR:-/tmp}/keel-plugins-check.XXXXXX")"
    trap 'rm -rf "$target_dir"' EXIT
else
    target_dir="${CARGO_TARGET_DIR:-$here/target}"
    mkdir -p "$target_dir"
    target_dir="$(cd "$target_dir" && pwd -P)"
fi

# rustc applies the last matching prefix, so the more specific ones come later.
export RUSTFLAGS="--remap-path-prefix=$repo=/keel --remap-path-prefix=$cargo_home=/cargo --remap-path-prefix=$target_dir=/target"
export CARGO_TARGET_DIR="$target_dir"
# Anything that would change the code generated, other than the flags above, stays out.
unset CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_PROFILE_RELEASE_DEBUG

cargo build --locked --release --target wasm32-wasip2 --workspace

out="$target_dir/wasm32-wasip2/release"
if $check; then
    dist="$target_dir/dist"
else
    dist="$here/dist"
fi
rm -rf "$dist/bundled" "$dist/fixtures"
mkdir -p "$dist/bundled" "$dist/fixtures"
for dir in bundled/*/; do
    name="$(basename "$dir")"
    cp "$out/keel_plugin_${name//-/_}.wasm" "$dist/bundled/$name.wasm"
done
for dir in fixtures/*/; do
    name="$(basename "$dir")"
    cp "$out/keel_fixture_${name//-/_}.wasm" "$dist/fixtures/$name.wasm"
done

if ! $check; then
    (cd "$dist" && ls -l bundled/*.wasm fixtures/*.wasm | awk '{ printf "%9d  dist/%s\n", $5, $9 }')
    exit 0
fi

# A plugin crate outside this workspace, depending on nothing but the SDK by path: the smallest
# check (fixtures/third-party-echo's source) as a third party would build it.
outside="$target_dir/outside/echo-check"
mkdir -p "$outside/src"
cp fixtures/third-party-echo/src/lib.rs "$outside/src/lib.rs"
# The workspace's lock pins the same versions; cargo drops what this crate does not use.
cp Cargo.lock "$outside/Cargo.lock"
cp rust-toolchain.toml "$outside/"
cat >"$outside/Cargo.toml" <<EOF
[package]
name = "echo-check"
version = "0.1.0"
edition = "2024"

[lib]
crate-type = ["cdylib"]

[dependencies]
keel-plugin-sdk = { path = "$here/sdk" }

[workspace]
EOF
if ! (cd "$outside" && cargo build --offline --release --target wasm32-wasip2 --quiet) ||
    [ ! -s "$target_dir/wasm32-wasip2/release/echo_check.wasm" ]; then
    echo "a plugin crate outside the workspace, on the SDK alone, does not build" >&2
    exit 1
fi
echo "a plugin crate outside the workspace builds on the SDK alone"

# Compare the fresh build with the committed files, both ways.
status=0
for file in $( (cd "$dist" && ls bundled/*.wasm fixtures/*.wasm; cd "$here/dist" && ls bundled/*.wasm fixtures/*.wasm 2>/dev/null) | sort -u); do
    if [ ! -f "$here/dist/$file" ]; then
        echo "MISSING: dist/$file is not committed (the sources build it)" >&2; status=1
    elif [ ! -f "$dist/$file" ]; then
        echo "EXTRA:   dist/$file is committed but nothing builds it any more" >&2; status=1
    elif ! cmp -s "$dist/$file" "$here/dist/$file"; then
        echo "DIFFERS: dist/$file does not match a fresh build of its sources" >&2; status=1
    fi
done
if [ $status -ne 0 ]; then
    echo "plugins/dist is out of date: run plugins/build.sh and commit plugins/dist" >&2
else
    echo "plugins/dist matches a fresh build"
fi
exit $status
