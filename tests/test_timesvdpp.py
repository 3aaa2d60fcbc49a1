"""TimeSVDpp: the per-rating update (time terms included) against finite differences, the
user-grouped pass, planted time drift plus low-rank structure, prediction at a time,
fallbacks, saving, settings, scale-freeness and repeatability."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsys.data.ratings import Ratings
from recsys.errors import DivergenceError, NotFittedError, ParameterError, RecsysError
from recsys.metrics import rmse
from recsys.models import _time
from recsys.models import _timesvdpp_sgd as kernels
from recsys.models.io import load_model
from recsys.models.progress import FitStopped
from recsys.models.selection import fit_with_validation
from recsys.models.svdpp import SVDpp
from recsys.models.timebias import TimeAwareBaseline
from recsys.models.timesvdpp import TimeSVDpp

ML100K = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-100k"
DAY = 86_400
A_STD = 0.05
T0 = 1_000_000_000 - 1_000_000_000 % DAY  # a midnight (UTC)


# ---------------------------------------------------------------------------- the update
def _params(rng, n_users=4, n_items=6, k=5, n_slots=3, n_bins=4):
    return {"bu": rng.normal(0, 0.3, n_users), "alpha": rng.normal(0, 0.1, n_users),
            "but": rng.normal(0, 0.3, n_slots), "bi": rng.normal(0, 0.3, n_items),
            "bib": rng.normal(0, 0.3, (n_items, n_bins)),
            "P": rng.normal(0, 0.5, (n_users, k)), "Q": rng.normal(0, 0.5, (n_items, k)),
            "Y": rng.normal(0, 0.5, (n_items, k))}


def _predict(p, mu, u, i, dev, b, slot, seen):
    z = p["Y"][seen].sum(0) / np.sqrt(len(seen))
    day = p["but"][slot] if slot >= 0 else 0.0
    return (mu + p["bu"][u] + p["alpha"][u] * dev + day + p["bi"][i] + p["bib"][i, b]
            + p["Q"][i] @ (p["P"][u] + z))


def _loss(p, r, mu, u, i, dev, b, slot, seen, reg, reg_y, reg_b):
    e = r - _predict(p, mu, u, i, dev, b, slot, seen)
    day = p["but"][slot] if slot >= 0 else 0.0
    biases = (reg_b[0] * p["bu"][u] ** 2 + reg_b[1] * p["alpha"][u] ** 2 + reg_b[2] * day ** 2
              + reg_b[3] * p["bi"][i] ** 2 + reg_b[4] * p["bib"][i, b] ** 2)
    return (0.5 * e ** 2 + 0.5 * reg * (p["P"][u] @ p["P"][u] + p["Q"][i] @ p["Q"][i])
            + 0.5 * biases + 0.5 * reg_y * (p["Y"][seen] ** 2).sum())


def _steps(p, u, items, values, devs, bins, slots, seen, mu, lr, reg, reg_y, lr_b, reg_b):
    return kernels.user_steps(
        u, np.asarray(items, np.int32), np.asarray(values, np.float64),
        np.asarray(devs, np.float64), np.asarray(bins, np.int32), np.asarray(slots, np.int32),
        seen, mu, p["bu"], p["alpha"], p["but"], p["bi"], p["bib"], p["P"], p["Q"], p["Y"], lr,
        reg, reg_y, lr_b, reg_b)


@pytest.mark.parametrize("slot", [2, -1], ids=["with a day bias", "without"])
def test_one_rating_step_is_minus_lr_times_the_finite_difference_gradient(slot):
    rng = np.random.default_rng(0)
    p = _params(rng)
    mu, r, u, i, dev, b = 0.2, 1.3, 2, 1, -2.7, 3
    lr, reg, reg_y = 0.01, 0.07, 0.05
    lr_b = np.array([0.02, 0.003, 0.03, 0.015, 0.05])
    reg_b = np.array([0.1, 0.5, 0.2, 0.05, 0.3])
    seen = np.array([1, 3, 4], dtype=np.int32)  # N(u): the rated item and two more
    k = p["P"].shape[1]
    touched = ([("bu", (u,), lr_b[0]), ("alpha", (u,), lr_b[1]), ("bi", (i,), lr_b[3]),
                ("bib", (i, b), lr_b[4])] + ([("but", (slot,), lr_b[2])] if slot >= 0 else [])
               + [("P", (u, f), lr) for f in range(k)] + [("Q", (i, f), lr) for f in range(k)]
               + [("Y", (j, f), lr) for j in seen for f in range(k)])
    h = 1e-6
    grads = {}
    for name, idx, _ in touched:
        plus = {key: v.copy() for key, v in p.items()}
        minus = {key: v.copy() for key, v in p.items()}
        plus[name][idx] += h
        minus[name][idx] -= h
        args = (r, mu, u, i, dev, b, slot, seen, reg, reg_y, reg_b)
        grads[(name, idx)] = (_loss(plus, *args) - _loss(minus, *args)) / (2 * h)
    before = {key: v.copy() for key, v in p.items()}
    sse = _steps(p, u, [i], [r], [dev], [b], [slot], seen, mu, lr, reg, reg_y, lr_b, reg_b)
    e = r - _predict(before, mu, u, i, dev, b, slot, seen)
    assert sse == pytest.approx(e * e, rel=1e-9)
    for name, idx, rate in touched:
        step = p[name][idx] - before[name][idx]
        assert step == pytest.approx(-rate * grads[(name, idx)], rel=1e-5, abs=1e-11), (
            name, idx)
    # nothing else moved
    allowed = {(name, idx) for name, idx, _ in touched}
    for name in p:
        for idx in np.argwhere(p[name] != before[name]):
            assert (name, tuple(int(x) for x in idx)) in allowed, (name, idx)
    assert slot >= 0 or np.array_equal(p["but"], before["but"])


def test_a_users_pass_holds_z_fixed_and_applies_the_summed_y_steps_at_the_end():
    rng = np.random.default_rng(1)
    p = _params(rng)
    items, values = [4, 0, 4, 2], [1.0, -0.5, 0.8, 0.1]  # an item twice: its terms move between
    devs, bins, slots = [0.5, -1.0, 2.0, 0.0], [0, 3, 1, 3], [0, -1, 0, 1]
    seen = np.array([0, 2, 4, 5], dtype=np.int32)
    u, mu, lr, reg, reg_y = 1, 0.1, 0.05, 0.1, 0.3
    lr_b, reg_b = np.array([0.05, 0.01, 0.04, 0.03, 0.02]), np.array([0.02, 1.0, 0.1, 0.05, 0.2])
    want = {key: v.copy() for key, v in p.items()}
    norm = 1 / np.sqrt(len(seen))
    z = want["Y"][seen].sum(0) * norm
    g = np.zeros(want["P"].shape[1])
    for i, r, dev, b, slot in zip(items, values, devs, bins, slots):
        e = r - (mu + want["bu"][u] + want["alpha"][u] * dev
                 + (want["but"][slot] if slot >= 0 else 0.0) + want["bi"][i]
                 + want["bib"][i, b] + want["Q"][i] @ (want["P"][u] + z))
        want["bu"][u] += lr_b[0] * (e - reg_b[0] * want["bu"][u])
        want["alpha"][u] += lr_b[1] * (e * dev - reg_b[1] * want["alpha"][u])
        if slot >= 0:
            want["but"][slot] += lr_b[2] * (e - reg_b[2] * want["but"][slot])
        want["bi"][i] += lr_b[3] * (e - reg_b[3] * want["bi"][i])
        want["bib"][i, b] += lr_b[4] * (e - reg_b[4] * want["bib"][i, b])
        g += e * norm * want["Q"][i]
        want["P"][u], want["Q"][i] = (
            want["P"][u] + lr * (e * want["Q"][i] - reg * want["P"][u]),
            want["Q"][i] + lr * (e * (want["P"][u] + z) - reg * want["Q"][i]))
    want["Y"][seen] = (1 - lr * reg_y) ** len(items) * want["Y"][seen] + lr * g
    _steps(p, u, items, values, devs, bins, slots, seen, mu, lr, reg, reg_y, lr_b, reg_b)
    for name in p:
        np.testing.assert_allclose(p[name], want[name], rtol=1e-10, atol=1e-12, err_msg=name)


def test_an_epoch_shuffles_each_users_ratings_with_their_time_features():
    rng = np.random.default_rng(2)
    n = 600
    users = rng.integers(0, 30, n).astype(np.int32)
    indptr, order = kernels.group_rows(users, 30)
    assert np.array_equal(users[order], np.sort(users, kind="stable"))
    items = rng.integers(0, 20, n).astype(np.int32)[order]
    rows = np.arange(n)
    f32 = np.float32
    values, devs = rng.normal(size=n).astype(f32), rng.normal(size=n).astype(f32)
    bins, slots = rng.integers(0, 3, n).astype(np.int32), np.full(n, -1, np.int32)
    params = [np.zeros(30, f32), np.zeros(30, f32), np.zeros(0, f32), np.zeros(20, f32),
              np.zeros((20, 3), f32)] + [rng.normal(0, 0.1, (m, 6)).astype(f32)
                                         for m in (30, 20, 20)]
    before = list(zip(items.tolist(), rows.tolist()))
    sse = kernels.epoch_kernel(6)(indptr, items, rows, values, devs, bins, slots,
                                  np.arange(30)[::-1].copy(), indptr, items.copy(), f32(0),
                                  *params, f32(0.01), f32(0.02), f32(0.02),
                                  np.full(5, 0.01, f32), np.full(5, 0.02, f32), 7, 0)
    assert np.isfinite(sse) and sse > 0
    assert not np.array_equal(rows, np.arange(n))  # shuffled ...
    for a, b in zip(indptr[:-1], indptr[1:]):  # ... within each user, items with their rows
        assert sorted(zip(items[a:b].tolist(), rows[a:b].tolist())) == sorted(before[a:b])


# ---------------------------------------------------------------------------- planted data
def planted(seed: int = 0, n_users: int = 150, n_items: int = 120, n_days: int = 300,
            sessions: int = 8, per_session: int = 10) -> tuple[Ratings, np.ndarray]:
    """``3 + b_u + a_u dev_u(t) + jump_{u,day} + b_i + drift_i (t / n_days - 1/2) + p_u . q_i
    + noise``: time drift of users and items, per-day jumps and rank-3 structure, each user
    rating in ``sessions`` sessions (days) spread over the period. Returns the ratings and
    the planted item drift."""
    rng = np.random.default_rng(seed)
    b_u, a_u = rng.normal(0, 0.3, n_users), rng.normal(0, A_STD, n_users)
    b_i, drift = rng.normal(0, 0.3, n_items), rng.normal(0, 1.2, n_items)
    P, Q = rng.normal(0, 0.6, (n_users, 3)), rng.normal(0, 0.6, (n_items, 3))
    users, items, days, jumps = [], [], [], []
    for u in range(n_users):
        session_days = np.sort(rng.choice(n_days, sessions, replace=False))
        chosen = rng.choice(n_items, sessions * per_session, replace=False)
        for s, day in enumerate(session_days):
            users += [u] * per_session
            items += list(chosen[s * per_session:(s + 1) * per_session])
            days += [int(day)] * per_session
            jumps += [rng.normal(0, 0.3)] * per_session
    users, items, days = np.array(users), np.array(items), np.array(days)
    mean_day = np.bincount(users, days) / np.bincount(users)
    dev = _time.deviation(days, mean_day[users], 0.4)
    r = (3 + b_u[users] + a_u[users] * dev + np.array(jumps) + b_i[items]
         + drift[items] * (days / n_days - 0.5) + (P[users] * Q[items]).sum(1)
         + rng.normal(0, 0.2, len(users)))
    stamps = T0 + days * DAY + rng.integers(0, DAY, len(users))
    return Ratings.from_arrays(users, items, np.clip(r, -5, 11), timestamps=stamps,
                               rating_scale=(-5, 11)), drift


BIASES = dict(lr_user=0.01, lr_item=0.01, lr_day=0.01, lr_bin=0.01, lr_alpha=0.002,
              reg_user=0.01, reg_item=0.01, reg_day=0.05, reg_bin=0.05, reg_alpha=0.01,
              n_bins=20, min_day_ratings=3)
FACTORS = dict(n_factors=6, lr=0.05, lr_decay=0.0, reg=0.01, reg_implicit=0.005,
               init_std=0.2)
SMALL = dict(**BIASES, **FACTORS, n_epochs=40, random_state=0)


@pytest.fixture(scope="module")
def data() -> Ratings:
    return planted()[0]


@pytest.fixture(scope="module")
def fitted(data) -> TimeSVDpp:
    return TimeSVDpp(**{**SMALL, "n_epochs": 8}).fit(data)


def pairs(ratings: Ratings):
    return ratings.user_ids[ratings.users], ratings.item_ids[ratings.items]


def error(model, ratings: Ratings) -> float:
    return rmse(ratings.ratings, model.predict_ratings(ratings))


def test_planted_drift_and_factors_beat_svdpp_and_the_time_aware_baseline(data):
    later = data.timestamps >= T0 + 255 * DAY
    train, test = data.subset(~later), data.subset(later)
    both = TimeSVDpp(**SMALL).fit(train)
    svdpp = SVDpp(**FACTORS, lr_bias=0.01, reg_bias=0.01, n_epochs=40, random_state=0
                  ).fit(train)
    times = TimeAwareBaseline(**BIASES, n_epochs=40, random_state=0).fit(train)
    scores = {name: error(m, test) for name, m in
              (("both", both), ("svdpp", svdpp), ("times", times))}
    assert scores["both"] < 0.8 * scores["svdpp"], scores
    assert scores["both"] < 0.8 * scores["times"], scores
    assert both.n_epochs_ == 40 and both.history_["train_rmse"][-1] < both.history_[
        "train_rmse"][0]
    # each part learned its share: drift in the item bins, factors beyond the biases
    drift = planted()[1][train.item_ids.astype(int)]
    assert np.corrcoef(both.bin_bias_[:, -1] - both.bin_bias_[:, 0], drift)[0, 1] > 0.8
    factor_term = (both.user_vectors_[train.users] * both.item_factors_[train.items]).sum(1)
    assert np.std(factor_term) * both.rating_map_.spread > 0.3  # planted: std 0.62


def test_per_day_biases_help_on_ratings_from_known_days(data):
    held = np.random.default_rng(3).random(len(data)) < 0.2
    train, test = data.subset(~held), data.subset(held)
    with_days = TimeSVDpp(**SMALL).fit(train)
    without = TimeSVDpp(**{**SMALL, "min_day_ratings": None}).fit(train)
    assert without.time_.n_slots == 0 and without.day_bias_.shape == (0,)
    assert error(with_days, test) < 0.95 * error(without, test)
    # the test's timestamps matter: at "now" (no per-day term, last bin) it does worse
    assert error(with_days, test) < 0.9 * rmse(test.ratings, with_days.predict(*pairs(test)))


def test_predict_at_times_and_now(fitted, data):
    users, items = pairs(data)
    at_times = fitted.predict(users, items, data.timestamps)
    np.testing.assert_array_equal(fitted.predict_ratings(data), at_times)
    np.testing.assert_array_equal(
        fitted.predict_indices(data.users, data.items, timestamps=data.timestamps), at_times)
    now = (fitted.time_.last_day + 1) * DAY
    np.testing.assert_allclose(fitted.predict(users[:20], items[:20], now),
                               fitted.predict(users[:20], items[:20]))
    assert not np.allclose(at_times[:50], fitted.predict(users[:50], items[:50]))
    # recommend and score_users at "now" agree with predict at "now"
    u = np.array([0, 7, -1])
    scores = fitted._score_users(u)
    for row, user in enumerate(u):
        direct = fitted._predict_indices(np.full(fitted.n_items_, user),
                                         np.arange(fitted.n_items_))
        np.testing.assert_allclose(scores[row], direct, atol=1e-4)
    frame = fitted.recommend(users[0], n=5)
    np.testing.assert_allclose(frame["prediction"],
                               fitted.predict(np.repeat(users[0], 5), frame["item"].to_numpy()),
                               atol=1e-5)
    assert len(fitted.similar_items(items[0], n=3)) == 3


def test_unknown_ids_fall_back_to_the_time_aware_biases(fitted, data):
    user, item = data.user_ids[0], data.item_ids[0]
    u, i = 0, 0
    t = int(data.timestamps[0])
    pred, fell_back = fitted.predict([user, "x", user, "x"], [item, item, "y", "y"], t,
                                     return_fallback=True)
    assert fell_back.tolist() == [False, True, True, True]
    (dev,), (b,), (slot,) = fitted.time_.encode(np.array([u]), np.array([t]))
    item_only = fitted.mu_ + fitted.item_bias_[i] + fitted.bin_bias_[i, b]
    user_only = fitted.mu_ + fitted.user_bias_[u] + fitted.alpha_[u] * dev + (
        fitted.day_bias_[slot] if slot >= 0 else 0.0)
    to_ratings = fitted.rating_map_.to_ratings
    assert pred[1] == pytest.approx(to_ratings(item_only), abs=1e-5)
    assert pred[2] == pytest.approx(to_ratings(user_only), abs=1e-5)
    assert pred[3] == pytest.approx(fitted.global_mean_, abs=1e-5)
    assert fitted.recommend("x", n=3, cold_start=True).attrs["fallback"]


def test_save_load_round_trip(fitted, data, tmp_path):
    loaded = load_model(fitted.save(tmp_path / "timesvdpp.npz"))
    assert type(loaded) is TimeSVDpp and loaded.get_params() == fitted.get_params()
    np.testing.assert_array_equal(loaded.predict_ratings(data), fitted.predict_ratings(data))
    np.testing.assert_array_equal(loaded.predict(*pairs(data)), fitted.predict(*pairs(data)))
    assert np.array_equal(loaded.user_vectors_, fitted.user_vectors_)
    assert loaded.history_ == fitted.history_
    assert loaded.time_.n_slots == fitted.time_.n_slots > 0
    user = data.user_ids[3]
    assert loaded.recommend(user, n=5).equals(fitted.recommend(user, n=5))
    assert sorted(k for k in fitted.to_arrays() if k.startswith("state/")) == sorted(
        f"state/{name}" for name in (
            "user_factors", "item_factors", "implicit_factors", "user_bias", "alpha",
            "day_bias", "item_bias", "bin_bias", "mu", "epochs", "time_period",
            "time_mean_days", "time_slot_keys"))


def test_fit_without_timestamps_says_so_in_one_line():
    plain = Ratings.from_arrays([1, 2, 2], [1, 1, 2], [3.0, 4.0, 5.0], name="plain.csv")
    model = TimeSVDpp()
    with pytest.raises(RecsysError) as info:
        model.fit(plain)
    message = str(info.value)
    assert "\n" not in message and "needs timestamps" in message and "plain.csv" in message
    assert "'svdpp'" in message and not model.is_fitted


@pytest.mark.parametrize("name, value", [
    ("n_factors", 0), ("n_epochs", 2.5), ("lr", 0.0), ("lr", float("nan")), ("reg", -1.0),
    ("reg_implicit", "a"), ("lr_decay", -1), ("init_std", float("inf")), ("n_bins", 0),
    ("beta", 0.0), ("beta", 1.5), ("min_day_ratings", 0), ("lr_user", -0.1),
    ("lr_alpha", float("nan")), ("reg_day", -1.0), ("reg_bin", "big"), ("lr_item", None),
    ("patience", 0), ("valid_size", 1.0), ("random_state", -1), ("verbose", "yes"),
])
def test_bad_settings_raise_one_line_naming_the_setting(data, name, value):
    with pytest.raises(ParameterError) as info:
        TimeSVDpp(**{name: value}).fit(data)
    message = str(info.value)
    assert message.startswith(f"TimeSVDpp: {name} must be") and "\n" not in message


def test_divergence_raises_and_names_the_step_sizes(data):
    with pytest.raises(DivergenceError, match="lower lr.*lr_alpha"):
        TimeSVDpp(n_factors=6, lr=3.0, lr_user=3.0, n_epochs=5, random_state=0).fit(data)


def test_a_stop_request_leaves_the_model_unfitted(data):
    model = TimeSVDpp(**SMALL)
    with pytest.raises(FitStopped):
        model.fit(data, should_stop=lambda: True)
    assert not model.is_fitted
    with pytest.raises(NotFittedError):
        model.predict([0], [0])


def test_early_stopping_and_the_epoch_choice(data):
    calls = []
    model = TimeSVDpp(**{**SMALL, "reg": 0.0, "reg_implicit": 0.0, "n_epochs": 200},
                      patience=3, valid_size=0.2)
    model.fit(data, callback=lambda epoch, history: calls.append(len(history["valid_rmse"])))
    assert model.n_epochs_ < 200 and calls == list(range(1, model.n_epochs_ + 1))
    assert model.best_epoch_ == int(np.argmin(model.history_["valid_rmse"]))
    assert model.n_epochs_ - 1 - model.best_epoch_ == 3
    assert model.validation_settings() == {"patience": 3, "n_epochs": 600}
    assert model.refit_settings() == {"n_epochs": model.best_epoch_ + 1, "patience": None}
    assert TimeSVDpp(n_epochs=20).validation_settings() == {"patience": 10, "n_epochs": 60}
    chosen = fit_with_validation(TimeSVDpp(**{**SMALL, "n_epochs": 15}), data)
    assert chosen.selection_["settings"]["patience"] is None
    assert chosen.n_epochs_ == chosen.selection_["settings"]["n_epochs"] <= 45


def test_seeded_fits_repeat_bit_for_bit(data):
    make = lambda seed: TimeSVDpp(  # noqa: E731
        **{**SMALL, "n_epochs": 3, "random_state": seed}).fit(data)
    a, b, c = make(1), make(1), make(2)
    for name in ("user_factors_", "implicit_factors_", "alpha_", "day_bias_", "bin_bias_"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.history_ == b.history_
    assert not np.array_equal(a.implicit_factors_, c.implicit_factors_)


@pytest.mark.parametrize("a, b", [(-25.0, 25.0), (10.0, 0.25), (0.3, 1.37)])
def test_predictions_follow_a_change_of_units(data, a, b):
    low, high = data.rating_scale
    other = Ratings.from_arrays(*pairs(data), a + b * data.ratings.astype(np.float64),
                                timestamps=data.timestamps,
                                rating_scale=(a + b * low, a + b * high))
    make = lambda: TimeSVDpp(**{**SMALL, "n_epochs": 6}, patience=2)  # noqa: E731
    base, moved = make().fit(data), make().fit(other)
    expected = a + b * base.predict_ratings(data)
    gap = np.max(np.abs(moved.predict_ratings(other) - expected)) / (b * (high - low))
    assert gap < 2e-4
    for key in ("train_rmse", "valid_rmse"):
        np.testing.assert_allclose(moved.history_[key], b * np.asarray(base.history_[key]),
                                   rtol=1e-3)


@pytest.mark.skipif(not (ML100K / "u1.base").is_file(),
                    reason="ML-100k not present in ../shared/datasets")
def test_defaults_on_ml100k_u1_beat_svdpp():
    from recsys.data import load_predefined_split

    train, test = load_predefined_split(ML100K, "u1", download=False)
    timed = TimeSVDpp(random_state=0).fit(train)
    assert error(timed, test) <= 0.905  # 0.9009 measured; SVDpp's defaults: 0.9086
