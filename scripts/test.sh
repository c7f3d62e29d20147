#!/usr/bin/env bash
# The project's test command (the one the README names, and the one CI runs):
# formatting, lints, Rust tests, then the real binary driven over HTTP from Python.
set -euo pipefail
cd "$(dirname "$0")/.."

# Style and lints are part of the build: any warning fails it.
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

# Rust unit and integration tests, with cargo's own output and summary lines.
cargo test --workspace

# What the black-box tests need, installed here only when missing, so the README's one
# command works on a fresh machine: Debian's mosquitto (the MQTT broker notifications
# are published to), Debian's chromium (the headless browser of the map test; Playwright's
# own browser downloads are never used) and the pinned Python test clients.
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mosquitto >/dev/null
fi
if [ ! -x /usr/bin/chromium ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk >/dev/null
fi
if ! python3 -c 'import ngsildclient, pytest, requests, paho.mqtt, capparselib, lxml, dateutil, playwright, fhirclient, fhirpy' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
        -r tests/python/requirements.txt
fi

# Black-box tests need the binary itself (tests/python/conftest.py starts it).
cargo build -p kizuna
cargo build -q -p kizuna-cap --example emit
export KIZUNA_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/kizuna"
export KIZUNA_CAP_EMIT="${CARGO_TARGET_DIR:-$PWD/target}/debug/examples/emit"
# -q keeps pytest's summary line ("N passed in ..."); no cache dir left in the tree.
python3 -m pytest -q -p no:cacheprovider tests/python
