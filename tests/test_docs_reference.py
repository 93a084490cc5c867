"""The API reference page documents exactly the public API that ``kortyx_langgraph`` exports."""

from __future__ import annotations

import re
from pathlib import Path

import kortyx_langgraph

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "reference.md"


def test_the_reference_page_covers_every_public_name_once() -> None:
    documented = re.findall(r"^::: kortyx_langgraph\.(\w+)$", REFERENCE.read_text(), re.M)
    assert sorted(documented) == sorted(kortyx_langgraph.__all__)
