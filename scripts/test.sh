#!/usr/bin/env bash
# The project's test command (the one the README names, and the one CI runs):
# formatting and lints, the Rust tests, the real binary driven over HTTP from Python,
# every fuzz target for a fixed time, and a quick benchmark run (kizuna-bench --quick).
#
# With CI=true (as CI runs it) the suite is strict: a test that did not run — a skipped
# or expected-to-fail Python test, an `#[ignore]`d Rust test — fails it, so a green CI
# means every test ran and passed. A self-check plants each of those and expects the
# runners below to fail on it.
#
# Needs root only for Debian packages that are missing (mosquitto, chromium,
# fonts-noto-cjk, python3-venv): as root they are installed, otherwise the command to
# install them is printed. Everything else stays in the project or the user's home: the
# Python test clients in a virtual environment (.venv/, git-ignored; Debian's Python
# refuses a global `pip install`, PEP 668, and a global one could change the user's own
# packages), cargo-fuzz in ~/.cargo/bin.
#
# Knobs: KIZUNA_FUZZ_SECONDS (per fuzz target, default 30; 0 builds the targets but does
# not run them), KIZUNA_VENV (default .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

STRICT=false
case "$(printf '%s' "${CI:-}" | tr '[:upper:]' '[:lower:]')" in true | 1 | yes) STRICT=true ;; esac
FUZZ_SECONDS="${KIZUNA_FUZZ_SECONDS:-30}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
started=$SECONDS
step() { printf '\n==> %s (%d s in)\n' "$*" "$((SECONDS - started))"; }

# ---------------------------------------------------------------------------------
# What the suite needs from outside the project.
# ---------------------------------------------------------------------------------

# need_debian PACKAGE... : installs the missing Debian packages when root, else names
# the command that would and fails.
need_debian() {
    [ "$#" -gt 0 ] || return 0
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    else
        echo "scripts/test.sh: missing Debian packages; as root run: apt-get install $*" >&2
        exit 1
    fi
}

# Debian's mosquitto (the MQTT broker notifications are published to), Debian's chromium
# (the headless browser of the map test; Playwright's own browser downloads are never
# used) with fonts-noto-cjk (the map's Japanese labels in its screenshots), and the
# venv module of the python3 that runs the black-box tests.
missing=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -d /usr/share/fonts/opentype/noto ] || missing+=(fonts-noto-cjk)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
need_debian "${missing[@]}"

# The pinned Python test clients, in the project's own virtual environment, installed
# again whenever tests/python/requirements.txt changes.
VENV="${KIZUNA_VENV:-$ROOT/.venv}"
if ! "$VENV/bin/python" -c '' 2>/dev/null; then
    step "creating the Python virtual environment $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
want="$(sha256sum tests/python/requirements.txt | cut -d' ' -f1)"
if [ "$(cat "$VENV/.kizuna-requirements" 2>/dev/null)" != "$want" ]; then
    step "installing tests/python/requirements.txt into $VENV"
    "$PY" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
        -r tests/python/requirements.txt
    echo "$want" >"$VENV/.kizuna-requirements"
fi

# cargo-fuzz, for the fuzz targets (built from crates.io into ~/.cargo/bin).
if ! cargo fuzz --version >/dev/null 2>&1; then
    step "installing cargo-fuzz"
    cargo install --quiet --locked cargo-fuzz --version 0.13.2
fi

# ---------------------------------------------------------------------------------
# The runners, each used for the real suite and for the self-check alike.
# ---------------------------------------------------------------------------------

# run_pytest ARGS... : pytest from the venv with strict_outcomes (skips, xfails and
# xpasses fail the run when CI=true); -q keeps pytest's summary line ("N passed in ...");
# no cache dir is left in the tree.
run_pytest() {
    PYTHONPATH="$ROOT/tests/python${PYTHONPATH:+:$PYTHONPATH}" \
        "$PY" -m pytest -q -p no:cacheprovider -p strict_outcomes "$@"
}

# run_cargo_test ARGS... : `cargo test ARGS`, with its own output and summary lines;
# when CI=true a test result line with ignored tests fails it.
run_cargo_test() {
    local log
    log="$(mktemp)"
    cargo test "$@" 2>&1 | tee "$log"
    local ignored
    ignored="$(grep -E '^test result: .*; [1-9][0-9]* ignored;' "$log" || true)"
    rm -f "$log"
    if [ -n "$ignored" ] && $STRICT; then
        echo "scripts/test.sh: CI counts ignored Rust tests as failures (run them, or delete them):" >&2
        echo "$ignored" >&2
        return 1
    fi
}

