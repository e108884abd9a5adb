"""`ruff check` is clean over the repository, with the rules of pyproject.toml's [tool.ruff]."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_ruff_check_is_clean(hang_ceiling_s):
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(REPO)], cwd=REPO,
                          capture_output=True, text=True, timeout=hang_ceiling_s)
    assert proc.returncode == 0, proc.stdout + proc.stderr
