"""The README's "As a library" example runs as written, and the names it uses are the public ones.

The python block of the section is read from README.md and executed unchanged (it takes a few
seconds on the bundled data), in a temporary folder so that the files it writes stay there.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
from pathlib import Path

import numpy as np
import pandas as pd

import recsys

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_library_example() -> str:
    """The python code block of the README section "## As a library"."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## As a library\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the README's 'As a library' section should hold one python block"
    return blocks[0]


def test_the_readme_library_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = readme_library_example()
    assert "recsys.evaluate(" in code and "report.save(" in code  # the example still shows them
    namespace: dict = {}
    exec(compile(code, f"{README}:As a library", "exec"), namespace)

    out = capsys.readouterr().out
    held_out_rmse = float(out.splitlines()[0])
    assert 0.5 < held_out_rmse < 1.2
    report = namespace["report"]
    assert isinstance(report, recsys.Report)
    table = report.table()
    assert list(table.index) == ["mean", "baseline", "mf"]
    assert table.loc["mf", "rmse"] < table.loc["mean", "rmse"]
    for name in ("report.md", "report.json", "learning_curves.png", "errors.png"):
        assert (tmp_path / "reports" / name).is_file(), name
    mf, same, test = namespace["mf"], namespace["same"], namespace["test"]
    assert (tmp_path / "mf.npz").is_file()
    np.testing.assert_array_equal(same.predict_ratings(test), mf.predict_ratings(test))
    assert isinstance(mf.recommend(user=1, n=5), pd.DataFrame)


def test_top_level_names():
    for name in recsys.__all__:
        assert hasattr(recsys, name), name


def test_evaluate_is_a_plain_function_and_report_the_report_class():
    from recsys.evaluation.experiment import evaluate
    from recsys.evaluation.report import Report

    assert inspect.isfunction(recsys.evaluate)
    assert recsys.evaluate is evaluate
    assert recsys.Report is Report and inspect.isclass(recsys.Report)
    assert inspect.signature(recsys.evaluate).return_annotation in (Report, "Report")
    # no module of that name: it would shadow the function attribute once imported
    assert importlib.util.find_spec("recsys.evaluate") is None
