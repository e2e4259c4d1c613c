"""Run behave's command-line tools in a subprocess, as a user would, and fail with their stderr."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from behave.paths import REPO_ROOT


def behave(module: str, *args: str, cwd: Path = REPO_ROOT, timeout: int = 900) -> subprocess.CompletedProcess:
    """`python -m <module> <args>`; returns the finished process (check `returncode` yourself)."""
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def behave_ok(module: str, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """As `behave`, asserting a zero exit status (the error shows the end of stderr)."""
    done = behave(module, *args, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done
