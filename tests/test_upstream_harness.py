"""The pure parts of the harness that runs LangGraph's own tests (``scripts/test-upstream``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.upstream import prepare, report

CASES = """<testsuites><testsuite>
<testcase classname="tests.test_pregel" name="test_a[kortyx_memory]"/>
<testcase classname="tests.test_pregel_async" name="test_b[kortyx_memory_async-sync]"/>
<testcase classname="tests.test_pregel" name="test_c[kortyx_redis]"/>
<testcase classname="" name="tests.test_remote_graph"><skipped message="no docker"/></testcase>
{extra}
</testsuite></testsuites>
"""


def _run(tmp_path: Path, extra: str, backends: str, monkeypatch: pytest.MonkeyPatch) -> int:
    xml = tmp_path / "run.xml"
    xml.write_text(CASES.format(extra=extra))
    argv = ["report", str(xml), "--langgraph", "1.2.24", "--backends", backends]
    argv += ["--rerun-list", str(tmp_path / "rerun")]
    monkeypatch.setattr(sys, "argv", argv)
    return report.main()


def test_a_clean_run_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _run(tmp_path, "", "memory,redis", monkeypatch) == 0
    counts, problems, failed = report.outcomes(tmp_path / "run.xml")
    assert counts["memory"]["sync passed"] == 1
    assert counts["memory"]["async passed"] == 1
    assert counts["redis"]["passed"] == 1
    assert counts["upstream module skips"]["skipped"] == 1
    assert problems == failed == []


def test_a_backend_without_tests_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _run(tmp_path, "", "memory,redis,cluster", monkeypatch) == 1


@pytest.mark.parametrize(
    "extra",
    [
        '<testcase classname="tests.t" name="test_d[kortyx_redis]"><failure/></testcase>',
        '<testcase classname="tests.t" name="test_d[kortyx_redis]"><error/></testcase>',
        '<testcase classname="tests.t" name="test_d[kortyx_redis]"><skipped/></testcase>',
        '<testcase classname="tests.t" name="test_no_backend"/>',
    ],
    ids=["failure", "error", "our skip", "test without a backend"],
)
def test_a_failure_or_an_unexpected_test_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: str
) -> None:
    assert _run(tmp_path, extra, "memory,redis", monkeypatch) == 1
    assert not (tmp_path / "rerun").exists()


def test_only_timing_sensitive_failures_are_handed_back_for_a_rerun(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = (
        '<testcase classname="tests.test_pregel_async" '
        'name="test_imp_nested[kortyx_redis_async-exit]"><failure/></testcase>'
    )
    assert _run(tmp_path, extra, "memory,redis", monkeypatch) == report.RERUN_EXIT
    rerun = (tmp_path / "rerun").read_text().split()
    assert rerun == ["tests/test_pregel_async.py::test_imp_nested[kortyx_redis_async-exit]"]


def test_memory_snapshots_are_copied_for_every_fixture_id() -> None:
    text = (
        "# serializer version: 1\n"
        "# name: test_graph[memory]\n  'drawing'\n# ---\n"
        "# name: test_graph[sqlite]\n  'other'\n# ---\n"
    )
    cloned = prepare.clone_memory_snapshots(text)
    assert cloned.startswith(text.rstrip("\n"))
    for fixture_id in prepare.FIXTURE_IDS:
        assert f"# name: test_graph[{fixture_id}]\n  'drawing'\n# ---\n" in cloned
    assert cloned.count("'other'") == 1
    assert prepare.clone_memory_snapshots("# name: t[sqlite]\n  x\n") == "# name: t[sqlite]\n  x\n"
