"""The evaluation runner, its report files and ``recsys evaluate``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from recsys.data.synthetic import make_planted
from recsys.errors import EvaluationError
from recsys.evaluation.experiment import evaluate
from recsys.evaluation.report import improvement
from recsys.models.base import SELECTION_EPOCHS_FACTOR

ML100K = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-100k"
SMALL_MF = {"n_factors": 8, "n_epochs": 12, "lr": 0.02, "init_std": 0.1}


@pytest.fixture(scope="module")
def planted():
    return make_planted(n_users=150, n_items=120, n_ratings=6000, n_factors=4, noise=0.3,
                        random_state=3)


@pytest.fixture(scope="module")
def holdout_report(planted):
    calls = []
    report = evaluate(planted, split="holdout", models=("baseline", "mf"), seed=1,
                      threshold=4.0, k=5, model_params={"mf": SMALL_MF},
                      progress=lambda done, total, label: calls.append((done, total, label)))
    report.calls = calls
    return report


def test_improvement_is_the_netflix_prize_measure():
    assert improvement(0.9, 1.0) == pytest.approx(10.0)
    assert improvement(1.1, 1.0) == pytest.approx(-10.0)
    assert improvement(0.8572, 0.9525) == pytest.approx(100 * (0.9525 - 0.8572) / 0.9525)
    assert math.isnan(improvement(0.9, 0.0))
    assert math.isnan(improvement(0.9, float("nan")))


def test_holdout_table_has_references_and_consistent_improvements(holdout_report):
    table = holdout_report.table()
    assert list(table.index) == ["mean", "baseline", "mf"]
    assert {"rmse", "mae", "vs_mean_pct", "vs_baseline_pct", "precision@5", "recall@5",
            "ndcg@5", "hit_rate@5", "coverage", "fit_seconds"} <= set(table.columns)
    assert not any(c.endswith("_std") for c in table.columns)  # one fold: no spread
    rmse = table["rmse"]
    for model in table.index:
        assert table.at[model, "vs_mean_pct"] == pytest.approx(
            100 * (rmse["mean"] - rmse[model]) / rmse["mean"])
        assert table.at[model, "vs_baseline_pct"] == pytest.approx(
            100 * (rmse["baseline"] - rmse[model]) / rmse["baseline"])
    assert table.at["mean", "vs_mean_pct"] == 0.0
    assert table.at["baseline", "vs_baseline_pct"] == 0.0
    # planted low-rank data: biases help, factors help more; the noise (0.3) is a floor
    assert 0.3 < rmse["mf"] < rmse["baseline"] < rmse["mean"] < 2.0
    assert table.at["mf", "vs_mean_pct"] > 10
    for column in ("precision@5", "recall@5", "ndcg@5", "hit_rate@5", "coverage"):
        assert table[column].between(0, 1).all(), column
    assert (table["mae"] <= table["rmse"] + 1e-12).all()
    assert (table["fit_seconds"] >= 0).all()
    # a personal model ranks better than the constant global mean
    assert table.at["mf", "ndcg@5"] > table.at["mean", "ndcg@5"]


def test_progress_is_reported_for_every_fit(holdout_report):
    calls = holdout_report.calls
    fits = [c for c in calls if "epoch" not in c[2]]
    assert [c[0] for c in fits] == [0, 1, 2, 3]
    assert all(c[1] == 3 for c in calls)
    assert fits[-1][2] == "done" and calls[-1][2] == "done"
    assert fits[2][2] == "mf on holdout"
    mf_epochs = [c for c in calls if c[2].startswith("mf on holdout: epoch")]
    # the epochs of the fit that chooses them on a validation carve, up to its cap
    run = len(holdout_report.histories()["mf"]["train_rmse"])
    assert 1 <= run <= SELECTION_EPOCHS_FACTOR * SMALL_MF["n_epochs"]
    assert [c[2].rsplit(" ", 1)[1] for c in mf_epochs] == [str(n) for n in range(1, run + 1)]
    assert all(c[0] == 2 for c in mf_epochs)


def test_history_and_errors_come_from_the_fits(holdout_report):
    hist = holdout_report.histories()
    run = len(hist["mf"]["train_rmse"])
    assert 1 <= run <= SELECTION_EPOCHS_FACTOR * SMALL_MF["n_epochs"]
    assert len(hist["mf"]["valid_rmse"]) == run  # validation carved by default
    errors = holdout_report.errors()
    n_test = holdout_report.fold_table()["n_test"].iloc[0]
    for model, err in errors.items():
        assert err.shape == (n_test,)
        rmse = holdout_report.table().at[model, "rmse"]
        assert np.sqrt(np.mean(err.astype(np.float64) ** 2)) == pytest.approx(rmse, rel=1e-4)


def test_save_writes_parseable_files_atomically(holdout_report, tmp_path):
    out = tmp_path / "nested" / "report"
    written = holdout_report.save(out)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["errors.png", "learning_curves.png", "report.json", "report.md"]
    assert set(written) == {"json", "markdown", "learning_curves", "errors"}
    for png in ("errors.png", "learning_curves.png"):
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    doc = json.loads((out / "report.json").read_text())
    assert doc["format"] == "recsys-report"
    assert doc["package_version"]
    assert len(doc["data"]["fingerprint"]) == 16
    assert doc["settings"]["split"] == "holdout" and doc["settings"]["seed"] == 1
    assert doc["settings"]["k"] == 5
    table = holdout_report.table()
    for model in table.index:
        assert doc["summary"][model]["rmse"] == pytest.approx(table.at[model, "rmse"])
        assert doc["summary"][model]["vs_mean_pct"] == pytest.approx(
            table.at[model, "vs_mean_pct"])
    assert len(doc["per_fold"]) == 3
    assert doc["history"]["mf/holdout"]["train_rmse"]
    counts = doc["errors"]["mf"]["histogram"]["counts"]
    assert sum(counts) == holdout_report.fold_table()["n_test"].iloc[0]
    md = (out / "report.md").read_text()
    assert holdout_report.to_markdown() in md
    assert "| model | RMSE | MAE | vs mean % | vs baseline % | P@5 |" in md
    assert f"{table.at['mf', 'rmse']:.4f}" in md
    # saving again replaces the files and leaves no temporary file behind
    holdout_report.save(out)
    assert sorted(p.name for p in out.iterdir()) == names


def test_to_json_is_strict_json(holdout_report):
    text = holdout_report.to_json()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text)["models"] == ["mean", "baseline", "mf"]


def test_several_folds_give_mean_and_std(planted):
    report = evaluate(planted, split="kfold", models="baseline", seed=0, validation=0)
    folds = report.fold_table()
    n_folds = len(report.folds)
    assert n_folds >= 3 and len(folds) == 2 * n_folds
    table = report.table()
    assert {"rmse_std", "mae_std", "vs_mean_pct_std", "coverage_std"} <= set(table.columns)
    base = folds[folds["model"] == "baseline"]
    assert table.at["baseline", "rmse"] == pytest.approx(base["rmse"].mean())
    assert table.at["baseline", "rmse_std"] == pytest.approx(base["rmse"].std(ddof=1))
    assert 0 <= table.at["baseline", "rmse_std"] < 0.1
    # the improvement is computed within each fold, then averaged
    mean = folds[folds["model"] == "mean"].set_index("fold")["rmse"]
    per_fold = 100 * (mean - base.set_index("fold")["rmse"]) / mean
    assert table.at["baseline", "vs_mean_pct"] == pytest.approx(per_fold.mean())
    assert "±" in report.to_markdown()
    # kfold test sides are disjoint and cover the data
    assert folds[folds["model"] == "mean"]["n_test"].sum() == len(planted)


def test_bad_settings_raise_one_line_errors(planted):
    with pytest.raises(EvaluationError, match="unknown model 'svd'"):
        evaluate(planted, models=("mf", "svd"))
    with pytest.raises(EvaluationError, match="unknown split"):
        evaluate(planted, split="random")
    with pytest.raises(EvaluationError, match="only for MovieLens 100K"):
        evaluate(planted, split="u1")
    with pytest.raises(EvaluationError, match="only for MovieLens 100K"):
        evaluate(None, split="all-folds")
    with pytest.raises(EvaluationError, match="threshold"):
        evaluate(planted, models="baseline", threshold=99.0)
    with pytest.raises(EvaluationError, match="k must be"):
        evaluate(planted, models="baseline", k=0)
    with pytest.raises(EvaluationError, match="not evaluated"):
        evaluate(planted, models="baseline", model_params={"mf": {}})
    with pytest.raises(EvaluationError) as info:
        evaluate(planted, split="ua")
    assert "\n" not in str(info.value)


def _write_csv(ratings, path: Path) -> Path:
    frame = ratings.to_dataframe()
    frame["rating"] = frame["rating"].round(3)
    frame[["user", "item", "rating"]].to_csv(path, index=False)
    return path


def test_cli_evaluate_writes_report(planted, tmp_path):
    from recsys.cli import main

    csv = _write_csv(planted, tmp_path / "ratings.csv")
    out = tmp_path / "rep"
    result = CliRunner().invoke(
        main, ["evaluate", "--data", str(csv), "--models", "baseline", "--seed", "2",
               "--threshold", "3.5", "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "| baseline |" in result.output and "RMSE" in result.output
    doc = json.loads((out / "report.json").read_text())
    assert doc["models"] == ["mean", "baseline"]
    assert doc["settings"]["threshold"] == 3.5 and doc["settings"]["seed"] == 2
    assert (out / "report.md").is_file() and (out / "errors.png").is_file()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--models", "baseline,svd"], "unknown model 'svd'"),
        (["--split", "u1"], "only for MovieLens 100K"),
    ],
)
def test_cli_bad_option_is_one_line_and_fails(tmp_path, args, message):
    from recsys.cli import main

    result = CliRunner().invoke(main, ["evaluate", *args, "-o", str(tmp_path / "r")])
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert message in lines[0] and lines[0].startswith("Error:")
    assert not (tmp_path / "r").exists()


@pytest.mark.skipif(not ML100K.is_dir(), reason="ML-100k not present in ../shared/datasets")
def test_official_ml100k_fold():
    report = evaluate(ML100K, split="u1", models="baseline", validation=0)
    assert report.folds == ["u1"]
    table = report.table()
    assert report.data["n_ratings"] == 100_000
    assert 0.93 < table.at["baseline", "rmse"] < 1.0  # published: about 0.94-0.96
    assert 1.1 < table.at["mean", "rmse"] < 1.2
    assert 10 < table.at["baseline", "vs_mean_pct"] < 25


def test_topn_sample_keep_models_and_other_splits(planted):
    report = evaluate(planted, split="temporal", models="baseline", validation=0,
                      topn_users=20, keep_models=True)
    assert set(report.fitted) == {"mean", "baseline"}
    assert report.fitted["baseline"].is_fitted
    assert report.settings["topn_users"] == 20
    # hit rate over 20 users moves in steps of 1/20
    hit = report.table().at["baseline", "hit_rate@10"]
    assert abs(hit * 20 - round(hit * 20)) < 1e-9
    assert "Report(" in repr(report) and "temporal" in repr(report)
    user = evaluate(planted, split="user", models="baseline", validation=0)
    assert user.fitted == {}
    folds = user.fold_table()
    # each user keeps training ratings: almost no fallback predictions on the test side
    assert folds["n_fallback"].max() <= 0.02 * folds["n_test"].iloc[0]
    with pytest.raises(EvaluationError, match="topn_users"):
        evaluate(planted, models="baseline", topn_users=0)


def test_plots_draw_without_a_display(tmp_path):
    from recsys.evaluation import plots

    fig = plots.learning_curves({})
    assert plots.save_figure(fig, tmp_path / "empty.png").stat().st_size > 1000
    fig = plots.error_distribution({"a": np.zeros(0)})
    assert plots.save_figure(fig, tmp_path / "none.png").is_file()
    X = np.array([[-1.0, -1.0], [1.0, 1.0], [-1.0, 1.0], [1.0, -1.0]])
    fig = plots.decision_surface(lambda Z: np.tanh(-Z[:, 0] * Z[:, 1]), X, [-1, -1, 1, 1],
                                 steps=21)
    assert len(fig.axes) == 2  # plane and colour bar
    fig = plots.item_map(np.random.default_rng(0).normal(size=(30, 2)), {0: "Toy Story"},
                         weights=np.arange(30))
    assert [t.get_text() for t in fig.axes[0].texts] == ["Toy Story"]
    # a figure that fails to render leaves the old file and no temporary file behind
    target = tmp_path / "keep.png"
    target.write_bytes(b"old")
    bad = plots.learning_curves({"m": {"train_rmse": [1.0, 0.5]}})
    bad.axes[0].set_title("$\\frac{unclosed$")  # mathtext error while drawing
    with pytest.raises(ValueError):
        plots.save_figure(bad, target)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.png", "keep.png", "none.png"]


def test_a_stop_request_ends_the_evaluation_within_one_epoch():
    from recsys.models.progress import FitStopped

    data = make_planted(n_users=40, n_items=30, n_ratings=600, random_state=0)
    asked, epochs = [], []
    # the mean asks once, the bias baseline after each of its 10 sweeps, then MF each epoch
    with pytest.raises(FitStopped):
        evaluate(data, models="mf", model_params={"mf": {"n_epochs": 50}},
                 progress=lambda done, total, label: epochs.append(label),
                 should_stop=lambda: asked.append(1) or len(asked) >= 1 + 10 + 3)
    assert len(asked) == 14  # nothing ran after the "yes" in MF's third epoch
    assert epochs[-1] == "mf on holdout: epoch 3"
