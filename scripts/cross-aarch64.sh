#!/usr/bin/env bash
# The whole test suite for aarch64 (docs/reliability.md, "aarch64").
#
# On an aarch64 machine: builds and runs every test natively.
# Elsewhere: cross-builds every test for aarch64-unknown-linux-gnu
# (`--no-run`), installing the Rust target and the cross linker if needed.
# Running the binaries under qemu-user is not attempted: qemu-user 7.2 hangs
# as soon as a guest creates a thread.
set -euo pipefail
cd "$(dirname "$0")/.."

target=aarch64-unknown-linux-gnu

if [ "$(uname -m)" = aarch64 ]; then
    echo "== aarch64 host: running the suite natively"
    CARGO_TARGET_DIR=target/aarch64-native cargo test --release --tests
    CARGO_TARGET_DIR=target/aarch64-native cargo test --release --test bounded_garbage -- --test-threads 1
    exit 0
fi

rustup target list --installed | grep -qx "$target" || rustup target add "$target"
if ! command -v aarch64-linux-gnu-gcc >/dev/null; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update
    $sudo apt-get install -y gcc-aarch64-linux-gnu
fi

echo "== cross-building every test for $target"
CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    CARGO_TARGET_DIR=target/aarch64 \
    cargo test --release --no-run --tests --target "$target"
