"""The documentation's Python examples run as written, on the in-memory default.

Every ```` ```python ```` block of a page in ``docs/`` runs, in order, in one namespace per
page (a block may build on the blocks above it); a block with top-level ``await`` runs in
an event loop. ```` ```py ```` blocks are fragments that need something the test does not
start (a Redis server, a LangGraph server): they are only compiled.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
from pathlib import Path
from types import CodeType

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"^```(python|py)\n(.*?)^```$", re.S | re.M)
ENVIRONMENT = (
    "KORTYX_REDIS_URL",
    "REDIS_URL",
    "KORTYX_FRAMEWORK_REDIS_URL",
    "KORTYX_FRAMEWORK_TTL_MS",
    "KORTYX_TTL_MS",
    "LANGGRAPH_THREAD_TTL",
    "LANGGRAPH_CHECKPOINTER",
)


def blocks(page: Path, language: str) -> list[tuple[int, str]]:
    """``(first line, code)`` of each block of ``language`` on ``page``."""
    text = page.read_text(encoding="utf-8")
    return [
        (text[: found.start(2)].count("\n"), found.group(2))
        for found in BLOCK.finditer(text)
        if found.group(1) == language
    ]


def compiled(page: Path, line: int, code: str) -> CodeType:
    """The block compiled so that errors name the page and its own line numbers."""
    padded = "\n" * line + code
    return compile(padded, str(page), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


def pages_with(language: str) -> list[Path]:
    return [page for page in sorted(DOCS.glob("*.md")) if blocks(page, language)]


def test_the_docs_have_examples_to_run() -> None:
    assert len(pages_with("python")) >= 5


@pytest.mark.parametrize("page", pages_with("python"), ids=lambda page: page.name)
def test_the_examples_of_a_page_run(
    page: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    for line, code in blocks(page, "python"):
        program = compiled(page, line, code)
        if program.co_flags & inspect.CO_COROUTINE:
            asyncio.run(eval(program, namespace))
        else:
            exec(program, namespace)


@pytest.mark.parametrize("page", pages_with("py"), ids=lambda page: page.name)
def test_the_fragments_of_a_page_compile(page: Path) -> None:
    for line, code in blocks(page, "py"):
        compiled(page, line, code)
