"""Type-check a snippet of user code the way a user's CI would: ``mypy --strict``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def mypy_strict(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    """Run ``mypy --strict`` on ``source``, written to ``tmp_path/app.py``."""
    (tmp_path / "app.py").write_text(source)
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"),
         str(tmp_path / "app.py")],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
