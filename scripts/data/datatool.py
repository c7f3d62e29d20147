"""The private tool environment both data scripts run in (a virtual environment under
`target/data-build/venv` with the pinned shapely), so they never touch the system's Python."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SHAPELY = "shapely==2.1.2"


def reexec_in_venv(work: Path, script: str) -> None:
    """Returns when already inside `work/venv`; otherwise creates it (once) and runs `script`
    again inside it with the same arguments."""
    venv = work / "venv"
    if Path(sys.prefix).resolve() == venv.resolve():
        return
    if not (venv / "bin/python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin/pip"), "install", "--quiet", SHAPELY], check=True)
    os.execv(str(venv / "bin/python"), [str(venv / "bin/python"), script, *sys.argv[1:]])
