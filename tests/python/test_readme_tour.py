"""The README's tour works as printed: each `curl` command of its first ```sh block
after "## Tour" runs against a fresh demo server and answers the status written in the
`# → NNN` comment above it."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def tour_commands() -> tuple[list[str], list[tuple[int, str]]]:
    text = README.read_text(encoding="utf-8")
    tour = text.split("## Tour", 1)[1]
    block = re.search(r"```sh\n(.*?)```", tour, re.S)
    assert block, "README has no ```sh block under ## Tour"
    prelude: list[str] = []
    commands: list[tuple[int, str]] = []
    expected = None
    for line in block.group(1).splitlines():
        m = re.match(r"#\s*→\s*(\d{3})", line)
        if m:
            expected = int(m.group(1))
        elif line.startswith("curl "):
            assert expected is not None, f"no '# → status' comment before: {line}"
            commands.append((expected, line))
            expected = None
        elif line.strip() and not line.startswith("#"):
            prelude.append(line)
    return prelude, commands


def test_tour_has_commands():
    _, commands = tour_commands()
    assert len(commands) >= 8


def test_readme_tour_runs_as_printed(kizuna_demo):
    prelude, commands = tour_commands()
    host = kizuna_demo.base_url.replace("http://", "")
    # The tour's `KIZUNA="cargo run ..."` is the binary under test, and its tokens are
    # signed with the key in the demo server's data directory.
    from conftest import kizuna_bin

    prelude = [f'KIZUNA="{kizuna_bin()}"' if p.startswith("KIZUNA=") else p for p in prelude]
    env = {**os.environ, "KIZUNA_DATA": str(kizuna_demo.data_dir)}
    for expected, cmd in commands:
        cmd = cmd.replace("localhost:1026", host)
        script = "\n".join(prelude + [cmd + " -o /dev/null -w '%{http_code}'"])
        out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30, env=env)
        assert out.returncode == 0, f"{cmd}\n{out.stderr}"
        assert out.stdout.strip().endswith(str(expected)), f"{cmd}\nstatus {out.stdout!r}, expected {expected}"
