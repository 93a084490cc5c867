"""Fetch LangGraph's own test suite for the installed langgraph and point it at our savers.

The langgraph sdist (not the wheel) ships ``tests/``. This script downloads the sdist of the
exact langgraph version installed in the running interpreter, unpacks its ``tests/`` and
``pyproject.toml`` (pytest settings) into ``.upstream/langgraph-<version>/``, and then:

- appends one import to the end of upstream's ``tests/conftest.py`` that rebinds the
  ``sync_checkpointer`` and ``async_checkpointer`` fixtures to ``kortyx_upstream_savers``;
- copies every syrupy snapshot recorded for upstream's ``memory`` checkpointer under the ids
  of our fixtures, since a few snapshots (graph drawings, schemas) are keyed by fixture id.

Prints the directory. Run with ``--force`` to rebuild it.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".upstream"
FIXTURE_IDS = tuple(
    f"kortyx_{backend}{colour}"
    for backend in ("memory", "redis", "cluster")
    for colour in ("", "_async")
)
"""Parameter ids of our fixtures; ``kortyx_upstream_savers`` uses the same ones."""
REBIND = (
    "\n\n# Rebinds the checkpointer fixtures to kortyx-langgraph's savers "
    "(see tests/upstream/prepare.py).\n"
    "from kortyx_upstream_savers import (  # noqa\n"
    "    async_checkpointer,\n"
    "    kortyx_redis_cluster,\n"
    "    kortyx_redis_standalone,\n"
    "    sync_checkpointer,\n"
    ")\n"
)
_SNAPSHOT_NAME = re.compile(r"^# name: (?P<test>[^\[\n]+)\[memory(?P<rest>[^\n]*)$")


def installed_langgraph() -> str:
    """The version of langgraph installed where this script runs."""
    return importlib.metadata.version("langgraph")


def download_sdist(version: str, into: Path) -> Path:
    """Download the langgraph sdist of ``version`` with pip; return the archive's path."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-binary",
            ":all:",
            f"langgraph=={version}",
            "-d",
            str(into),
        ],
        check=True,
    )
    archives = list(into.glob("langgraph-*.tar.gz"))
    if len(archives) != 1:
        raise SystemExit(f"expected one langgraph sdist in {into}, found {archives}")
    return archives[0]


def unpack(archive: Path, version: str, target: Path) -> None:
    """Copy ``tests/`` and ``pyproject.toml`` of the sdist into ``target``."""
    top = f"langgraph-{version}/"
    with tarfile.open(archive) as tar, tempfile.TemporaryDirectory() as tmp:
        members = [
            m
            for m in tar.getmembers()
            if m.name.startswith(top + "tests/") or m.name == top + "pyproject.toml"
        ]
        tar.extractall(tmp, members=members, filter="data")
        shutil.copytree(Path(tmp) / top / "tests", target / "tests")
        shutil.copy2(Path(tmp) / top / "pyproject.toml", target / "pyproject.toml")


def clone_memory_snapshots(text: str) -> str:
    """``text`` of an ``.ambr`` file plus a copy of each ``[memory...]`` entry per fixture id."""
    entries = re.split(r"(?m)^(?=# name: )", text)
    copies: list[str] = []
    for entry in entries:
        first, _, body = entry.partition("\n")
        match = _SNAPSHOT_NAME.match(first)
        if match is None:
            continue
        for fixture_id in FIXTURE_IDS:
            name = f"# name: {match['test']}[{fixture_id}{match['rest']}"
            copies.append(f"{name}\n{body}")
    if not copies:
        return text
    return text.rstrip("\n") + "\n" + "".join(c if c.endswith("\n") else c + "\n" for c in copies)


def rebind_fixtures(tests: Path) -> None:
    """Append the fixture rebinding to upstream's conftest and clone its snapshots."""
    with (tests / "conftest.py").open("a", encoding="utf-8") as conftest:
        conftest.write(REBIND)
    for ambr in (tests / "__snapshots__").glob("*.ambr"):
        ambr.write_text(clone_memory_snapshots(ambr.read_text("utf-8")), "utf-8")


def prepare(force: bool = False) -> Path:
    """Build ``.upstream/langgraph-<version>/`` once (again with ``force``); return it."""
    version = installed_langgraph()
    target = CACHE / f"langgraph-{version}"
    marker = target / ".complete"
    stamp = f"{version} {' '.join(FIXTURE_IDS)} {REBIND!r}\n"
    if not force and marker.exists() and marker.read_text("utf-8") == stamp:
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        unpack(download_sdist(version, Path(tmp)), version, target)
    rebind_fixtures(target / "tests")
    marker.write_text(stamp, "utf-8")
    return target


def main() -> None:
    """Command line: prepare and print the directory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="download and rebuild again")
    print(prepare(force=parser.parse_args().force))


if __name__ == "__main__":
    main()
