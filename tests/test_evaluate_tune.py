"""Nested, honest evaluation: ``evaluate(tune=...)`` / ``recsys evaluate --tune`` chooses every
setting inside each fold's training side, and the test side is scored once.

Every fit and every search is recorded (``Estimator.fit`` and ``recsys.tuning.search.tune``
are wrapped), so the tests can check that no (user, item) pair of a fold's test side ever
reached the tuner or a fit of that fold.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from recsys.cli.app import main as cli
from recsys.data.synthetic import make_planted
from recsys.errors import EvaluationError
from recsys.evaluation import folds as folds_module
from recsys.evaluation.experiment import evaluate
from recsys.models.base import SELECTION_EPOCHS_FACTOR, Estimator
from recsys.tuning import search

SMALL_MF = {"n_epochs": 12}  # caps the trials' epochs; the rest is searched
SMALL_HYBRID = {"n_epochs": 3, "mf_epochs": 3, "ar_hidden": 4, "ar_steps": 4, "n_folds": 2}


@pytest.fixture(scope="module")
def planted():
    return make_planted(n_users=120, n_items=90, n_ratings=4000, n_factors=3, noise=0.3,
                        random_state=5)


def _pairs(ratings) -> set[tuple]:
    return set(zip(ratings.user_ids[ratings.users].tolist(),
                   ratings.item_ids[ratings.items].tolist()))


class Recorder:
    """Wraps ``Estimator.fit`` and ``search.tune`` and keeps what each was given."""

    def __init__(self, monkeypatch) -> None:
        self.fits: list[tuple[str, set, set]] = []  # (class, train pairs, validation pairs)
        self.tunes: list[dict] = []
        fit, tune = Estimator.fit, search.tune
        recorder = self

        def recording_fit(model, ratings, validation=None, *args, **kwargs):
            recorder.fits.append((type(model).__name__, _pairs(ratings),
                                  _pairs(validation) if validation is not None else set()))
            return fit(model, ratings, validation, *args, **kwargs)

        def recording_tune(data, model="mf", *args, **kwargs):
            result = tune(data, model, *args, **kwargs)
            recorder.tunes.append({"model": model, "pairs": _pairs(data), "n": len(data),
                                   "result": result})
            return result

        monkeypatch.setattr(Estimator, "fit", recording_fit)
        monkeypatch.setattr(search, "tune", recording_tune)


def _folds(data, split: str, seed: int):
    triples, _ = folds_module.prepare_folds(data, split, seed)
    return {name: (_pairs(train), _pairs(test)) for name, train, test in triples}


def _check_no_leak(recorder: Recorder, folds: dict) -> None:
    """Every search ran on exactly one fold's training side and saw none of its test side;
    every fit (trials, refits, the hybrid's base models, the global mean) saw a part of one
    fold's training side and none of that fold's test side."""
    for t in recorder.tunes:
        owners = [name for name, (train, _) in folds.items() if t["pairs"] == train]
        assert len(owners) == 1
        assert not t["pairs"] & folds[owners[0]][1]
    # every fit (trials, refits, the hybrid's base models, the global mean) likewise
    assert len(recorder.fits) > 10
    for cls, train, valid in recorder.fits:
        seen = train | valid
        fold_trains = [name for name, (tr, _) in folds.items() if seen <= tr]
        assert fold_trains, f"a {cls} fit saw ratings outside every fold's training side"
        assert all(not seen & folds[name][1] for name in fold_trains)


def test_tuned_evaluation_never_shows_the_test_side(planted, monkeypatch):
    recorder = Recorder(monkeypatch)
    labels = []
    report = evaluate(planted, split="holdout", models=("baseline", "mf", "hybrid"), seed=2,
                      k=5, tune=3, hybrid_trials=2,
                      model_params={"mf": SMALL_MF, "hybrid": SMALL_HYBRID},
                      progress=lambda done, total, label: labels.append(label))
    folds = _folds(planted, "holdout", 2)
    assert list(folds) == report.folds == ["holdout"]
    # the global mean is not tuned; the others are, once each
    assert sorted(t["model"] for t in recorder.tunes) == ["baseline", "hybrid", "mf"]
    _check_no_leak(recorder, folds)
    # the hybrid's trials are whole hybrid fits, its base MF settings the MF search's
    hybrid = [r for r in report.results if r.model == "hybrid"][0]
    mf_best = [t for t in recorder.tunes if t["model"] == "mf"][0]["result"].best_params
    assert hybrid.params["mf_factors"] == mf_best["n_factors"]
    assert hybrid.params["mf_reg"] == pytest.approx(mf_best["reg"])
    assert hybrid.chosen["n_trials"] == 2 and set(hybrid.chosen["chosen"]) >= {"hidden", "lr"}
    # the progress bar shows the search
    assert "mf on holdout: tuning, trial 3/3" in labels
    assert "hybrid on holdout: tuning, trial 2/2" in labels
    assert report.settings["tune_trials"] == 3 and report.settings["hybrid_trials"] == 2


@pytest.fixture(scope="module")
def tuned_report(planted):
    return evaluate(planted, split="kfold", models=("baseline", "mf"), seed=4, k=5, tune=4,
                    model_params={"mf": SMALL_MF})


def test_each_fold_gets_its_own_search_and_the_scored_model_is_its_best(planted, monkeypatch):
    recorder = Recorder(monkeypatch)
    report = evaluate(planted, split="kfold", models=("mf",), seed=4, k=5, tune=4,
                      model_params={"mf": SMALL_MF})
    folds = _folds(planted, "kfold", 4)
    assert len(folds) == len(report.folds) >= 3
    every_test = set().union(*(test for _, test in folds.values()))
    assert every_test == _pairs(planted)  # the folds cover the data: each pair is a test pair
    _check_no_leak(recorder, folds)
    mf_searches = [t for t in recorder.tunes if t["model"] == "mf"]
    assert len(mf_searches) == len(folds)
    by_fold = {}
    for t in mf_searches:
        (name,) = [n for n, (train, _) in folds.items() if t["pairs"] == train]
        by_fold[name] = t["result"]
    assert sorted(by_fold) == sorted(folds)  # one search per fold, each on its own side
    for r in report.results:
        if r.model != "mf":
            continue
        best = by_fold[r.fold].best_params
        assert r.params["n_factors"] == best["n_factors"]
        assert r.params["n_epochs"] == best["n_epochs"]
        assert r.params["lr"] == pytest.approx(best["lr"])
        assert r.n_train == len(folds[r.fold][0])  # refitted on the whole training side
        assert r.chosen["chosen"]["n_epochs"] == best["n_epochs"]
        assert r.chosen["n_valid"] == by_fold[r.fold].n_valid > 0
    # the folds' searches saw different data, so their validation figures differ
    valid = {by_fold[name].best_valid_rmse for name in by_fold}
    assert len(valid) == len(by_fold)


def test_the_report_carries_each_folds_settings(tuned_report, tmp_path):
    chosen = tuned_report.chosen()
    expected = {f"{m}/{f}" for m in ("baseline", "mf") for f in tuned_report.folds}
    assert set(chosen) == expected  # the global mean chooses nothing
    for key, record in chosen.items():
        assert record["how"] == "tuned" and record["n_trials"] == 4
        assert 0.2 < record["valid_rmse"] < 1.5
    assert {"n_factors", "lr", "reg", "n_epochs"} <= set(chosen[f"mf/{tuned_report.folds[0]}"]
                                                        ["chosen"])
    tuned_report.save(tmp_path)
    data = json.loads((tmp_path / "report.json").read_text())
    assert set(data["chosen"]) == expected
    assert data["settings"]["tune_trials"] == 4
    text = (tmp_path / "report.md").read_text()
    assert "Settings chosen per fold" in text
    for key in expected:
        assert sum(line.startswith(f"- {key}: tuned (4 trials") for line in text.splitlines()) \
            == 1
    assert "tuned inside each fold's training side" in text
    # tuned MF still beats the tuned bias baseline on planted low-rank data
    table = tuned_report.table()
    assert 0.25 < table.at["mf", "rmse"] < table.at["baseline", "rmse"] < table.at["mean",
                                                                                   "rmse"]


def test_same_seed_same_report(planted, tuned_report):
    again = evaluate(planted, split="kfold", models=("baseline", "mf"), seed=4, k=5, tune=4,
                     model_params={"mf": SMALL_MF})

    def stable(report):
        chosen = {k: {kk: vv for kk, vv in v.items() if kk != "search_seconds"}
                  for k, v in report.chosen().items()}
        return chosen, report.fold_table()[["model", "fold", "rmse", "mae", "ndcg"]]

    (c1, t1), (c2, t2) = stable(tuned_report), stable(again)
    assert c1 == c2
    assert t1[["model", "fold"]].equals(t2[["model", "fold"]])
    np.testing.assert_allclose(t1[["rmse", "mae"]].to_numpy(), t2[["rmse", "mae"]].to_numpy(),
                               rtol=1e-6)


def test_untuned_evaluation_chooses_epochs_on_the_training_side_and_refits(planted,
                                                                          monkeypatch):
    recorder = Recorder(monkeypatch)
    report = evaluate(planted, split="holdout", models=("baseline", "mf"), seed=1, k=5,
                      model_params={"mf": {"n_epochs": 40, "patience": 3}})
    (train, test), = _folds(planted, "holdout", 1).values()
    assert recorder.tunes == []
    for cls, fit_on, valid in recorder.fits:
        assert (fit_on | valid) <= train and not (fit_on | valid) & test
    mf = [r for r in report.results if r.model == "mf"][0]
    assert mf.n_train == len(train)  # the scored model saw the whole training side
    assert mf.chosen["how"] == "epochs by validation"
    chosen_epochs = mf.chosen["settings"]["n_epochs"]
    assert 1 <= chosen_epochs <= SELECTION_EPOCHS_FACTOR * 40
    assert mf.params["n_epochs"] == chosen_epochs
    # the learning curves are the choosing fit's: a validation curve is there
    assert len(mf.history["valid_rmse"]) >= chosen_epochs
    assert "mf/holdout" in report.chosen() and "baseline/holdout" not in report.chosen()
    refits = [f for f in recorder.fits if f[0] == "MatrixFactorization" and f[1] == train]
    assert len(refits) == 1 and refits[0][2] == set()


@pytest.mark.parametrize("kwargs, words", [
    ({"tune": 0}, "tune must be True, False or a number of trials >= 1"),
    ({"tune": -3}, "tune must be"),
    ({"tune": 2.5}, "tune must be"),
    ({"tune": 3, "hybrid_trials": 0}, "hybrid_trials must be a whole number >= 1"),
    ({"tune": 3, "validation": 0.0}, "give a validation share > 0"),
])
def test_bad_tuning_options_in_the_library(planted, kwargs, words):
    with pytest.raises(EvaluationError, match=words) as info:
        evaluate(planted, split="holdout", models=("mf",), **kwargs)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("args, words", [
    (["--tune", "--trials", "0"], "0 is not in the range x>=1"),
    (["--tune", "--hybrid-trials", "0"], "0 is not in the range x>=1"),
    (["--trials", "5"], "--trials and --hybrid-trials set the budget of --tune"),
    (["--tune", "--validation", "0"], "give --validation > 0"),
])
def test_bad_tuning_options_on_the_command_line(tmp_path, args, words):
    result = CliRunner().invoke(cli, ["evaluate", "--models", "mf", "-o", str(tmp_path / "r"),
                                      *args])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:") and words in lines[0], lines
    assert not (tmp_path / "r").exists()


def test_cli_tune_writes_the_chosen_settings(planted, tmp_path):
    data = tmp_path / "ratings.csv"
    frame = planted.to_dataframe()
    frame[["user", "item", "rating"]].to_csv(data, index=False)
    out = tmp_path / "report"
    result = CliRunner().invoke(cli, ["evaluate", "--data", str(data), "--models",
                                      "baseline,mf", "--split", "holdout", "--tune",
                                      "--trials", "3", "-k", "5", "-o", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert set(report["chosen"]) == {"baseline/holdout", "mf/holdout"}
    assert report["settings"]["tune_trials"] == 3
    assert report["chosen"]["mf/holdout"]["n_trials"] == 3
