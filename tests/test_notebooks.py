"""Every notebook runs from top to bottom in a real Jupyter kernel, and ends its story.

Each notebook is executed with nbclient in a fresh IPython kernel started from the
interpreter running the tests, with the environment it needs: no Redis URL for the
in-memory ones, the URL of the suite's own Redis server (then of its Cluster) for the Redis
one. A cell that raises (or runs longer than ``CELL_TIMEOUT_S``) fails the test; so does a
closing cell that does not print what the notebook's story ends with (each notebook's last
cell asserts its outcome).

The committed notebooks carry no outputs: tokens, timestamps and checkpoint ids differ on
every run, and this test is what shows the outputs are right.

The langchain notebook needs the ``clients`` extra, which the lowest-versions run does not
install: ``scripts/test-lowest`` deselects its run (and only that one).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from traitlets import default

from kortyx_langgraph import REDIS_URL_VARIABLES, TTL_VARIABLES

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
CELL_TIMEOUT_S = 180
"""Per cell: the slowest cells import langchain or wait for a thread to expire (seconds)."""
KERNEL_STARTUP_TIMEOUT_S = 120


class _ThisInterpreterKernel(AsyncKernelManager):
    """Knows one kernel only: IPython on the interpreter running the tests.

    A kernelspec named ``python3`` installed for the user or the system could point at
    another Python, without this package.
    """

    @default("kernel_spec_manager")
    def _only_the_native_kernel(self) -> KernelSpecManager:
        return KernelSpecManager(kernel_dirs=[])

    # Over TCP the kernel binds ports the client picked free a moment before, which another
    # process of the run (a test worker starting a Redis server) may take meanwhile: the
    # kernel died with "Address already in use". So IPC sockets (their path: ``ip``).
    @default("transport")
    def _ipc(self) -> str:
        return "ipc"


def read_notebook(path: Path) -> Any:
    return nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]


def kernel_env(**extra: str) -> dict[str, str]:
    """The test process's environment without any kortyx setting, plus ``extra``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in REDIS_URL_VARIABLES and name not in TTL_VARIABLES
    }
    env.update(extra)
    return env


def execute(nb: Any, env: Mapping[str, str], tmp_path: Path) -> Any:
    """Run every cell of ``nb`` in a new kernel (in the notebooks' directory); return it.

    Raises ``CellExecutionError`` at the first cell that raises.
    """
    ipython_dir = tmp_path / "ipython"  # no user profile or startup scripts
    ipython_dir.mkdir(exist_ok=True)
    # the IPC sockets' paths: short, as a socket path must be (a test's tmp_path may not be)
    with tempfile.TemporaryDirectory(prefix="kortyx-kernel-") as sockets:
        kernel = _ThisInterpreterKernel(kernel_name="python3", ip=f"{sockets}/k")
        client = NotebookClient(
            nb,
            km=kernel,
            timeout=CELL_TIMEOUT_S,
            startup_timeout=KERNEL_STARTUP_TIMEOUT_S,
            kernel_name="python3",
            resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
        )
        return client.execute(env={**env, "IPYTHONDIR": str(ipython_dir)})


def code_cells(nb: Any) -> list[Any]:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def stdout_of(cell: Any) -> str:
    return "".join(
        out.get("text", "")
        for out in cell.outputs
        if out.output_type == "stream" and out.name == "stdout"
    )


def text_outputs(nb: Any) -> str:
    """Everything the cells printed or displayed as text."""
    parts: list[str] = []
    for cell in code_cells(nb):
        for out in cell.outputs:
            if out.output_type == "stream":
                parts.append(out.text)
            elif "data" in out:
                parts.append(out.data.get("text/plain", ""))
    return "\n".join(parts)


@dataclass(frozen=True)
class Notebook:
    name: str
    ending: str
    """What the closing cell prints, once its assertions passed."""
    servers: tuple[str, ...] = ()
    """Run once against each of these Redis fixtures (its URL in ``KORTYX_REDIS_URL``)."""


NOTEBOOKS = [
    Notebook(
        "01_quickstart.ipynb",
        "nothing pending; latest: 45 EUR rejected; "
        "the first run's outcome is kept: 40 EUR approved\n",
    ),
    Notebook(
        "02_redis.ipynb",
        "resumed in another process; the short-lived thread expired as a whole; "
        "no key left under this run's prefix\n",
        servers=("redis_standalone", "redis_cluster"),
    ),
    Notebook(
        "03_human_in_the_loop_langchain.ipynb",
        "nothing pending; refunded 35 EUR, email sent, account left open (twice)\n",
    ),
]


def _runs() -> list[Any]:
    runs = []
    for notebook in NOTEBOOKS:
        stem = Path(notebook.name).stem
        if not notebook.servers:
            runs.append(pytest.param(notebook, None, id=stem))
        for server in notebook.servers:
            mode = server.removeprefix("redis_")
            runs.append(
                pytest.param(notebook, server, id=f"{stem}-{mode}", marks=pytest.mark.redis)
            )
    return runs


@pytest.mark.parametrize(("notebook", "server"), _runs())
def test_notebook_runs_to_its_end(
    notebook: Notebook, server: str | None, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = None if server is None else str(request.getfixturevalue(server).url)
    env = kernel_env() if url is None else kernel_env(KORTYX_REDIS_URL=url)
    nb = execute(read_notebook(NOTEBOOK_DIR / notebook.name), env, tmp_path)

    cells = code_cells(nb)
    assert all(cell.execution_count is not None for cell in cells), "a cell did not run"
    errors = [out for cell in cells for out in cell.outputs if out.output_type == "error"]
    assert errors == []
    assert stdout_of(cells[-1]) == notebook.ending
    if url is not None:
        # the kernel ran on the server it was given, and found out what kind it is
        shown = text_outputs(nb)
        assert f"redis at {url} (from KORTYX_REDIS_URL)" in shown
        assert f"cluster mode: {server == 'redis_cluster'}" in shown


def test_a_cell_that_raises_fails_the_run(tmp_path: Path) -> None:
    new: Any = nbformat.v4
    nb = new.new_notebook(
        cells=[
            new.new_code_cell("import os\nprint(os.environ.get('KORTYX_REDIS_URL'))"),
            new.new_code_cell("raise RuntimeError('the story breaks here')"),
            new.new_code_cell("print('never reached')"),
        ]
    )
    with pytest.raises(CellExecutionError, match="the story breaks here"):
        execute(nb, kernel_env(), tmp_path)
    first, _, last = nb.cells
    assert stdout_of(first) == "None\n"  # the in-memory environment has no Redis URL
    assert last.execution_count is None
    assert last.outputs == []


def test_every_notebook_is_run_and_committed_without_outputs() -> None:
    committed = sorted(path.name for path in NOTEBOOK_DIR.glob("*.ipynb"))
    assert committed == sorted(n.name for n in NOTEBOOKS)
    for name in committed:
        nb = read_notebook(NOTEBOOK_DIR / name)
        nbformat.validate(nb)
        # it opens by saying what it shows and how to run it
        assert nb.cells[0].cell_type == "markdown"
        assert "To run it" in nb.cells[0].source
        for cell in code_cells(nb):
            assert cell.outputs == [], f"{name}: commit it with its outputs cleared"
            assert cell.execution_count is None, f"{name}: commit it with its outputs cleared"
