"""The notebooks run top to bottom (their code cells, in order, on the in-memory default)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_code_cells_run(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ["KORTYX_REDIS_URL", "REDIS_URL", "KORTYX_FRAMEWORK_REDIS_URL"]:
        monkeypatch.delenv(name, raising=False)
    cells = json.loads(path.read_text())["cells"]
    namespace: dict[str, object] = {}
    for cell in cells:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), f"{path.name}", "exec"), namespace)
    assert namespace["adapter"].pending.list("refund-1001") == []  # type: ignore[attr-defined]


def test_there_is_a_notebook() -> None:
    assert NOTEBOOKS