# ---------------------------------------------------------------------------------
# Self-check: each way a test can "not run" is planted and must fail the runner in
# CI mode; a plain pass must not.
# ---------------------------------------------------------------------------------
self_check() {
    local plant outcome status failed=0
    plant="$(mktemp -d)"
    cat >"$plant/test_pass.py" <<'EOF'
def test_pass():
    assert True
EOF
    cat >"$plant/test_module_skip.py" <<'EOF'
import pytest
pytest.skip("planted module-level skip", allow_module_level=True)
EOF
    cat >"$plant/test_skip.py" <<'EOF'
import pytest
def test_pass():
    assert True
def test_skip():
    pytest.skip("planted skip")
EOF
    cat >"$plant/test_xfail.py" <<'EOF'
import pytest
@pytest.mark.xfail(reason="planted xfail")
def test_xfail():
    assert False
EOF
    cat >"$plant/test_xpass.py" <<'EOF'
import pytest
@pytest.mark.xfail(reason="planted xpass")
def test_xpass():
    assert True
EOF
    for f in test_pass test_module_skip test_skip test_xfail test_xpass; do
        status=0
        # Each beside a passing test, as a skip would sit in the real suite.
        (cd "$plant" && CI=true run_pytest test_pass.py "$f.py") >"$plant/$f.log" 2>&1 || status=$?
        if [ "$f" = test_pass ]; then outcome=0; else outcome=1; fi
        if [ "$status" != "$outcome" ]; then
            echo "self-check: pytest on a planted $f exited $status under CI=true, expected $outcome:" >&2
            cat "$plant/$f.log" >&2
            failed=1
        fi
    done
    # A Rust crate with an ignored test, tested through run_cargo_test.
    mkdir -p "$plant/crate/src"
    printf '[package]\nname = "planted"\nversion = "0.0.0"\nedition = "2021"\n\n[workspace]\n' \
        >"$plant/crate/Cargo.toml"
    printf '#[test]\nfn runs() {}\n\n#[test]\n#[ignore]\nfn ignored() {}\n' >"$plant/crate/src/lib.rs"
    status=0
    (STRICT=true CARGO_TARGET_DIR="$plant/target" run_cargo_test --quiet --manifest-path "$plant/crate/Cargo.toml") >"$plant/cargo.log" 2>&1 || status=$?
    if [ "$status" = 0 ]; then
        echo "self-check: run_cargo_test passed a crate with an #[ignore]d test under CI=true:" >&2
        cat "$plant/cargo.log" >&2
        failed=1
    fi
    rm -rf "$plant"
    if [ "$failed" != 0 ]; then
        echo "scripts/test.sh: the self-check failed: a test that does not run could pass CI unseen" >&2
        exit 1
    fi
    echo "self-check: a planted skip, module skip, xfail, xpass and #[ignore]d Rust test each fail the runners under CI=true; a plain pass does not"
}

# ---------------------------------------------------------------------------------
# The suite.
# ---------------------------------------------------------------------------------

step "self-check of the strict runners"
# self_check's runs force strictness through STRICT, read by run_cargo_test.
self_check

# Style and lints are part of the build: any warning fails it. The fuzz targets are a
# workspace of their own (fuzz/Cargo.toml); their lint shares the main target directory,
# so the dependencies both workspaces resolve alike are checked once.
step "cargo fmt and clippy (workspace and fuzz/)"
cargo fmt --all -- --check
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
cargo clippy --workspace --all-targets -- -D warnings
CARGO_TARGET_DIR="$TARGET_DIR" cargo clippy --manifest-path fuzz/Cargo.toml --all-targets -- -D warnings

step "Rust unit and integration tests"
run_cargo_test --workspace

# Black-box tests need the binary itself (tests/python/conftest.py starts it).
step "Python black-box tests against the built binary"
cargo build -p kizuna
cargo build -q -p kizuna-cap --example emit
export KIZUNA_BIN="$TARGET_DIR/debug/kizuna"
export KIZUNA_CAP_EMIT="$TARGET_DIR/debug/examples/emit"
run_pytest tests/python

step "fuzz targets, ${FUZZ_SECONDS} s each"
scripts/fuzz.sh "$FUZZ_SECONDS"

# The benchmark must keep working: any failed request, wrong answer or INVALID verdict
# makes it exit non-zero (a MISS does not). A debug build: it reuses the build above
# (a release build would add minutes of compiling for figures nobody reads here; debug
# also checks arithmetic for overflow). About 3 minutes; figures come from release runs.
step "kizuna-bench --quick (debug build: a smoke run, not figures)"
cargo build -p kizuna-bench
"$TARGET_DIR/debug/kizuna-bench" --quick

echo
echo "scripts/test.sh: all passed in $((SECONDS - started)) s"
