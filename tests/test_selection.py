"""A validation part that is used: epochs chosen on it by early stopping, then a refit on all
the training ratings with those epochs (recsys.models.selection, and `recsys fit`)."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from recsys.cli import main
from recsys.data.splits import validation_split
from recsys.data.synthetic import make_planted
from recsys.models.autorec import AutoRec
from recsys.models.base import SELECTION_EPOCHS_FACTOR
from recsys.models.baseline import BiasBaseline
from recsys.models.hybrid import HybridRecommender
from recsys.models.io import load_model
from recsys.models.mf import MatrixFactorization
from recsys.models.selection import choose_epochs, fit_with_validation


@pytest.fixture(scope="module")
def planted():
    return make_planted(n_users=120, n_items=80, n_ratings=4000, n_factors=3, noise=0.5,
                        random_state=0)


def _rmse(model, data) -> float:
    return float(np.sqrt(np.mean((model.predict_ratings(data) - data.ratings) ** 2)))


def test_mf_epochs_are_chosen_on_the_validation_part_and_refitted_on_all(planted, tmp_path):
    # unregularised: the validation curve turns up (at about 80 epochs) while training goes on
    model = MatrixFactorization(n_factors=10, n_epochs=150, lr=0.03, reg=0.0, random_state=0)
    fitted = fit_with_validation(model, planted, valid_size=0.2, random_state=0)
    chosen = fitted.selection_["settings"]
    assert 1 <= chosen["n_epochs"] < 150 and chosen["patience"] is None  # stopped early
    assert fitted.n_epochs_ == chosen["n_epochs"]  # the refit ran exactly those epochs
    assert int(fitted.user_counts_.sum()) == len(planted)  # ... on all the ratings
    assert model.get_params()["n_epochs"] == 150 and not model.is_fitted  # untouched
    # the chosen count is where the validation curve bottoms out, and it beats the baseline
    train, valid = validation_split(planted, valid_size=0.2, random_state=0)
    curve = MatrixFactorization(**{**model.get_params(), "patience": 10}).fit(
        train, validation=valid).history_["valid_rmse"]
    assert chosen["n_epochs"] == int(np.argmin(curve)) + 1
    assert fitted.selection_["valid_rmse"] == pytest.approx(min(curve), rel=1e-6)
    assert fitted.selection_["valid_rmse"] < fitted.selection_["baseline_rmse"]
    # the file records the choice
    loaded = load_model(fitted.save(tmp_path / "mf.npz"))
    assert loaded.selection_ == fitted.selection_


def test_overfitting_mf_stops_much_earlier_than_its_cap(planted):
    greedy = MatrixFactorization(n_factors=30, n_epochs=300, lr=0.05, reg=0.0, reg_bias=0.0,
                                 random_state=0)
    selection = choose_epochs(greedy, *validation_split(planted, 0.2, random_state=1))
    assert selection.settings["n_epochs"] < 60


def test_autorec_stops_early_and_keeps_its_best_step(planted):
    train, valid = validation_split(planted, valid_size=0.2, random_state=0)
    model = AutoRec(n_hidden=40, reg=0.01, n_steps=400, lr=0.05, eval_every=10, patience=3,
                    random_state=0).fit(train, validation=valid)
    steps, curve = model.history_["step"], model.history_["valid_rmse"]
    assert model.n_steps_ < 400 and steps[-1] == model.n_steps_  # stopped early
    best = int(np.argmin(curve))
    assert model.best_step_ == steps[best] and len(steps) - 1 - best == 3
    assert _rmse(model, valid) == pytest.approx(curve[best], rel=1e-5)  # best weights kept
    assert model.refit_settings() == {"n_steps": steps[best], "patience": None}


def test_the_hybrid_chooses_its_network_and_base_model_epochs(planted):
    hybrid = HybridRecommender(hidden=(4,), n_epochs=15, n_folds=2, mf_factors=3,
                               mf_epochs=60, mf_lr=0.03, ar_hidden=8, ar_steps=60, ar_lr=0.02,
                               ar_reg=5.0, random_state=0)
    fitted = fit_with_validation(hybrid, planted, valid_size=0.2, random_state=0)
    chosen = fitted.selection_["settings"]
    assert fitted.bases_ == ("mf", "autorec", "svdpp", "knn", "timebias")
    assert set(chosen) == {"n_epochs", "patience", "base_patience", "mf_epochs", "ar_steps",
                           "base_params"}
    assert 1 <= chosen["n_epochs"] <= 15
    assert 1 <= chosen["mf_epochs"] <= SELECTION_EPOCHS_FACTOR * 60
    assert 10 <= chosen["ar_steps"] <= 60 and chosen["ar_steps"] % 10 == 0
    # SVD++'s and the time-aware biases' epochs go in base_params; the neighbourhood model
    # has none to choose
    assert set(chosen["base_params"]) == {"svdpp", "timebias"}
    svdpp_epochs = chosen["base_params"]["svdpp"]["n_epochs"]
    assert fitted.mf_.n_epochs_ == chosen["mf_epochs"]  # the refit's base models ran those
    assert fitted.ar_.n_steps_ == chosen["ar_steps"]
    assert fitted.base_models_["svdpp"].n_epochs_ == svdpp_epochs
    assert np.isfinite(fitted.selection_["valid_rmse"])


def test_models_without_epochs_are_scored_and_refitted_as_they_are(planted):
    fitted = fit_with_validation(BiasBaseline(), planted, valid_size=0.2, random_state=0)
    assert fitted.selection_["settings"] == {}
    assert fitted.selection_["valid_rmse"] == pytest.approx(fitted.selection_["baseline_rmse"])


def test_recsys_fit_chooses_epochs_refits_on_all_and_warns_below_the_baseline(planted,
                                                                             tmp_path):
    data = tmp_path / "r.csv"
    planted.to_dataframe().rename(columns={"user": "userId", "item": "movieId"})[
        ["userId", "movieId", "rating"]].to_csv(data, index=False)
    out = tmp_path / "m.npz"
    result = CliRunner().invoke(main, ["fit", "--data", str(data), "--factors", "3",
                                       "--epochs", "40", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "chose n_epochs=" in result.stdout and "refitted on all 4,000" in result.stderr
    model = load_model(out)
    assert int(model.user_counts_.sum()) == 4000  # all of them, not 90 %
    assert model.n_epochs_ == model.selection_["settings"]["n_epochs"]
    assert "no better than the bias baseline" not in result.stderr
    # steps too small to learn in 2 epochs: the biases do better, and the fit says so
    weak_settings = tmp_path / "weak.json"
    weak_settings.write_text('{"lr": 0.00001, "lr_bias": 0.00001, "n_epochs": 2}')
    weak = CliRunner().invoke(main, ["fit", "--data", str(data), "--params",
                                     str(weak_settings), "-o", str(out)])
    assert weak.exit_code == 0, weak.output
    assert "no better than the bias baseline" in weak.stderr and "recsys tune" in weak.stderr
    quiet = CliRunner().invoke(main, ["fit", "--data", str(data), "--model", "baseline",
                                      "-o", str(out)])
    assert quiet.exit_code == 0 and "no better than" not in quiet.stderr
