"""The names the README uses exist at the top level."""

from __future__ import annotations

import recsys


def test_top_level_names():
    for name in recsys.__all__:
        assert hasattr(recsys, name), name


def test_evaluate_is_both_callable_and_the_module():
    import recsys.evaluate as module

    assert callable(recsys.evaluate)
    assert module.Report is recsys.Report
    assert recsys.evaluate.evaluate is module.evaluate
