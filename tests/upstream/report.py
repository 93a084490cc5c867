"""Summarize a run of LangGraph's own tests per backend, and decide whether it passed.

Reads pytest's JUnit XML, counts the tests of each backend (by the ``kortyx_<backend>``
parameter id) as passed, failed, skipped, and exits 1 when a selected backend ran no test, when
any test failed or errored, or when anything was skipped beyond the modules upstream skips as a
whole without Docker (``UPSTREAM_SKIPS``).
"""

from __future__ import annotations

import argparse
import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

TIMING_SENSITIVE = (
    "test_imp_nested[",
    "test_stream_buffering_single_node[",
    "test_stream_subgraphs_during_execution[",
)
"""Upstream tests that assert wall-clock times (``perf_counter``) or the interleaving of tasks
sleeping 0 and 10 ms; on a loaded machine a Redis round trip can tip them over."""
RERUN_EXIT = 3
"""Exit status meaning: only timing-sensitive tests failed; their node ids are in the file."""
UPSTREAM_SKIPS = ("tests.test_remote_graph",)
"""Modules upstream skips as a whole with ``NO_DOCKER=true`` (they need a LangGraph server)."""
_BACKEND = re.compile(r"\[(?:[^\]]*-)?kortyx_(?P<backend>[a-z]+)(?P<colour>_async)?(?:-[^\]]*)?\]$")


def node_id(case: ET.Element) -> str:
    """The pytest node id of a JUnit test case, e.g. ``tests/test_x.py::test_y[id]``."""
    module = case.get("classname", "").replace(".", "/")
    return f"{module}.py::{case.get('name', '')}"


def outcomes(junit_xml: Path) -> tuple[dict[str, Counter[str]], list[str], list[str]]:
    """Per backend, a count of outcomes; the failed or unexpectedly skipped tests (as lines to
    print); and the node ids of the failed ones."""
    counts: dict[str, Counter[str]] = {}
    problems: list[str] = []
    failed_ids: list[str] = []
    for case in ET.parse(junit_xml).getroot().iter("testcase"):
        name = case.get("name", "")
        match = _BACKEND.search(name)
        test_id = f"{case.get('classname', '')}::{name}".lstrip(":")
        skipped = case.find("skipped")
        if match is None and skipped is not None and test_id.startswith(UPSTREAM_SKIPS):
            counts.setdefault("upstream module skips", Counter())["skipped"] += 1
            continue
        backend = match["backend"] if match else "?"
        colour = "async" if match and match["colour"] else "sync"
        if case.find("failure") is not None or case.find("error") is not None:
            outcome = "failed"
            problems.append(f"FAILED {test_id}")
            failed_ids.append(node_id(case))
        elif skipped is not None:
            outcome = "skipped"
            problems.append(f"SKIPPED {test_id}: {skipped.get('message', '')}")
        else:
            outcome = "passed"
        counts.setdefault(backend, Counter())[outcome] += 1
        counts[backend][f"{colour} {outcome}"] += 1
    return counts, problems, failed_ids


def main() -> int:
    """Command line: print the summary; 0 when the run passed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("junit_xml", type=Path)
    parser.add_argument("--langgraph", required=True, help="version whose tests ran")
    parser.add_argument("--backends", required=True, help="comma-separated backends expected")
    parser.add_argument(
        "--rerun-list",
        type=Path,
        help=f"when only timing-sensitive tests failed, write their node ids here and exit "
        f"{RERUN_EXIT} so that the caller reruns them one at a time",
    )
    args = parser.parse_args()
    if not args.junit_xml.exists():
        print(f"upstream suite: no report at {args.junit_xml}: pytest did not run")
        return 1
    counts, problems, failed_ids = outcomes(args.junit_xml)
    complete = True  # every backend ran tests, and no test lacks a backend
    print(f"LangGraph's own tests (langgraph {args.langgraph}):")
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        count = counts.pop(backend, Counter())
        total = sum(count[o] for o in ("passed", "failed", "skipped"))
        print(
            f"  {backend:8} {total:4} tests: {count['passed']} passed, "
            f"{count['failed']} failed, {count['skipped']} skipped"
        )
        for colour in ("sync", "async"):
            print(
                f"  {'':8} {colour:>5} fixture: {count[colour + ' passed']} passed, "
                f"{count[colour + ' failed']} failed, {count[colour + ' skipped']} skipped"
            )
        complete = complete and total > 0
    upstream_skips = counts.pop("upstream module skips", Counter())["skipped"]
    if upstream_skips:
        modules = ", ".join(UPSTREAM_SKIPS)
        print(f"  upstream's own module-level skips: {upstream_skips} ({modules})")
    for other, count in counts.items():
        unexpected = sum(count[o] for o in ("passed", "failed", "skipped"))
        print(f"  unexpected tests without a backend id ({other}): {unexpected}")
        complete = False
    for line in problems[:200]:
        print("  " + line)
    only_timing = (
        bool(failed_ids)
        and len(failed_ids) == len(problems)
        and all(any(t in i for t in TIMING_SENSITIVE) for i in failed_ids)
    )
    if args.rerun_list is not None and only_timing and complete:
        args.rerun_list.write_text("\n".join(failed_ids) + "\n", "utf-8")
        print("upstream suite: only timing-sensitive tests failed; rerunning them one at a time")
        return RERUN_EXIT
    ok = complete and not problems
    print("upstream suite: " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
