"""The factory table of docs/adapters.md is the factories' real signatures.

The docs keep one table of the three factories, each row a call written as
``name(param=default, ...)``. This parses it and compares it with ``inspect.signature`` of
the real function both ways: no parameter missing, none extra, same kinds (positional,
keyword-only, ``**kwargs``), same defaults.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import kortyx_langgraph

ROOT = Path(__file__).resolve().parent.parent
TABLE_PAGE = ROOT / "docs" / "adapters.md"
FACTORIES = (
    "create_framework_adapter_from_env",
    "create_in_memory_framework_adapter",
    "create_redis_framework_adapter",
)
ROW = re.compile(r"^\|\s*`(create_\w+)\((.*?)\)`\s*\|", re.M)
"""A table row whose first cell is a factory call, such as ``| `create_x(*, a=1)` | ... |``."""


@dataclass(frozen=True)
class Name:
    """A default written as a bare name (``clock=wall_clock_ms``): the object's ``__name__``."""

    name: str


@dataclass(frozen=True)
class Documented:
    """One parameter as the table writes it."""

    name: str
    kind: inspect._ParameterKind
    default: Any = inspect.Parameter.empty


def _default(node: ast.expr) -> Any:
    if isinstance(node, ast.Name):
        return Name(node.id)
    return ast.literal_eval(node)


def parse_parameters(written: str) -> list[Documented]:
    """The parameters of ``name(<written>)``, as Python itself reads them."""
    definition = ast.parse(f"def f({written}): pass").body[0]
    assert isinstance(definition, ast.FunctionDef)
    arguments = definition.args
    found: list[Documented] = []
    positional = [*arguments.posonlyargs, *arguments.args]
    defaults = [None] * (len(positional) - len(arguments.defaults)) + arguments.defaults
    for index, (arg, default) in enumerate(zip(positional, defaults, strict=True)):
        kind = (
            inspect.Parameter.POSITIONAL_ONLY
            if index < len(arguments.posonlyargs)
            else inspect.Parameter.POSITIONAL_OR_KEYWORD
        )
        value = inspect.Parameter.empty if default is None else _default(default)
        found.append(Documented(arg.arg, kind, value))
    if arguments.vararg is not None:
        found.append(Documented(arguments.vararg.arg, inspect.Parameter.VAR_POSITIONAL))
    for arg, default in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True):
        value = inspect.Parameter.empty if default is None else _default(default)
        found.append(Documented(arg.arg, inspect.Parameter.KEYWORD_ONLY, value))
    if arguments.kwarg is not None:
        found.append(Documented(arguments.kwarg.arg, inspect.Parameter.VAR_KEYWORD))
    return found


def documented_factories(text: str) -> dict[str, list[Documented]]:
    """Each factory row of ``text``: its name and parameters; a factory listed twice fails."""
    rows: dict[str, list[Documented]] = {}
    for name, written in ROW.findall(text):
        assert name not in rows, f"{name} is listed twice"
        rows[name] = parse_parameters(written)
    return rows


def _same_default(documented: Any, real: Any) -> bool:
    if isinstance(documented, Name):
        return getattr(real, "__name__", None) == documented.name
    return type(documented) is type(real) and bool(documented == real)


def differences(documented: list[Documented], function: Callable[..., Any]) -> list[str]:
    """What the table says that the function's signature does not, and the reverse."""
    real = inspect.signature(function).parameters
    table = {p.name: p for p in documented}
    problems = [f"{name} is missing from the table" for name in real if name not in table]
    problems += [f"{name} is not a parameter" for name in table if name not in real]
    for name in [n for n in table if n in real]:
        written, actual = table[name], real[name]
        if written.kind != actual.kind:
            problems.append(f"{name}: the table says {written.kind.name}, it is {actual.kind.name}")
        if not _same_default(written.default, actual.default):
            problems.append(f"{name}: the table says {written.default!r}, it is {actual.default!r}")
    if [p.name for p in documented if p.name in real] != [n for n in real if n in table]:
        problems.append("the parameters are not in the function's order")
    return problems


def test_the_page_lists_each_factory_once() -> None:
    assert sorted(documented_factories(TABLE_PAGE.read_text(encoding="utf-8"))) == sorted(FACTORIES)


def test_no_other_page_has_a_factory_table() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    with_rows = [page.name for page in pages if ROW.search(page.read_text(encoding="utf-8"))]
    assert with_rows == [TABLE_PAGE.name]


@pytest.mark.parametrize("factory", FACTORIES)
def test_the_table_is_the_real_signature(factory: str) -> None:
    documented = documented_factories(TABLE_PAGE.read_text(encoding="utf-8"))[factory]
    assert differences(documented, getattr(kortyx_langgraph, factory)) == []


def _edited_row(factory: str, old: str, new: str) -> list[Documented]:
    text = TABLE_PAGE.read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith(f"| `{factory}("))
    assert old in row
    return documented_factories(row.replace(old, new))[factory]


def test_a_parameter_left_out_of_the_table_is_found() -> None:
    edited = _edited_row("create_in_memory_framework_adapter", "serde=None, ", "")
    function = kortyx_langgraph.create_in_memory_framework_adapter
    assert differences(edited, function) == ["serde is missing from the table"]


def test_a_parameter_the_function_does_not_have_is_found() -> None:
    edited = _edited_row("create_redis_framework_adapter", "cluster=None, ", "cluster=None, db=0, ")
    function = kortyx_langgraph.create_redis_framework_adapter
    assert differences(edited, function) == ["db is not a parameter"]


def test_a_wrong_default_or_kind_is_found() -> None:
    function = kortyx_langgraph.create_redis_framework_adapter
    wrong_ttl = _edited_row("create_redis_framework_adapter", "ttl_ms=900_000", "ttl_ms=60_000")
    assert differences(wrong_ttl, function) == ["ttl_ms: the table says 60000, it is 900000"]
    wrong_clock = _edited_row("create_redis_framework_adapter", "=wall_clock_ms", "=time")
    assert len(differences(wrong_clock, function)) == 1
    positional = _edited_row("create_redis_framework_adapter", "(*, url=None, ", "(url=None, *, ")
    assert differences(positional, function) == [
        "url: the table says POSITIONAL_OR_KEYWORD, it is KEYWORD_ONLY"
    ]
