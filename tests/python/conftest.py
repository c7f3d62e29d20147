"""Fixtures that run the real Kizuna binary for the black-box tests in this directory.

The binary is `$KIZUNA_BIN` (default `target/debug/kizuna`, relative to the repository
root). Each fixture starts it as

    kizuna serve --listen 127.0.0.1:<free port> --data <fresh tmpdir> [--demo]

waits until `GET /health` answers 200 (30 s at most) and stops it when the session ends.
The server's own output goes to a log file whose tail is shown if it fails to start.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 30.0

# The context of the demo dataset; Kizuna ships it (crates/server/contexts/), so no
# network access is needed to resolve it.
DEMO_CONTEXT = "https://kizuna.example/contexts/demo-city.jsonld"
CORE_CONTEXT = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"


@dataclass
class Server:
    """A running Kizuna process."""

    proc: subprocess.Popen
    host: str
    port: int
    data_dir: Path
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ngsi(self) -> str:
        """Root of the NGSI-LD API."""
        return f"{self.base_url}/ngsi-ld/v1"

    def log_tail(self, n: int = 40) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-n:])


def kizuna_bin() -> Path:
    path = Path(os.environ.get("KIZUNA_BIN", "target/debug/kizuna"))
    if not path.is_absolute():
        path = REPO_ROOT / path
    return path


def free_port() -> int:
    # Ask the kernel for a free port; the tiny window before the server binds it is
    # acceptable for tests on one machine.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(tmp_path_factory: pytest.TempPathFactory, name: str, extra_args: list[str]) -> Server:
    binary = kizuna_bin()
    if not binary.exists():
        pytest.fail(f"Kizuna binary not found at {binary}: build it (cargo build -p kizuna) or set KIZUNA_BIN")

    host, port = "127.0.0.1", free_port()
    data_dir = tmp_path_factory.mktemp(f"{name}-data")
    log_path = tmp_path_factory.mktemp(f"{name}-log") / "kizuna.log"
    args = [str(binary), "serve", "--listen", f"{host}:{port}", "--data", str(data_dir), *extra_args]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = Server(proc, host, port, data_dir, log_path)

    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{' '.join(args)} exited with {proc.returncode} before it was ready:\n{server.log_tail()}")
        try:
            r = requests.get(f"{server.base_url}/health", timeout=2)
            if r.status_code == 200:
                return server
            last_error = f"GET /health answered {r.status_code}"
        except requests.RequestException as e:
            last_error = str(e)
        time.sleep(0.1)
    stop_server(server)
    pytest.fail(f"{' '.join(args)} not ready after {STARTUP_TIMEOUT_S:.0f} s ({last_error}):\n{server.log_tail()}")


def stop_server(server: Server) -> None:
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(timeout=10)


@pytest.fixture(scope="session")
def kizuna(tmp_path_factory: pytest.TempPathFactory):
    """An empty Kizuna server, shared by the whole session (tests use unique ids), run
    with the development setting `--dev-open-access` so that the third-party NGSI-LD
    clients can exercise the broker anonymously (non-personal data only)."""
    server = start_server(tmp_path_factory, "kizuna", ["--dev-open-access"])
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def kizuna_demo(tmp_path_factory: pytest.TempPathFactory):
    """A Kizuna server started with `--demo`: the 絆川市 demo dataset is loaded."""
    server = start_server(tmp_path_factory, "kizuna-demo", ["--demo"])
    yield server
    stop_server(server)


def kizuna_token(server: Server, *args: str) -> str:
    """A development token from the server's built-in issuer (`kizuna token --data DIR ...`)."""
    out = subprocess.run(
        [str(kizuna_bin()), "token", "--data", str(server.data_dir), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return out.stdout.strip()


def city_admin(server: Server) -> dict:
    """The demo city's tenant-admin `Authorization` header."""
    token = kizuna_token(server, "--role", "tenant-admin", "--party", "urn:kizuna:party:kizunagawa-city")
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def uid() -> str:
    """A short unique token, so tests sharing one server never collide."""
    return uuid.uuid4().hex[:12]


@pytest.fixture
def kizuna_restartable(tmp_path_factory: pytest.TempPathFactory):
    """A Kizuna server of the test's own, which the test may `kill -9` and start again
    on the same port and data directory: `server.kill9()`, then `server.restart()`
    (both return the server; `restart` waits for `GET /health` like the other fixtures)."""
    server = start_server(tmp_path_factory, "kizuna-restartable", ["--dev-open-access"])
    args = [
        str(kizuna_bin()),
        "serve",
        "--listen",
        f"{server.host}:{server.port}",
        "--data",
        str(server.data_dir),
        "--dev-open-access",
    ]

    def kill9() -> Server:
        server.proc.kill()  # SIGKILL: no shutdown, no flush
        server.proc.wait(timeout=10)
        return server

    def restart() -> Server:
        with open(server.log_path, "ab") as log:
            server.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if server.proc.poll() is not None:
                pytest.fail(f"restart exited with {server.proc.returncode}:\n{server.log_tail()}")
            try:
                if requests.get(f"{server.base_url}/health", timeout=2).status_code == 200:
                    return server
            except requests.RequestException:
                pass
            time.sleep(0.1)
        pytest.fail(f"restart not ready after {STARTUP_TIMEOUT_S:.0f} s:\n{server.log_tail()}")

    server.kill9 = kill9  # type: ignore[attr-defined]
    server.restart = restart  # type: ignore[attr-defined]
    yield server
    stop_server(server)
