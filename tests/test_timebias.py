"""The time-aware biases (timeSVD++'s baseline): time features, the per-rating SGD step, and
the estimator (planted time effects recovered, prediction at a time, fallbacks, saving,
settings, scale-free learning)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsys.data.ratings import Ratings
from recsys.errors import DivergenceError, ParameterError, RecsysError
from recsys.metrics import rmse
from recsys.models import _time
from recsys.models import _timebias_sgd as kernels
from recsys.models.baseline import BiasBaseline
from recsys.models.io import load_model
from recsys.models.progress import FitStopped
from recsys.models.selection import fit_with_validation
from recsys.models.timebias import TimeAwareBaseline

ML100K = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-100k"
DAY = 86_400
T0 = 1_000_000_000 - 1_000_000_000 % DAY  # a midnight (UTC)

# step sizes that learn the planted data below in a few dozen epochs
PLANTED_SETTINGS = dict(lr_user=0.01, lr_item=0.01, lr_day=0.01, lr_bin=0.01, lr_alpha=0.002,
                        reg_user=0.01, reg_item=0.01, reg_day=0.05, reg_bin=0.05,
                        reg_alpha=0.01, n_bins=20, min_day_ratings=3)


def planted(seed: int = 0, n_users: int = 150, n_items: int = 200, n_days: int = 300,
            sessions: int = 10, per_session: int = 12):
    """Ratings with real time effects: ``3 + b_u + a_u dev_u(t) + jump_{u,day} + b_i +
    drift_i (t / n_days - 1/2) + noise``, each user rating in ``sessions`` sessions (days)
    spread over the period. Returns the ratings and the planted ``a_u``, ``drift_i`` and the
    per-(user, day) jumps (a dict)."""
    rng = np.random.default_rng(seed)
    b_u, a_u = rng.normal(0, 0.3, n_users), rng.normal(0, 0.12, n_users)
    b_i, drift = rng.normal(0, 0.3, n_items), rng.normal(0, 1.0, n_items)
    users, items, days, jumps = [], [], [], {}
    for u in range(n_users):
        session_days = np.sort(rng.choice(n_days, sessions, replace=False))
        chosen = rng.choice(n_items, sessions * per_session, replace=False)
        for s, day in enumerate(session_days):
            jumps[(u, int(day))] = rng.normal(0, 0.3)
            users += [u] * per_session
            items += list(chosen[s * per_session:(s + 1) * per_session])
            days += [int(day)] * per_session
    users, items, days = np.array(users), np.array(items), np.array(days)
    mean_day = np.bincount(users, days) / np.bincount(users)
    dev = _time.deviation(days, mean_day[users], 0.4)
    jump = np.array([jumps[(u, d)] for u, d in zip(users, days)])
    r = (3 + b_u[users] + a_u[users] * dev + jump + b_i[items]
         + drift[items] * (days / n_days - 0.5) + rng.normal(0, 0.2, len(users)))
    stamps = T0 + days * DAY + rng.integers(0, DAY, len(users))
    data = Ratings.from_arrays(users, items, np.clip(r, -5, 11), timestamps=stamps,
                               rating_scale=(-5, 11))
    return data, a_u, drift, jumps


@pytest.fixture(scope="module")
def data():
    return planted()


def by_time(data: Ratings, cut_day: int) -> tuple[Ratings, Ratings]:
    later = data.timestamps >= T0 + cut_day * DAY
    return data.subset(~later), data.subset(later)


@pytest.fixture(scope="module")
def fitted(data):
    ratings = data[0]
    return TimeAwareBaseline(**PLANTED_SETTINGS, n_epochs=30, random_state=0).fit(ratings)


def pairs(ratings: Ratings):
    return ratings.user_ids[ratings.users], ratings.item_ids[ratings.items]


# --------------------------------------------------------------------------- time helpers
def test_day_numbers_floor_seconds_to_days():
    stamps = np.array([0, DAY - 1, DAY, 10 * DAY + 5, -1], dtype=np.int64)
    assert _time.day_numbers(stamps).tolist() == [0, 0, 1, 10, -1]


def test_bins_cut_the_period_evenly_and_clamp_outside_dates():
    # period of 30 days (100..129) in 3 bins of 10 days
    days = np.array([100, 109, 110, 119, 120, 129])
    assert _time.time_bins(days, 100, 129, 3).tolist() == [0, 0, 1, 1, 2, 2]
    # a date after the period uses the last bin, one before it the first
    assert _time.time_bins(np.array([130, 10_000, 99, -5]), 100, 129, 3).tolist() == [2, 2, 0, 0]
    # every bin index in range, monotone in the day
    many = _time.time_bins(np.arange(90, 140), 100, 129, 7)
    assert many.min() == 0 and many.max() == 6 and np.all(np.diff(many) >= 0)
    assert _time.time_bins(np.array([5, 5]), 5, 5, 30).tolist() == [0, 0]  # a one-day period


def test_deviation_has_the_sign_and_magnitude_of_koren():
    dev = _time.deviation(np.array([110.0, 90.0, 100.0, 101.0]), np.full(4, 100.0), 0.4)
    assert dev[0] == pytest.approx(10 ** 0.4) and dev[1] == pytest.approx(-(10 ** 0.4))
    assert dev[2] == 0.0 and dev[3] == pytest.approx(1.0)
    assert _time.deviation(np.array([116.0]), np.array([100.0]), 0.5)[0] == pytest.approx(4.0)


def test_user_mean_days():
    mean = _time.user_mean_days(np.array([0, 0, 2]), np.array([10, 20, 7]), 3, empty=-1.0)
    assert mean.tolist() == [15.0, -1.0, 7.0]


def test_per_day_slots_only_for_busy_user_days():
    users = np.array([0, 0, 0, 0, 1, 1, 1, 2])
    days = np.array([5, 5, 5, 6, 5, 5, 5, 9])
    keys = _time.day_slot_keys(users, days, 5, 9, min_count=3)
    assert len(keys) == 2  # (0, day 5) and (1, day 5)
    slots = _time.lookup_slots(keys, np.array([0, 1, 0, 2, -1, 0, 0]),
                               np.array([5, 5, 6, 9, 5, 4, 99]), 5, 9)
    assert slots.tolist() == [0, 1, -1, -1, -1, -1, -1]
    assert len(_time.day_slot_keys(users, days, 5, 9, min_count=1)) == 4


def test_features_encode_a_time_and_now():
    users = np.array([0, 0, 0, 1])
    stamps = T0 + np.array([0, 0, 10, 30]) * DAY
    feats = _time.TimeFeatures.fit(users, stamps, 2, n_bins=3, beta=0.4, min_day_ratings=2)
    first = T0 // DAY
    assert (feats.first_day, feats.last_day, feats.n_slots) == (first, first + 30, 1)
    assert feats.mean_days.tolist() == pytest.approx([first + 10 / 3, first + 30])
    dev, bins, slots = feats.encode(np.array([0, 1, -1]), T0 + np.array([0, 0, 0]) * DAY)
    assert dev[0] == pytest.approx(-((10 / 3) ** 0.4)) and dev[1] == pytest.approx(-(30 ** 0.4))
    assert dev[2] == 0.0 and bins.tolist() == [0, 0, 0] and slots.tolist() == [0, -1, -1]
    dev, bins, slots = feats.encode(np.array([0, 1]), None)  # now: the day after training
    assert bins.tolist() == [2, 2] and slots.tolist() == [-1, -1]
    assert dev[1] == pytest.approx(1.0) and dev[0] == pytest.approx((31 - 10 / 3) ** 0.4)
    np.testing.assert_allclose(feats.now_deviation(), dev)
    again = _time.TimeFeatures.from_state(feats.state(), 2, 3, 0.4)
    assert again.first_day == feats.first_day and np.array_equal(again.slot_keys, feats.slot_keys)
    broken = {**feats.state(), "time_slot_keys": np.array([3, 1], dtype=np.int64)}
    with pytest.raises(ValueError, match="time_slot_keys"):
        _time.TimeFeatures.from_state(broken, 2, 3, 0.4)


# --------------------------------------------------------------------------- the SGD step
def _loss(r, mu, params, u, i, dev, b, slot, reg):
    bu, alpha, but, bi, bib = params
    day = but[slot] if slot >= 0 else 0.0
    pred = mu + bu[u] + alpha[u] * dev + day + bi[i] + bib[i, b]
    return (0.5 * (r - pred) ** 2 + 0.5 * (reg[0] * bu[u] ** 2 + reg[1] * alpha[u] ** 2
            + reg[2] * day ** 2 + reg[3] * bi[i] ** 2 + reg[4] * bib[i, b] ** 2))


@pytest.mark.parametrize("slot", [1, -1], ids=["with a day bias", "without"])
def test_sgd_step_is_minus_lr_times_the_finite_difference_gradient(slot):
    rng = np.random.default_rng(0)
    params = [rng.normal(0, 0.3, 4), rng.normal(0, 0.1, 4), rng.normal(0, 0.3, 3),
              rng.normal(0, 0.3, 5), rng.normal(0, 0.3, (5, 6))]
    mu, r, u, i, dev, b = 0.1, 1.3, 2, 3, -2.7, 4
    lr = np.array([0.01, 0.002, 0.03, 0.02, 0.05])
    reg = np.array([0.1, 0.5, 0.2, 0.05, 0.3])
    touched = [(0, (u,)), (1, (u,)), (3, (i,)), (4, (i, b))] + ([(2, (slot,))] if slot >= 0 else [])
    h = 1e-6
    grads = {}
    for k, idx in touched:
        plus = [p.copy() for p in params]
        minus = [p.copy() for p in params]
        plus[k][idx] += h
        minus[k][idx] -= h
        grads[(k, idx)] = (_loss(r, mu, plus, u, i, dev, b, slot, reg)
                           - _loss(r, mu, minus, u, i, dev, b, slot, reg)) / (2 * h)
    before = [p.copy() for p in params]
    e = kernels.sgd_step(u, i, r, dev, b, slot, mu, *params, lr, reg)
    expected_e = r - (mu + before[0][u] + before[1][u] * dev + before[3][i] + before[4][i, b]
                      + (before[2][slot] if slot >= 0 else 0.0))
    assert e == pytest.approx(expected_e, rel=1e-12)
    for (k, idx), grad in grads.items():
        step = params[k][idx] - before[k][idx]
        assert step == pytest.approx(-lr[k] * grad, rel=1e-6, abs=1e-12), (k, idx)
    # nothing else moves (the day biases not at all without a slot)
    for k, p in enumerate(params):
        moved = np.argwhere(p != before[k])
        assert all((k, tuple(int(x) for x in m)) in grads for m in moved), k
    assert slot >= 0 or np.array_equal(params[2], before[2])


def test_epoch_kernel_descends_and_matches_single_steps():
    rng = np.random.default_rng(2)
    n = 50
    users, items = rng.integers(0, 4, n).astype(np.int32), rng.integers(0, 3, n).astype(np.int32)
    r = (rng.normal(0, 1, 4)[users] + rng.normal(0, 1, 3)[items]).astype(np.float32)
    dev, bins = rng.normal(0, 2, n), rng.integers(0, 2, n).astype(np.int32)
    slots = rng.integers(-1, 3, n).astype(np.int32)
    lr, reg = np.full(5, 0.05), np.full(5, 0.01)
    a, b = ([np.zeros(4), np.zeros(4), np.zeros(3), np.zeros(3), np.zeros((3, 2))]
            for _ in range(2))
    order = rng.permutation(n)
    sse = kernels.sgd_epoch(order, users, items, r, dev, bins, slots, 0.0, *a, lr, reg)
    errors = [kernels.sgd_step(users[k], items[k], np.float64(r[k]), dev[k], bins[k], slots[k],
                               0.0, *b, lr, reg) for k in order]
    assert sse == pytest.approx(float(np.sum(np.square(errors))))
    assert all(np.allclose(x, y) for x, y in zip(a, b))
    later = [kernels.sgd_epoch(order, users, items, r, dev, bins, slots, 0.0, *a, lr, reg)
             for _ in range(30)]
    assert later[-1] < 0.3 * sse


# --------------------------------------------------------------------------- the estimator
def test_planted_time_effects_are_recovered_and_beat_the_biases_on_later_ratings(data):
    ratings, a_u, drift, _ = data
    train, later = by_time(ratings, 270)
    model = TimeAwareBaseline(**PLANTED_SETTINGS, n_epochs=30, random_state=0).fit(train)
    bias = BiasBaseline().fit(train)
    timed = rmse(later.ratings, model.predict_ratings(later))
    flat = rmse(later.ratings, bias.predict_ratings(later))
    assert timed < 0.75 * flat, (timed, flat)
    # the item drift: last bin minus first bin follows the planted slope
    learned_drift = model.bin_bias_[:, -1] - model.bin_bias_[:, 0]
    assert np.corrcoef(learned_drift, drift[ratings.item_ids.astype(int)])[0, 1] > 0.8
    assert np.corrcoef(model.alpha_, a_u[ratings.user_ids.astype(int)])[0, 1] > 0.8
    # without the test's timestamps ("now") it still drifts the right way, but less well
    now = rmse(later.ratings, model.predict(*pairs(later)))
    assert timed <= now < flat


def test_per_day_biases_follow_the_planted_jumps(data, fitted):
    ratings, _, _, jumps = data
    feats = fitted.time_
    users = (feats.slot_keys // (feats.last_day - feats.first_day + 1))
    days = feats.slot_keys % (feats.last_day - feats.first_day + 1) + feats.first_day - T0 // DAY
    planted_jumps = [jumps[(int(ratings.user_ids[u]), int(d))] for u, d in zip(users, days)]
    assert feats.n_slots == len(jumps)  # every session has 12 >= 3 ratings
    assert np.corrcoef(fitted.day_bias_, planted_jumps)[0, 1] > 0.8


def test_fit_without_timestamps_says_so_in_one_line():
    plain = Ratings.from_arrays([1, 2, 2], [1, 1, 2], [3.0, 4.0, 5.0], name="plain.csv")
    model = TimeAwareBaseline()
    with pytest.raises(RecsysError) as info:
        model.fit(plain)
    message = str(info.value)
    assert "\n" not in message and "needs timestamps" in message
    assert "'timestamp' column" in message and "plain.csv" in message
    assert not model.is_fitted


def test_predict_at_times(fitted, data):
    ratings = data[0]
    users, items = pairs(ratings)
    at_times = fitted.predict(users, items, ratings.timestamps)
    np.testing.assert_array_equal(fitted.predict_ratings(ratings), at_times)
    assert rmse(ratings.ratings, at_times) < rmse(ratings.ratings, fitted.predict(users, items))
    # "now" is the day after the training period; any later date uses the last bin too
    now = (fitted.time_.last_day + 1) * DAY
    np.testing.assert_allclose(fitted.predict(users[:20], items[:20], now),
                               fitted.predict(users[:20], items[:20]))
    unknown = np.repeat("nobody", 5)
    far = fitted.predict(unknown, items[:5], now + 3000 * DAY)
    np.testing.assert_allclose(far, fitted.predict(unknown, items[:5]))
    # datetime64 works as seconds do; one timestamp for all pairs broadcasts
    stamps = ratings.timestamps[:5]
    np.testing.assert_array_equal(fitted.predict(users[:5], items[:5], stamps.astype("M8[s]")),
                                  fitted.predict(users[:5], items[:5], stamps))
    assert fitted.predict(users[0], items[:3], stamps[0]).shape == (3,)
    with pytest.raises(ParameterError, match="one per pair"):
        fitted.predict(users[:5], items[:5], stamps[:3])
    with pytest.raises(ParameterError, match="numbers of seconds"):
        fitted.predict(users[:2], items[:2], ["yesterday", "today"])
    # dense indices at times (a blend sharing the id maps), and at "now" without them
    np.testing.assert_array_equal(
        fitted.predict_indices(ratings.users, ratings.items, timestamps=ratings.timestamps),
        at_times)
    np.testing.assert_array_equal(fitted.predict_indices(ratings.users[:9], ratings.items[:9]),
                                  fitted.predict(users[:9], items[:9]))
    # a container with other id maps is matched by raw ids, at its timestamps
    other = Ratings.from_arrays(users[:30], items[:30], ratings.ratings[:30],
                                timestamps=ratings.timestamps[:30], rating_scale=(-5, 11))
    np.testing.assert_allclose(fitted.predict_ratings(other), at_times[:30])


def test_unknown_ids_fall_back_to_the_other_side(fitted, data):
    ratings = data[0]
    user, item = ratings.user_ids[0], ratings.item_ids[0]
    u, i = 0, 0
    t = int(ratings.timestamps[0])
    pred, fell_back = fitted.predict([user, "x", user, "x"], [item, item, "y", "y"], t,
                                     return_fallback=True)
    assert fell_back.tolist() == [False, True, True, True]
    (dev,), (b,), (slot,) = fitted.time_.encode(np.array([u]), np.array([t]))
    to_ratings = fitted.rating_map_.to_ratings
    item_only = fitted.mu_ + fitted.item_bias_[i] + fitted.bin_bias_[i, b]
    user_only = fitted.mu_ + fitted.user_bias_[u] + fitted.alpha_[u] * dev + (
        fitted.day_bias_[slot] if slot >= 0 else 0.0)
    assert pred[1] == pytest.approx(to_ratings(item_only))
    assert pred[2] == pytest.approx(to_ratings(user_only))
    assert pred[3] == pytest.approx(fitted.global_mean_, abs=1e-5)
    frame = fitted.recommend("x", n=3, cold_start=True)
    assert frame.attrs["fallback"] and len(frame) == 3


def test_recommend_scores_now(fitted, data):
    ratings = data[0]
    user = ratings.user_ids[3]
    frame = fitted.recommend(user, n=5)
    items = frame["item"].to_numpy()
    np.testing.assert_allclose(frame["prediction"], fitted.predict(np.repeat(user, 5), items))


def test_save_load_round_trip(fitted, data, tmp_path):
    ratings = data[0]
    path = fitted.save(tmp_path / "time.npz")
    loaded = load_model(path)
    assert type(loaded) is TimeAwareBaseline and loaded.get_params() == fitted.get_params()
    np.testing.assert_array_equal(loaded.predict_ratings(ratings), fitted.predict_ratings(ratings))
    np.testing.assert_array_equal(loaded.predict(*pairs(ratings)), fitted.predict(*pairs(ratings)))
    user = ratings.user_ids[0]
    assert loaded.recommend(user, n=5).equals(fitted.recommend(user, n=5))
    assert TimeAwareBaseline.load(path).time_.n_slots == fitted.time_.n_slots


@pytest.mark.parametrize("name, value", [
    ("n_bins", 0), ("n_bins", 2.5), ("beta", 0.0), ("beta", 1.5), ("min_day_ratings", 0),
    ("n_epochs", 0), ("lr_user", -0.1), ("lr_alpha", float("nan")), ("reg_day", -1.0),
    ("reg_bin", "big"), ("lr_decay", -1.0), ("patience", 0), ("valid_size", 1.0),
    ("random_state", -1), ("verbose", 1),
])
def test_bad_settings_fail_in_one_line_naming_the_setting(data, name, value):
    with pytest.raises(ParameterError) as info:
        TimeAwareBaseline(**{name: value}).fit(data[0])
    assert name in str(info.value) and "\n" not in str(info.value)


def test_exploding_steps_raise_divergence_naming_the_step_sizes(data):
    with pytest.raises(DivergenceError, match="lower the step sizes.*lr_alpha"):
        TimeAwareBaseline(lr_alpha=5.0, reg_alpha=0.0, n_epochs=5).fit(data[0])


def test_same_seed_same_model_other_seed_other_order(data):
    make = lambda seed: TimeAwareBaseline(**PLANTED_SETTINGS, n_epochs=3,  # noqa: E731
                                          random_state=seed).fit(data[0])
    a, b, c = make(1), make(1), make(2)
    for name in ("user_bias_", "alpha_", "day_bias_", "item_bias_", "bin_bias_"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert not np.array_equal(a.user_bias_, c.user_bias_)


@pytest.mark.parametrize("a, b", [(-25.0, 25.0), (10.0, 0.25), (0.3, 1.37)])
def test_predictions_follow_a_change_of_units(data, a, b):
    ratings = data[0]
    low, high = ratings.rating_scale
    other = Ratings.from_arrays(*pairs(ratings), a + b * ratings.ratings.astype(np.float64),
                                timestamps=ratings.timestamps,
                                rating_scale=(a + b * low, a + b * high))
    make = lambda: TimeAwareBaseline(**PLANTED_SETTINGS, n_epochs=8, random_state=3)  # noqa: E731
    base, moved = make().fit(ratings), make().fit(other)
    expected = a + b * base.predict_ratings(ratings)
    gap = np.max(np.abs(moved.predict_ratings(other) - expected)) / (b * (high - low))
    assert gap < 2e-4
    np.testing.assert_allclose(moved.history_["train_rmse"],
                               b * np.asarray(base.history_["train_rmse"]), rtol=1e-3)


def test_early_stopping_and_the_epoch_choice(data):
    ratings = data[0]
    calls = []
    model = TimeAwareBaseline(**PLANTED_SETTINGS, n_epochs=200, patience=3, random_state=0)
    model.fit(ratings, callback=lambda epoch, history: calls.append(epoch))
    assert calls == list(range(model.n_epochs_)) and model.n_epochs_ < 200
    assert model.best_epoch_ == model.n_epochs_ - 1 - 3
    assert len(model.history_["valid_rmse"]) == model.n_epochs_
    chosen = fit_with_validation(TimeAwareBaseline(**PLANTED_SETTINGS, n_epochs=200,
                                                   random_state=0), ratings)
    assert chosen.selection_["settings"]["patience"] is None
    assert chosen.n_epochs_ == chosen.selection_["settings"]["n_epochs"] < 200
    assert chosen.selection_["valid_rmse"] < chosen.selection_["baseline_rmse"]


def test_a_stop_request_ends_the_fit_unfitted(data):
    model = TimeAwareBaseline(n_epochs=50)
    with pytest.raises(FitStopped):
        model.fit(data[0], should_stop=lambda: True)
    assert not model.is_fitted


def test_without_per_day_biases(data):
    model = TimeAwareBaseline(**{**PLANTED_SETTINGS, "min_day_ratings": None}, n_epochs=5,
                              random_state=0).fit(data[0])
    assert model.time_.n_slots == 0 and model.day_bias_.shape == (0,)
    assert np.isfinite(model.predict_ratings(data[0])).all()


@pytest.mark.skipif(not ML100K.is_dir(), reason="ML-100k not present in ../shared/datasets")
def test_ml100k_u1_below_the_bias_baseline():
    from recsys.data import load_predefined_split

    train, test = load_predefined_split(ML100K, "u1", download=False)
    timed = fit_with_validation(TimeAwareBaseline(random_state=0), train)
    bias = BiasBaseline().fit(train)
    assert rmse(test.ratings, timed.predict_ratings(test)) < \
        rmse(test.ratings, bias.predict_ratings(test)) - 0.005
