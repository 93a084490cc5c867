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

UPSTREAM_SKIPS = ("tests.test_remote_graph",)
"""Modules upstream skips as a whole with ``NO_DOCKER=true`` (they need a LangGraph server)."""
_BACKEND = re.compile(r"\[(?:[^\]]*-)?kortyx_(?P<backend>[a-z]+)(?:-[^\]]*)?\]$")


def outcomes(junit_xml: Path) -> tuple[dict[str, Counter[str]], list[str]]:
    """Per backend, a count of outcomes; plus the ids of failed or unexpected skipped tests."""
    counts: dict[str, Counter[str]] = {}
    problems: list[str] = []
    for case in ET.parse(junit_xml).getroot().iter("testcase"):
        name = case.get("name", "")
        match = _BACKEND.search(name)
        test_id = f"{case.get('classname', '')}::{name}".lstrip(":")
        skipped = case.find("skipped")
        if match is None and skipped is not None and test_id.startswith(UPSTREAM_SKIPS):
            counts.setdefault("upstream module skips", Counter())["skipped"] += 1
            continue
        backend = match["backend"] if match else "?"
        if case.find("failure") is not None or case.find("error") is not None:
            outcome = "failed"
            problems.append(f"FAILED {test_id}")
        elif skipped is not None:
            outcome = "skipped"
            problems.append(f"SKIPPED {test_id}: {skipped.get('message', '')}")
        else:
            outcome = "passed"
        counts.setdefault(backend, Counter())[outcome] += 1
    return counts, problems


def main() -> int:
    """Command line: print the summary; 0 when the run passed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("junit_xml", type=Path)
    parser.add_argument("--langgraph", required=True, help="version whose tests ran")
    parser.add_argument("--backends", required=True, help="comma-separated backends expected")
    args = parser.parse_args()
    if not args.junit_xml.exists():
        print(f"upstream suite: no report at {args.junit_xml}: pytest did not run")
        return 1
    counts, problems = outcomes(args.junit_xml)
    ok = not problems
    print(f"LangGraph's own tests (langgraph {args.langgraph}):")
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        count = counts.pop(backend, Counter())
        total = sum(count.values())
        print(
            f"  {backend:8} {total:4} tests: {count['passed']} passed, "
            f"{count['failed']} failed, {count['skipped']} skipped"
        )
        ok = ok and total > 0
    upstream_skips = counts.pop("upstream module skips", Counter())["skipped"]
    if upstream_skips:
        modules = ", ".join(UPSTREAM_SKIPS)
        print(f"  upstream's own module-level skips: {upstream_skips} ({modules})")
    for other, count in counts.items():
        print(f"  unexpected tests without a backend id ({other}): {sum(count.values())}")
        ok = False
    for line in problems[:200]:
        print("  " + line)
    print("upstream suite: " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
