"""The demo notebook runs top to bottom on the bundled data without an error (the one slow test).

It is also checked to be stored without outputs and to match its generator script.
"""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "demo.ipynb"
GENERATOR = ROOT / "notebooks" / "make_demo.py"


def _generator():
    spec = importlib.util.spec_from_file_location("make_demo", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_notebook_is_stored_without_outputs_and_matches_its_generator():
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, "the notebook has no code cells"
    for cell in code:
        assert cell.get("outputs") == [], "notebook stored with outputs: rerun make_demo.py"
        assert cell.get("execution_count") is None
    built = _generator().build()
    sources = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
               for c in nb["cells"]]
    assert sources == [c["source"] for c in built.cells], (
        "demo.ipynb differs from notebooks/make_demo.py: run python notebooks/make_demo.py"
    )


@pytest.mark.slow
def test_notebook_runs_top_to_bottom(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(str(NOTEBOOK), as_version=4)
    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",  # jupyter_client starts it with this interpreter
        timeout=240,  # per cell
        resources={"metadata": {"path": str(tmp_path)}},
    )
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError on the first failing cell
    seconds = time.perf_counter() - start
    errors = [
        out for cell in nb.cells if cell.cell_type == "code"
        for out in cell.get("outputs", []) if out.get("output_type") == "error"
    ]
    assert not errors
    images = sum(
        1 for cell in nb.cells if cell.cell_type == "code"
        for out in cell.get("outputs", []) if "image/png" in out.get("data", {})
    )
    assert images >= 6, f"expected the plots inline, found {images} images"
    assert seconds < 300, f"the notebook took {seconds:.0f} s"
