"""MatrixFactorization: accuracy on planted data and ML-100k, threads, early stopping,
divergence, fallbacks (the shared contract is in test_model_contract.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsys.data import load_predefined_split
from recsys.data.ratings import Ratings
from recsys.data.synthetic import make_planted
from recsys.errors import DivergenceError, RecsysError
from recsys.models._blocks import choose_item_blocks, choose_n_blocks
from recsys.models.mf import MatrixFactorization

ML100K = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-100k"
NOISE = 0.5


def planted(seed: int = 0) -> Ratings:
    """36,000 ratings of 300 users x 200 items from a rank-3 biased model plus N(0, 0.5^2)."""
    return make_planted(n_users=300, n_items=200, n_ratings=36_000, n_factors=3, noise=NOISE,
                        random_state=seed)


@pytest.fixture(scope="module")
def split():
    data = planted()
    test = np.random.default_rng(0).random(len(data)) < 0.2
    return data.subset(~test), data.subset(test)


def rmse(model, data):
    return float(np.sqrt(np.mean((model.predict_ratings(data) - data.ratings) ** 2)))


SMALL = dict(n_factors=3, n_epochs=60, lr=0.01, lr_bias=0.01, lr_decay=0.0, reg=0.02,
             reg_bias=0.02, init_std=0.1, random_state=0)


def test_planted_recovery_within_five_percent_of_the_noise(split):
    train, test = split
    model = MatrixFactorization(**SMALL).fit(train)
    assert NOISE * 0.9 < rmse(model, test) <= NOISE * 1.05
    assert model.n_epochs_ == 60 and len(model.history_["train_rmse"]) == 60
    assert model.history_["train_rmse"][-1] < model.history_["train_rmse"][0]


def test_funk_without_biases_learns(split):
    train, test = split
    model = MatrixFactorization(**{**SMALL, "biased": False, "n_factors": 6}).fit(train)
    assert np.all(model.user_bias_ == 0) and model.mu_ == 0.0
    assert rmse(model, test) < 0.8 * float(np.std(test.ratings))


def test_one_thread_is_bit_for_bit_repeatable(split):
    train, _ = split
    a = MatrixFactorization(**{**SMALL, "n_epochs": 5}).fit(train)
    b = MatrixFactorization(**{**SMALL, "n_epochs": 5}).fit(train)
    c = MatrixFactorization(**{**SMALL, "n_epochs": 5, "random_state": 1}).fit(train)
    assert np.array_equal(a.user_factors_, b.user_factors_)
    assert np.array_equal(a.item_bias_, b.item_bias_)
    assert a.history_ == b.history_
    assert not np.array_equal(a.user_factors_, c.user_factors_)


def test_item_blocks_follow_the_item_rows_bytes():
    # Netflix Prize's shape, 100 factors: 7.1 MB of item rows in blocks of about 2 MB
    assert choose_item_blocks(16, 17_770, 100, 2, grouped=True) == 4
    # never fewer than two per thread, never more than the user blocks
    assert choose_item_blocks(16, 1_000, 100, 4, grouped=True) == 8
    assert choose_item_blocks(6, 200_000, 100, 2, grouped=True) == 6
    assert choose_item_blocks(16, 1_000, 10, 1, grouped=True) == 1
    # shuffled blocks (small tables) keep the square grid
    assert choose_item_blocks(8, 17_770, 100, 2, grouped=False) == 8
    assert choose_item_blocks(1, 17_770, 100, 2, grouped=True) == 1


def test_grouped_order_on_a_rectangular_grid_accuracy_in_range(split, monkeypatch):
    """Blocks learned user by user (the order large tables get) on two threads: the grid
    then has fewer item blocks than user blocks, and the fit is as good as the square one."""
    from recsys.models import _blocks, _sgd

    train, test = split
    monkeypatch.setattr(_sgd, "WITHIN_BLOCK_ORDER", "grouped")
    monkeypatch.setattr(_blocks, "ITEM_BLOCK_BYTES", 1024)  # 2.4 kB of item rows: 4 blocks
    n_blocks = choose_n_blocks(len(train), 300, 200, 3, 2)
    assert choose_item_blocks(n_blocks, 200, 3, 2, grouped=True) < n_blocks
    rect = MatrixFactorization(**{**SMALL, "n_threads": 2}).fit(train)
    monkeypatch.setattr(_blocks, "ITEM_BLOCK_BYTES", 1)  # as many item blocks as user blocks
    square = MatrixFactorization(**{**SMALL, "n_threads": 2}).fit(train)
    assert rmse(rect, test) <= NOISE * 1.05
    assert abs(rmse(rect, test) - rmse(square, test)) < 0.01
    assert not np.array_equal(rect.user_factors_, square.user_factors_)  # another grid


def test_two_threads_accuracy_in_range(split):
    train, test = split
    assert choose_n_blocks(len(train), 300, 200, 3, 2) >= 4
    assert choose_n_blocks(25_000_000, 162_000, 59_000, 100, 2) <= 16
    one = MatrixFactorization(**SMALL).fit(train)
    two = MatrixFactorization(**{**SMALL, "n_threads": 2}).fit(train)
    assert len(two.history_["train_rmse"]) == SMALL["n_epochs"]
    assert rmse(two, test) <= NOISE * 1.05
    assert abs(rmse(two, test) - rmse(one, test)) < 0.01


def test_early_stopping_carves_validation_from_training(split):
    train, test = split
    seen = []
    model = MatrixFactorization(
        **{**SMALL, "n_factors": 30, "reg": 0.0, "lr": 0.03, "n_epochs": 200},
        patience=3, valid_size=0.2,
    ).fit(train, callback=lambda epoch, history: seen.append(len(history["valid_rmse"])))
    assert model.n_epochs_ < 200  # an unregularised big model overfits, so it stopped
    assert seen == list(range(1, model.n_epochs_ + 1))
    valid = np.asarray(model.history_["valid_rmse"])
    assert model.best_epoch_ == int(np.argmin(valid))
    assert model.n_epochs_ - 1 - model.best_epoch_ == 3
    # the kept parameters are the best epoch's, and the validation came from training: the
    # test set was never passed in and the history has no test figure
    assert set(model.history_) == {"train_rmse", "valid_rmse"}
    assert rmse(model, test) < float(np.std(test.ratings))


def test_early_stopping_with_an_explicit_validation_set(split):
    train, valid = split
    model = MatrixFactorization(**{**SMALL, "n_epochs": 8}, patience=50).fit(train, valid)
    assert model.n_epochs_ == 8 and len(model.history_["valid_rmse"]) == 8
    assert model.history_["valid_rmse"][-1] == pytest.approx(rmse(model, valid), abs=1e-4)


def test_divergence_raises_and_names_the_setting(split):
    train, _ = split
    with pytest.raises(DivergenceError, match="lower lr"):
        MatrixFactorization(n_factors=10, lr=3.0, n_epochs=5, random_state=0).fit(train)


@pytest.mark.parametrize("params", [
    {"n_factors": 0}, {"lr": 0.0}, {"lr": float("nan")}, {"reg": -1.0}, {"n_epochs": 2.5},
    {"valid_size": 1.5}, {"patience": -2}, {"lr_bias": -0.1},
])
def test_bad_parameters_raise_a_clear_error(params, split):
    with pytest.raises(RecsysError):
        MatrixFactorization(**params).fit(split[0])


def test_fallbacks_and_vectorised_scores_agree(split):
    train, _ = split
    model = MatrixFactorization(**{**SMALL, "n_epochs": 5}).fit(train)
    u = np.array([0, 5, -1], dtype=np.int64)
    scores = model._score_users(u)
    items = np.arange(model.n_items_)
    for row, user in enumerate(u):
        direct = model._predict_indices(np.full(len(items), user), items)
        assert np.allclose(scores[row], direct, atol=1e-4)
    assert np.allclose(scores[2], model.mu_ + model.item_bias_, atol=1e-6)
    unknown_item = model._predict_indices(np.array([5]), np.array([-1]))[0]
    assert unknown_item == pytest.approx(model.mu_ + model.user_bias_[5], abs=1e-6)
    nearest = model.similar_items(train.item_ids[0], n=3)
    assert len(nearest) == 3


def test_default_model_on_ml100k_u1():
    if not (ML100K / "u1.base").is_file():
        pytest.skip(f"ML-100k not found at {ML100K}")
    train, held = load_predefined_split(ML100K, "u1", download=False)
    assert len(train) == 80_000 and len(held) == 20_000
    model = MatrixFactorization(random_state=0).fit(train)
    assert rmse(model, held) <= 0.93
