"""The researchers' notebooks run top to bottom on the sample data and are stored clean.

Each notebook is executed in memory by nbclient on a kernel that runs this interpreter (the
project's .venv under ``make test``), from a temporary copy of ``notebooks/`` whose
``../data`` points at the repository's data: nothing a notebook writes, and none of its
outputs, ever reaches the repository. The notebooks hold their own checks (``assert``
cells against the true parameters of the sample), so a wrong number fails the run.

A notebook that loads responses from a running service (04) gets one: ``manyi serve`` on
the sample data (``conftest.py``), whose address and API key reach the kernel through its
kernelspec's environment, as ``MANYI_URL`` and ``MANYI_API_KEY``.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

from tests.common import ROOT

NOTEBOOKS = ROOT / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
EXPECTED = (
    "01_measurement_quality",
    "02_structural_model",
    "03_priorities",
    "04_responses_from_the_service",
)
#: Notebooks that download from a running Manyi: only they start one.
NEED_SERVICE = frozenset({"04_responses_from_the_service"})
KERNEL = "manyi-notebooks"
# Generous against a loaded 2-core CI machine: a cell takes a few seconds when idle.
CELL_TIMEOUT_S = 300
STARTUP_TIMEOUT_S = 120


def write_kernelspec(kernels: Path, env: dict[str, str] | None = None) -> Path:
    """A kernelspec running this Python, so a fresh clone needs no registered kernel."""
    spec = kernels / KERNEL
    spec.mkdir()
    kernel = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Manyi (test)",
        "language": "python",
        "env": {
            # Agg: no display in CI; the notebooks show figures as PNG through IPython.
            "MPLBACKEND": "Agg",
            # One BLAS thread: multi-threaded BLAS is slower and noisy on 2 cores.
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            # IPython's profile and history stay in the test's temporary directory.
            "IPYTHONDIR": str(kernels / "ipython"),
            **(env or {}),
        },
    }
    (spec / "kernel.json").write_text(json.dumps(kernel), encoding="utf-8")
    return kernels


@pytest.fixture(scope="session")
def kernel_dir(tmp_path_factory) -> Path:
    return write_kernelspec(tmp_path_factory.mktemp("kernels"))


@pytest.fixture(scope="session")
def service_kernel_dir(tmp_path_factory, manyi_service) -> Path:
    """A kernelspec whose environment names the running service and the researcher's key."""
    env = {"MANYI_URL": manyi_service.url, "MANYI_API_KEY": manyi_service.api_key}
    return write_kernelspec(tmp_path_factory.mktemp("service-kernels"), env)


def test_the_notebooks_of_the_issue_exist():
    assert [p.stem for p in PATHS if p.stem in EXPECTED] == list(EXPECTED)


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_stored_notebook_has_no_outputs(path: Path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, f"{path.name}: clear the outputs of cells {dirty} before committing"


@pytest.mark.slow
@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_runs_top_to_bottom_on_the_sample_data(path: Path, request, tmp_path):
    needs_service = path.stem in NEED_SERVICE
    kernel_dir = request.getfixturevalue("service_kernel_dir" if needs_service else "kernel_dir")
    work = tmp_path / "notebooks"
    work.mkdir()
    (tmp_path / "data").symlink_to(ROOT / "data", target_is_directory=True)
    copy = work / path.name
    shutil.copyfile(path, copy)
    nb = nbformat.read(copy, as_version=4)
    manager = AsyncKernelManager(
        kernel_name=KERNEL, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernel_dir)])
    )
    manager.connection_file = str(tmp_path / "connection.json")
    client = NotebookClient(
        nb,
        km=manager,
        timeout=CELL_TIMEOUT_S,
        startup_timeout=STARTUP_TIMEOUT_S,
        resources={"metadata": {"path": str(work)}},
    )
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    ran = [c for c in nb.cells if c.cell_type == "code"]
    assert ran and all(c.execution_count is not None for c in ran)
    errors = [o for c in ran for o in c.outputs if o.output_type == "error"]
    assert not errors
    # The stored notebook is untouched: outputs live only in the in-memory copy.
    assert not any(c.get("outputs") for c in nbformat.read(path, as_version=4).cells)
    if needs_service:
        # The data came from the service, not from a file: the service audited the download
        # of every completed response it holds.
        service = request.getfixturevalue("manyi_service")
        exports = service.exports()
        assert exports and all(e["rows"] == service.responses for e in exports)
        assert {e["format"] for e in exports} == {"parquet"}
