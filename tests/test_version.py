"""The version is written once and is the one the installed distribution reports."""

from __future__ import annotations

import importlib.metadata
import re

import pytest

import kortyx_langgraph
from kortyx_langgraph._version import __version__
from tests.cli_support import run_here, run_process


def test_version_is_the_installed_distributions() -> None:
    assert kortyx_langgraph.__version__ == importlib.metadata.version("kortyx-langgraph")
    assert kortyx_langgraph.__version__ is __version__
    assert "__version__" in kortyx_langgraph.__all__


def test_version_is_a_release_number() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?", __version__)


def test_version_flag_prints_the_version(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = run_here(monkeypatch, "--version")  # argparse prints it to sys.stdout
    assert ran.status == 0
    assert capsys.readouterr().out == f"kortyx-langgraph {__version__}\n"


def test_version_flag_of_the_command_in_its_own_process() -> None:
    ran = run_process("--version")
    assert ran.status == 0, ran.err
    assert ran.out.split() == ["kortyx-langgraph", __version__]
