"""The README's usage example runs as written (on the in-memory default)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_usage_example_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ["KORTYX_REDIS_URL", "REDIS_URL", "KORTYX_FRAMEWORK_REDIS_URL"]:
        monkeypatch.delenv(name, raising=False)
    example = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)[0]
    namespace: dict[str, object] = {}
    exec(compile(example, "README.md", "exec"), namespace)
    result = namespace["result"]
    assert getattr(result, "values", None) == {"amount": 84, "decision": "approve"}
