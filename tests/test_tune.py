"""recsys.tune: the search finds good settings on planted data, prunes bad trials, repeats
itself with the same seed, refits the best on all the training ratings, and never sees more
than the training ratings it is given."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import recsys
from recsys.data.splits import holdout_split, validation_split
from recsys.errors import ParameterError, RecsysError
from recsys.models.mf import MatrixFactorization
from recsys.models.progress import FitStopped
from recsys.tuning import Choice, IntLogUniform, LogUniform, MedianPruner, SearchSpace, tune
from recsys.tuning.params_file import build_model, read_params
from recsys.tuning.space import halton
from recsys.tuning.spaces import default_space

# one factor count (one compiled kernel for every trial), and factors that start large
# enough to learn within the trials' patience on this planted set (from 0.1 they sit at the
# biases' plateau for a dozen epochs)
SMALL = {"n_factors": 8, "init_std": 0.3}


@pytest.fixture(scope="module")
def planted():
    return recsys.make_planted(n_users=200, n_items=150, n_ratings=8000, n_factors=5,
                               noise=0.3, random_state=0)


@pytest.fixture(scope="module")
def mf_result(planted):
    return tune(planted, "mf", n_trials=12, seed=0, params=SMALL)


# ---------------------------------------------------------------- the search
def test_the_search_beats_a_deliberately_bad_setting(planted, mf_result):
    train, valid = validation_split(planted, valid_size=0.1, random_state=0)
    bad = MatrixFactorization(n_factors=8, n_epochs=5, lr=0.0005, random_state=0)
    bad.fit(train, validation=valid)
    bad_rmse = bad.history_["valid_rmse"][-1]
    assert mf_result.best_valid_rmse < bad_rmse - 0.1
    assert 0.3 <= mf_result.best_valid_rmse < 0.8  # the planted noise is 0.3
    table = mf_result.table()
    assert len(table) == 12
    assert {"status", "valid_rmse", "best_epochs", "epochs_run", "pruned", "seconds", "lr",
            "reg", "reg_bias"} <= set(table.columns)
    assert table["valid_rmse"].min() == pytest.approx(mf_result.best_valid_rmse)


def test_the_default_space_varies_the_factors_and_uses_the_model_defaults(planted):
    result = tune(planted, "mf", n_trials=5, seed=1)
    defaults = MatrixFactorization().get_params()
    first = result.trials[0].params  # trial 0: the model's own defaults
    assert first == {name: defaults[name] for name in first}
    sizes = {t.params["n_factors"] for t in result.trials[1:]}
    assert len(sizes) > 1 and sizes <= {16, 32, 64, 128, 256}
    assert set(result.space) == {"n_factors", "lr", "reg", "reg_bias", "init_std"}
    assert math.isfinite(result.best_valid_rmse)


def test_pruning_prunes_bad_regions_and_saves_epochs(planted):
    space = {"lr": LogUniform(1e-5, 0.05), "reg": LogUniform(0.005, 0.2)}  # tiny lr: hopeless
    fixed = SMALL
    # sampled points only (no defaults trial): the rule is judged on the hopeless region
    pruned = tune(planted, "mf", n_trials=16, seed=0, space=space, params=fixed,
                  try_defaults=False)
    full = tune(planted, "mf", n_trials=16, seed=0, space=space, params=fixed, prune=False,
                try_defaults=False)
    assert pruned.n_pruned > 0 and full.n_pruned == 0
    epochs = sum(t.epochs_run for t in pruned.trials)
    assert epochs < 0.85 * sum(t.epochs_run for t in full.trials)
    # the pruned trials are the bad ones, never the winner of the full search
    assert pruned.best_valid_rmse <= full.best_valid_rmse + 0.01
    for trial, unpruned in zip(pruned.trials, full.trials):
        if trial.status == "pruned":
            assert unpruned.valid_rmse > full.best_valid_rmse + 0.1
            assert trial.epochs_run < unpruned.epochs_run


def test_the_same_seed_gives_the_same_trials_and_best_settings(planted, mf_result):
    again = tune(planted, "mf", n_trials=12, seed=0, params=SMALL)
    assert [t.params for t in again.trials] == [t.params for t in mf_result.trials]
    assert [t.status for t in again.trials] == [t.status for t in mf_result.trials]
    assert [t.best_epochs for t in again.trials] == [t.best_epochs for t in mf_result.trials]
    assert np.allclose([t.valid_rmse for t in again.trials],
                       [t.valid_rmse for t in mf_result.trials], rtol=1e-9, equal_nan=True)
    assert again.best_params == mf_result.best_params
    other = tune(planted, "mf", n_trials=3, seed=5, params=SMALL)
    assert [t.params for t in other.trials] != [t.params for t in mf_result.trials[:3]]


def test_the_refit_uses_all_ratings_and_the_chosen_epochs(planted, mf_result):
    model = mf_result.model
    chosen = mf_result.best_n_epochs
    assert chosen == mf_result.best_trial.best_epochs >= 1
    assert model.n_epochs == chosen and model.n_epochs_ == chosen and model.patience is None
    assert int(model.user_counts_.sum()) == len(planted)  # every given rating, no carve
    assert model.data_fingerprint_ == planted.fingerprint()
    assert mf_result.n_train + mf_result.n_valid == len(planted)
    best = mf_result.best_trial
    for name, value in best.params.items():
        assert getattr(model, name) == value


def test_the_search_sees_only_the_training_ratings_it_is_given(planted, monkeypatch):
    train, test = holdout_split(planted, test_size=0.2, random_state=0)

    def pairs(r):
        return set(zip(r.user_ids[r.users].tolist(), r.item_ids[r.items].tolist()))

    test_pairs, train_pairs = pairs(test), pairs(train)
    seen = []
    original = MatrixFactorization.fit

    def recording_fit(self, ratings, validation=None, callback=None, **kwargs):
        seen.append(pairs(ratings) | (pairs(validation) if validation is not None else set()))
        return original(self, ratings, validation, callback, **kwargs)

    monkeypatch.setattr(MatrixFactorization, "fit", recording_fit)
    tune(train, "mf", n_trials=3, seed=0, params=SMALL)
    assert len(seen) == 4  # three trials and the refit
    for used in seen:
        assert used <= train_pairs and not used & test_pairs


def test_a_stop_request_keeps_the_best_trial_so_far(planted):
    done = []  # a stop request once two trials have ended (during the third)
    result = tune(planted, "mf", n_trials=12, seed=0, params=SMALL,
                  progress=lambda trial, best: done.append(trial),
                  should_stop=lambda: len(done) >= 2)
    assert result.interrupted and result.model is None
    assert result.trials[-1].status == "interrupted" and len(result.trials) < 12
    finished = [t for t in result.trials if t.status == "finished"]
    assert result.best_trial in finished
    assert result.best_valid_rmse == min(t.valid_rmse for t in finished)
    with pytest.raises(FitStopped):
        tune(planted, "mf", n_trials=3, seed=0, params=SMALL, should_stop=lambda: True)


def test_baseline_and_hybrid_can_be_tuned(planted):
    base = tune(planted, "baseline", n_trials=4, seed=0)
    assert {"reg_user", "reg_item"} <= set(base.best_params)
    assert 1 <= base.best_params["n_epochs"] <= 10
    cheap = {"ar_steps": 5, "ar_hidden": 20, "mf_epochs": 5, "n_folds": 2}
    hybrid = tune(planted, "hybrid", n_trials=2, seed=0, params=cheap)
    assert hybrid.model is not None and hybrid.model.patience is None
    assert hybrid.best_params["hidden"] in ((16,), (16, 8), (32, 16))
    assert math.isfinite(hybrid.best_valid_rmse)


@pytest.mark.parametrize("model, searched", [
    ("svdpp", {"n_factors", "reg_implicit"}),
    ("knn", {"k", "shrinkage"}),
    ("timebias", {"lr_day", "min_day_ratings"}),
    ("timesvdpp", {"reg_implicit", "lr_day"}),
])
def test_the_netflix_prize_models_can_be_tuned(planted, model, searched):
    space = default_space(model)
    assert searched <= set(space.names)
    result = tune(planted, model, n_trials=3, seed=0)
    assert result.model is not None and result.model.is_fitted
    assert math.isfinite(result.best_valid_rmse)
    for name in searched:
        assert result.best_params[name] == getattr(result.model, name)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs, words", [
    ({"n_trials": 0}, ["n_trials", ">= 1"]),
    ({"valid_size": 0.0005}, ["too few", "raise valid_size"]),
    ({"valid_size": 0}, ["valid_size", "validation part"]),
    ({"model": "mean"}, ["no settings to tune"]),
    ({"space": {"lrr": LogUniform(0.01, 0.1)}}, ["lrr"]),
    ({"params": {"n_factorz": 3}}, ["n_factorz"]),
])
def test_bad_settings_of_the_search_say_what_to_change(planted, kwargs, words):
    with pytest.raises(ParameterError) as info:
        tune(planted, **{"model": "mf", "n_trials": 2, **kwargs})
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message


# ---------------------------------------------------------------- the settings file
def test_the_settings_file_round_trips(mf_result, tmp_path):
    path = mf_result.save_params(tmp_path / "best.json")
    content = json.loads(path.read_text())
    assert content["model"] == "mf" and content["n_epochs"] == mf_result.best_n_epochs
    assert content["search"]["trials_run"] == 12
    saved = read_params(path)
    model = build_model(saved.model, saved.params, source=str(path))
    assert model.get_params() == mf_result.best_params
    assert [p.name for p in tmp_path.iterdir()] == ["best.json"]  # no temporary left
    with pytest.raises(RecsysError, match="folder"):
        mf_result.save_params(tmp_path)


def test_a_failed_write_leaves_the_previous_settings_file(mf_result, tmp_path, monkeypatch):
    import recsys._atomic

    target = tmp_path / "best.json"
    target.write_text("{}")

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(recsys._atomic.os, "replace", disk_full)
    with pytest.raises(RecsysError, match="No space left"):
        mf_result.save_params(target)
    assert target.read_text() == "{}"
    assert [p.name for p in tmp_path.iterdir()] == ["best.json"]


# ---------------------------------------------------------------- pieces
def test_the_median_rule():
    pruner = MedianPruner(warmup_epochs=2, min_trials=3)
    for final in (1.0, 1.1, 1.2):
        pruner.record([2.0, 1.5, final], finished=True)
    assert not pruner.should_prune([5.0])               # warm-up
    assert pruner.should_prune([5.0, 1.6])              # worse than the median 1.5 at epoch 2
    assert not pruner.should_prune([5.0, 1.4])
    assert pruner.should_prune([2.0, 1.5, 1.5, 1.3])    # finished trials count with their best
    assert not pruner.should_prune([2.0, 1.5, 1.5, 1.05])
    pruner.record([9.0, 9.0], finished=False)           # pruned at epoch 2: unknown after
    assert pruner.reference(3) == [1.0, 1.1, 1.2]


def test_spaces_sample_inside_their_ranges_and_repeat():
    space = SearchSpace({"a": LogUniform(1e-3, 1e-1), "k": IntLogUniform(4, 40),
                         "h": Choice(((8,), (8, 4)))}, fixed={"patience": 3})
    points = space.sample(200, seed=3)
    assert points == space.sample(200, seed=3) and points != space.sample(200, seed=4)
    assert all(1e-3 <= p["a"] <= 1e-1 and 4 <= p["k"] <= 40 for p in points)
    assert {p["k"] for p in points} >= {4, 40} and {p["h"] for p in points} == {(8,), (8, 4)}
    u = halton(64, 3, seed=0)
    assert u.shape == (64, 3) and (u >= 0).all() and (u < 1).all()
    # evenly spread: every eighth of each axis gets close to its share
    counts = np.stack([np.bincount((u[:, d] * 8).astype(int), minlength=8) for d in range(3)])
    assert counts.min() >= 6 and counts.max() <= 10


def test_the_defaults_are_tried_first_so_a_short_search_never_ends_worse_on_validation(planted):
    with_defaults = tune(planted, "mf", n_trials=2, seed=3, params=SMALL, refit=False)
    defaults_trial = with_defaults.trials[0]
    assert defaults_trial.params["lr"] == MatrixFactorization().lr
    assert with_defaults.best_valid_rmse <= defaults_trial.valid_rmse
    sampled_only = tune(planted, "mf", n_trials=2, seed=3, params=SMALL, refit=False,
                        try_defaults=False)
    assert sampled_only.trials[0].params["lr"] != MatrixFactorization().lr
    assert with_defaults.trials[1].params == sampled_only.trials[0].params
    assert set(defaults_trial.params) == {"lr", "reg", "reg_bias"}  # n_factors, init_std fixed
