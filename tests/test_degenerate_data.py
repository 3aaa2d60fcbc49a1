"""Degenerate data through the evaluation, the hybrid and its networks (issue 6).

Tiny files, constant ratings, cold test sides, thresholds nobody reaches, ``k`` above the
catalogue, exploding step sizes, empty histories, a report folder that is a file: each ends in
finite figures (n/a where a figure is truly undefined) or in one RecsysError line.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from recsys.evaluation import plots
from recsys.cli import main
from recsys.data.ratings import Ratings
from recsys.errors import DataError, DivergenceError, NotFittedError, RecsysError
from recsys import EvaluationError, EvaluationWarning, evaluate
from recsys.models.autorec import AutoRec
from recsys.models.hybrid import HybridRecommender
from recsys.models.mlp import MLP

# small and quick: the hybrid's base models barely train
FAST_HYBRID = {"hidden": (2,), "n_epochs": 2, "mf_epochs": 2, "ar_hidden": 2, "ar_steps": 2,
               "n_folds": 3, "random_state": 0}
FAST = {"mf": {"n_epochs": 2}, "hybrid": FAST_HYBRID}
FAST_MF = {"mf": {"n_epochs": 2}}


def ratings(rows, scale=(1.0, 5.0), timestamps=None) -> Ratings:
    frame = pd.DataFrame(rows, columns=["user", "item", "rating"])
    if timestamps is not None:
        frame["timestamp"] = timestamps
    return Ratings.from_dataframe(frame, rating_scale=scale, name="tiny")


def grid(n_users=12, n_items=8, seed=0, value=None, density=0.7):
    rng = np.random.default_rng(seed)
    return [(u, i, float(rng.integers(1, 6)) if value is None else value)
            for u in range(n_users) for i in range(n_items) if rng.random() < density]


def strict_json(text: str):
    def refuse(name):
        raise AssertionError(f"bare {name} in the JSON report")
    return json.loads(text, parse_constant=refuse)


def quiet_evaluate(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvaluationWarning)
        return evaluate(*args, **kwargs)


# ------------------------------------------------------------------------------ the hybrid
@pytest.mark.parametrize("n", [1, 2])
def test_hybrid_with_fewer_ratings_than_folds_says_so(n):
    model = HybridRecommender(**FAST_HYBRID)
    with pytest.raises(DataError, match="n_folds=3") as info:
        model.fit(ratings([(0, 0, 3.0), (1, 1, 4.0)][:n]))
    assert f"got {n}" in str(info.value) and "\n" not in str(info.value)
    assert not model.is_fitted


@pytest.mark.parametrize("rows", [
    [(0, 0, 3.0), (1, 1, 4.0), (0, 1, 2.0)],  # as many ratings as folds: carve is tiny
    [(0, 0, 1.0), (0, 1, 5.0), (1, 0, 5.0), (1, 1, 1.0)],  # only 1 and 5
    [(u, i, 4.0) for u in range(5) for i in range(4)],  # every rating the same
    [(0, i, float(i % 5 + 1)) for i in range(6)] + [(1, 0, 2.0)],  # one user rated all
    [(u, u, 3.0 + u % 2) for u in range(6)],  # every item rated by one user only
], ids=["three", "one-and-five", "constant", "one-user-rated-all", "items-rated-once"])
@pytest.mark.parametrize("output", ["linear", "tanh"])
def test_hybrid_fits_degenerate_data_to_finite_in_scale_predictions(rows, output):
    data = ratings(rows)
    model = HybridRecommender(**{**FAST_HYBRID, "output": output}).fit(data)
    pred = model.predict_ratings(data)
    assert np.isfinite(pred).all() and pred.min() >= 1.0 and pred.max() <= 5.0
    assert 1 <= len(model.history_["train_rmse"]) == len(model.history_["valid_rmse"]) <= 2
    assert all(math.isfinite(v) for v in model.history_["valid_rmse"])


def test_hybrid_with_an_empty_or_all_cold_validation_uses_carved_rows():
    data = ratings(grid())
    empty = data.subset(np.zeros(len(data), dtype=bool))
    model = HybridRecommender(**FAST_HYBRID).fit(data, validation=empty)
    assert all(math.isfinite(v) for v in model.history_["valid_rmse"])
    train, cold = data.subset(data.users < 8), data.subset(data.users >= 8)  # unseen users
    model = HybridRecommender(**FAST_HYBRID).fit(train, validation=cold)
    assert all(math.isfinite(v) for v in model.history_["valid_rmse"])
    assert np.isfinite(model.predict_ratings(cold)).all()


@pytest.mark.parametrize("valid_size", [1e-6, 0.999999])
def test_hybrid_carve_keeps_a_row_on_each_side(valid_size):
    data = ratings(grid(6, 4))
    model = HybridRecommender(**{**FAST_HYBRID, "valid_size": valid_size}).fit(data)
    assert np.isfinite(model.predict_ratings(data)).all()


def test_hybrid_with_one_hidden_unit_and_one_epoch():
    data = ratings(grid())
    model = HybridRecommender(**{**FAST_HYBRID, "hidden": (1,), "n_epochs": 1,
                                 "mf_epochs": 1, "ar_steps": 1}).fit(data)
    assert len(model.history_["train_rmse"]) == 1
    assert np.isfinite(model.predict_ratings(data)).all()


@pytest.mark.parametrize("setting", ["lr", "mf_lr", "ar_lr"])
def test_hybrid_huge_step_size_is_a_divergence_naming_the_setting(setting):
    model = HybridRecommender(**{**FAST_HYBRID, setting: 1e6})
    with pytest.raises(DivergenceError, match=f"lower {setting} ") as info:
        model.fit(ratings(grid()))
    assert "1e+06" in str(info.value) and "\n" not in str(info.value)
    assert not model.is_fitted
    with pytest.raises(NotFittedError):
        model.predict(0, 0)


# ------------------------------------------------------------------------------ AutoRec, MLP
@pytest.mark.parametrize("lr", [30.0, 1e6, 1e30])
def test_autorec_huge_lr_is_a_divergence_and_leaves_it_unfitted(lr):
    model = AutoRec(n_hidden=4, n_steps=5, lr=lr, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings on the way
        with pytest.raises(DivergenceError, match="lower lr"):
            model.fit(ratings(grid()))
    assert not model.is_fitted


@pytest.mark.parametrize("rows", [[(0, 0, 3.0)], [(u, i, 4.0) for u in range(3) for i in range(3)]])
def test_autorec_on_tiny_or_constant_data_with_one_unit_and_one_step(rows):
    data = ratings(rows)
    model = AutoRec(n_hidden=1, n_steps=1, random_state=0).fit(
        data, validation=data.subset(np.zeros(len(data), dtype=bool)))  # empty: ignored
    assert np.isfinite(model.predict_ratings(data)).all()
    assert "valid_rmse" not in model.history_ and len(model.history_["train_rmse"]) == 1


@pytest.mark.parametrize("output,batch", [("linear", 1), ("tanh", 1), ("linear", 4)])
def test_mlp_huge_lr_is_a_divergence_and_leaves_it_unfitted(output, batch):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = np.tanh(X[:, 0] * X[:, 1])
    net = MLP(hidden=(8,), output=output, lr=1e6, n_epochs=3, batch_size=batch, random_state=0)
    with pytest.raises(DivergenceError, match=r"lower lr \(now 1e\+06\)"):
        net.fit(X, y)
    with pytest.raises(NotFittedError):
        net.predict(X)


def test_mlp_sensible_lr_does_not_trip_the_divergence_check():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 2))
    y = np.tanh(X[:, 0] - X[:, 1])
    for output in ("linear", "tanh"):
        net = MLP(hidden=(1,), output=output, lr=0.05, n_epochs=1, random_state=0).fit(X, y)
        assert net.n_epochs_ == 1 and np.isfinite(net.predict(X)).all()


def test_mlp_empty_or_too_small_inputs_are_one_line_data_errors():
    X, y = np.ones((5, 2)), np.zeros(5)
    with pytest.raises(DataError, match="training data has no rows"):
        MLP().fit(np.zeros((0, 2)), np.zeros(0))
    with pytest.raises(DataError, match="X_valid=None"):
        MLP(n_epochs=1).fit(X, y, np.zeros((0, 2)), np.zeros(0))
    with pytest.raises(DataError, match="one row per row"):
        MLP().fit(X, 1.0)
    with pytest.raises(DataError, match="patience=None"):
        MLP(patience=3).fit(X[:2], y[:2])


# ------------------------------------------------------------------------------ evaluation
def test_constant_ratings_give_n_a_improvements_and_strict_json():
    report = quiet_evaluate(ratings(grid(value=4.0)), models="mf", validation=0,
                            model_params=FAST_MF)
    table = report.table()
    assert table.loc["mean", "rmse"] == pytest.approx(0.0, abs=1e-6)
    assert math.isnan(table.loc["mf", "vs_mean_pct"])  # 100 (0 - x) / 0 is undefined
    row = next(line for line in report.to_markdown().splitlines() if line.startswith("| mf "))
    assert "n/a" in row and "nan" not in row.lower().replace("n/a", "")
    data = strict_json(report.to_json())
    assert data["summary"]["mf"]["vs_mean_pct"] is None


def test_threshold_above_every_rating_warns_and_shows_n_a():
    data = ratings([(u, i, min(r, 4.0)) for u, i, r in grid()])
    with pytest.warns(EvaluationWarning, match="threshold 5"):
        report = evaluate(data, models="mf", threshold=5.0, k=5, model_params=FAST_MF)
    table = report.table()
    assert table[["precision@5", "recall@5", "ndcg@5", "hit_rate@5", "coverage"]].isna().all(
        ).all()
    assert np.isfinite(table["rmse"]).all()
    assert report.to_markdown().count("n/a") >= 5 * 3  # five top-N cells of three models
    strict_json(report.to_json())


def test_k_above_the_catalogue_is_cut_with_a_warning():
    data = ratings(grid(n_items=6))
    with pytest.warns(EvaluationWarning, match="k=50 is more than the 6 items"):
        report = evaluate(data, models="mf", k=50, topn_users=1, model_params=FAST_MF)
    assert report.settings["k"] == 6 and report.settings["k_requested"] == 50
    assert "P@6" in report.to_markdown() and "P@50" not in report.to_markdown()
    precision = report.table()["precision@6"]
    assert ((precision >= 0) & (precision <= 1)).all()


def test_test_side_of_new_users_only_warns_and_stays_finite():
    rows = [(u, i, float((u + i) % 5 + 1)) for u in range(10) for i in range(8)]
    data = ratings(rows, timestamps=np.arange(len(rows)))  # late ratings = late users
    with pytest.warns(EvaluationWarning, match="fallback"):
        report = evaluate(data, split="temporal", models="mf,hybrid", k=5, validation=0,
                          model_params=FAST)
    folds = report.fold_table()
    assert (folds["n_fallback"] == folds["n_test"]).all()
    assert np.isfinite(folds["rmse"]).all()


@pytest.mark.parametrize("rows", [
    [(0, i, 3.0 + i % 2) for i in range(10)],  # one user
    [(u, 0, 3.0 + u % 2) for u in range(10)],  # one item
])
def test_one_user_or_one_item_with_validation_0(rows):
    report = quiet_evaluate(ratings(rows), models="mf,hybrid", validation=0, threshold=4.0,
                            model_params=FAST)
    assert np.isfinite(report.table()["rmse"]).all()
    strict_json(report.to_json())


def test_data_too_small_for_the_hybrid_names_model_and_fold():
    rows = [(0, 0, 1.0), (1, 1, 5.0), (2, 2, 3.0)]
    with pytest.raises(DataError, match=r"^hybrid on holdout: HybridRecommender needs"):
        quiet_evaluate(ratings(rows), models="hybrid", validation=0,
                       model_params={"hybrid": FAST_HYBRID})


def test_kfold_with_folds_lacking_relevant_items_averages_the_defined_ones():
    rows = [(0, 0, 1.0), (0, 1, 5.0), (1, 0, 5.0), (1, 1, 1.0), (2, 0, 3.0)]
    with pytest.warns(EvaluationWarning, match="folds? kfold"):
        report = evaluate(ratings(rows), split="kfold", models="mf", validation=0, k=2,
                          model_params=FAST_MF)
    table = report.table()
    assert np.isfinite(table["rmse"]).all()
    assert ((table["precision@2"] >= 0) & (table["precision@2"] <= 1)).all()
    strict_json(report.to_json())
    report.markdown_document()  # per-fold table with n/a cells renders


# ------------------------------------------------------------------------------ report files
@pytest.fixture(scope="module")
def small_report():
    return quiet_evaluate(ratings(grid()), models="mf", validation=0,
                          model_params={"mf": {"n_epochs": 1}})


def test_save_into_a_file_or_under_one_is_one_line(small_report, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for target in (afile, afile / "sub"):
        with pytest.raises(EvaluationError, match="is a file, not a folder") as info:
            small_report.save(target)
        assert str(afile) in str(info.value) and "\n" not in str(info.value)
    (tmp_path / "out" / "report.json").mkdir(parents=True)
    with pytest.raises(EvaluationError, match="report.json .*folder of that name"):
        small_report.save(tmp_path / "out")
    assert afile.read_text() == "x"


def test_save_into_an_unwritable_folder_is_one_line(small_report, tmp_path, monkeypatch):
    import recsys._atomic as atomic

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "ro" / "x.tmp"))

    monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)
    with pytest.raises(EvaluationError, match="permission denied; choose a folder") as info:
        small_report.save(tmp_path / "ro")
    assert str(tmp_path / "ro") in str(info.value)


def test_plots_of_empty_single_epoch_and_non_rmse_histories_draw_quietly(small_report):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for histories in ({}, {"m": {}}, {"m": {"step": [1, 2]}},
                          {"m": {"train_rmse": [1.0]}},
                          {"ar": {"step": [50, 100], "train_rmse": [1.2, 1.1]}}):
            fig = plots.learning_curves(histories)
            fig.canvas.draw()
        assert plots.learning_curves({"m": {"step": [1]}}).axes[0].texts  # "no history"
        fig = plots.error_distribution({"m": np.array([np.nan, np.inf, 0.5]), "e": []})
        fig.canvas.draw()
        assert len(fig.axes) == 1
        small_report.histories()


# ------------------------------------------------------------------------------ command line
def _csv(path: Path, rows) -> Path:
    pd.DataFrame(rows, columns=["user", "item", "rating"]).to_csv(path, index=False)
    return path


def _run(*args):
    return CliRunner().invoke(main, ["evaluate", *map(str, args)])


def test_cli_too_small_for_the_hybrid_is_one_error_line(tmp_path):
    data = _csv(tmp_path / "three.csv", [(1, 1, 4), (2, 2, 5), (3, 3, 3)])
    result = _run("--data", data, "--models", "hybrid", "--validation", "0",
                  "-o", tmp_path / "out")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "hybrid on holdout" in errors[0] and "n_folds" in errors[0]
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


def test_cli_degenerate_evaluation_writes_n_a_and_strict_json(tmp_path):
    data = _csv(tmp_path / "tiny.csv", [(u, i, 1 + (u + i) % 4) for u in range(6)
                                        for i in range(5)])
    out = tmp_path / "out"
    result = _run("--data", data, "--scale", "1,5", "--models", "mf", "--threshold", "5",
                  "-k", "50", "--topn-users", "1", "--validation", "0", "-o", out)
    assert result.exit_code == 0, result.stderr
    assert "Warning: k=50 is more than the 5 items" in result.stderr
    assert "Warning: no test rating" in result.stderr and "Traceback" not in result.stderr
    assert "n/a" in result.stdout and "P@5" in result.stdout
    report = strict_json((out / "report.json").read_text())
    assert report["summary"]["mf"]["precision@5"] is None
    assert "n/a" in (out / "report.md").read_text()
    assert {p.name for p in out.iterdir()} >= {"learning_curves.png", "errors.png"}


def test_cli_output_that_is_a_file_is_refused_before_any_work(tmp_path):
    data = _csv(tmp_path / "tiny.csv", [(u, i, 3) for u in range(3) for i in range(3)])
    afile = tmp_path / "afile"
    afile.write_text("x")
    result = _run("--data", data, "--models", "mf", "-o", afile)
    assert result.exit_code != 0 and "Traceback" not in result.stderr
    assert "afile" in result.stderr and afile.read_text() == "x"
    assert not os.path.isdir(afile)


def test_library_errors_from_degenerate_evaluations_are_recsys_errors():
    with pytest.raises(RecsysError, match="validation=0"):
        quiet_evaluate(ratings([(0, 0, 1.0), (1, 1, 5.0), (2, 2, 3.0)]), models="mf")


def test_side_information_with_absurd_years_and_ages_counts_them_as_missing():
    from recsys.features import item_features, user_features

    frame = pd.DataFrame({"user": [0, 1, 2], "item": [0, 1, 2], "rating": [1.0, 3.0, 5.0]})
    items = pd.DataFrame({"genres": ["A|B", np.nan, "A"], "year": [1e300, -np.inf, 1990]})
    users = pd.DataFrame({"age": [1e300, -5, 30], "gender": [None, "M", "F"]})
    data = Ratings.from_dataframe(frame, item_info=items, user_info=users)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no float32 overflow
        X, names = item_features(data)
        U, unames = user_features(data)
    assert np.isfinite(X).all() and np.isfinite(U).all()
    assert X[:, names.index("year")].tolist() == [1990.0] * 3
    assert X[:, names.index("year_missing")].tolist() == [1.0, 1.0, 0.0]
    assert U[:, unames.index("age")].tolist() == [30.0] * 3
    model = HybridRecommender(**FAST_HYBRID).fit(data)
    assert np.isfinite(model.predict_ratings(data)).all()
