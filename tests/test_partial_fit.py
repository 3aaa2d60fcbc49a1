"""Online updates (``partial_fit``, ``recsys update``): new ids, bookkeeping, accuracy against
a refit, files, and bad input."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from recsys.data.ratings import Ratings
from recsys.data.synthetic import make_planted
from recsys.errors import DataError, NotFittedError, ParameterError, RecsysError
from recsys.metrics import rmse
from recsys.models.baseline import BiasBaseline, GlobalMean
from recsys.models.io import load_model
from recsys.models.knn import KNNBaseline
from recsys.models.mf import MatrixFactorization
from recsys.models.registry import MODELS
from recsys.models.svdpp import SVDpp
from recsys.models.updates import UPDATE_MODELS

from _cli import assert_one_clean_error, run

SMALL = dict(n_factors=3, n_epochs=40, lr=0.01, lr_bias=0.01, lr_decay=0.0, reg=0.02,
             reg_bias=0.02, init_std=0.1, random_state=0)


def own_maps(data: Ratings, rows: np.ndarray, name: str = "part") -> Ratings:
    """The ratings at ``rows`` in a container of their own (only their ids in its maps)."""
    frame = data.subset(rows).to_dataframe()
    return Ratings.from_dataframe(frame, rating_scale=data.rating_scale,
                                  item_info=data.item_info, name=name)


@pytest.fixture(scope="module")
def data() -> Ratings:
    return make_planted(n_users=300, n_items=200, n_ratings=30_000, n_factors=3, noise=0.5,
                        random_state=0)


@pytest.fixture(scope="module")
def parts(data):
    """old: users < 240 and items < 180 (most of each's ratings); new: half of the rest
    (which brings 60 new users and 20 new items); test: the other half."""
    rng = np.random.default_rng(0)
    old = np.flatnonzero((data.users < 240) & (data.items < 180))
    rest = rng.permutation(np.flatnonzero((data.users >= 240) | (data.items >= 180)))
    return old, rest[: len(rest) // 2], rest[len(rest) // 2:]


@pytest.fixture(scope="module")
def fitted(data, parts):
    return MatrixFactorization(**SMALL).fit(own_maps(data, parts[0], "old"))


def updated(model, new, **kwargs):
    clone = load_model_copy(model)
    return clone.partial_fit(new, random_state=0, **kwargs)


def load_model_copy(model):
    from recsys.models.io import model_from_arrays

    return model_from_arrays(model.to_arrays())


def error_on(model, data: Ratings, rows: np.ndarray) -> float:
    part = data.subset(rows)
    pred = model.predict(part.user_ids[part.users], part.item_ids[part.items])
    return rmse(part.ratings, pred)


def test_new_users_and_items_join_the_maps_and_are_predicted(data, parts, fitted):
    new = own_maps(data, parts[1], "new")
    model = updated(fitted, new)
    assert fitted.n_users_ == 240 and fitted.n_items_ == 180
    assert model.n_users_ == 300 and model.n_items_ == 200
    assert set(model.user_ids_[:240]) == set(fitted.user_ids_)  # old indices do not move
    assert np.array_equal(model.item_ids_[:180], fitted.item_ids_)
    # every new id is known now: no fallback
    _, fallback = model.predict(new.user_ids[new.users], new.item_ids[new.items],
                                return_fallback=True)
    assert not fallback.any()
    new_user = int(data.user_ids[299])
    frame = model.recommend(new_user, n=5, min_item_ratings=1)
    assert len(frame) == 5 and not frame.attrs["fallback"]
    seen = set(new.item_ids[new.items[new.users == new.encode_users([new_user])[0]]])
    assert not seen & set(frame["item"])  # its new ratings count as seen
    # the bookkeeping matches a fit on old + new
    both = own_maps(data, np.r_[parts[0], parts[1]])
    ref = MatrixFactorization(**SMALL).fit(both)
    counts = pd.Series(model.item_counts_, index=model.item_ids_).sort_index()
    assert np.array_equal(counts.to_numpy(), ref.item_counts_)
    counts = pd.Series(model.user_counts_, index=model.user_ids_).sort_index()
    assert np.array_equal(counts.to_numpy(), ref.user_counts_)
    assert len(model.seen_items_) == len(parts[0]) + len(parts[1])
    assert model.data_fingerprint_ != fitted.data_fingerprint_
    assert len(model.history_["update_rmse"]) == 1


def test_the_update_learns_the_new_ratings_and_approaches_a_refit(data, parts, fitted):
    new_rows, test_rows = parts[1], parts[2]
    new = own_maps(data, new_rows, "new")
    model = updated(fitted, new)
    before = error_on(fitted, data, new_rows)
    assert model.history_["update_rmse"][-1] < 0.8 * before
    refit = MatrixFactorization(**SMALL).fit(own_maps(data, np.r_[parts[0], new_rows]))
    static, after, full = (error_on(m, data, test_rows) for m in (fitted, model, refit))
    assert after < static - 0.2  # the update helps a lot on the new users and items...
    assert after < 1.08 * full  # ... and comes close to refitting on everything


def test_a_small_update_moves_old_predictions_little(data, parts, fitted):
    rows = parts[1][:20]
    model = updated(fitted, own_maps(data, rows, "few"))
    users = fitted.user_ids_[np.arange(0, 240, 7)]
    items = fitted.item_ids_[np.arange(0, 180, 5)]
    grid_u, grid_i = np.repeat(users, len(items)), np.tile(items, len(users))
    shift = np.abs(model.predict(grid_u, grid_i) - fitted.predict(grid_u, grid_i))
    assert np.median(shift) < 0.01 and shift.max() < 0.3


def test_replay_draws_old_ratings_into_the_epochs(data, parts, fitted):
    new = own_maps(data, parts[1], "new")
    old = own_maps(data, parts[0], "old")
    plain = updated(fitted, new)
    replayed = updated(fitted, new, replay=old, replay_size=2.0)
    assert not np.allclose(plain.item_factors_, replayed.item_factors_)
    assert error_on(replayed, data, parts[2]) < error_on(fitted, data, parts[2]) - 0.2
    with pytest.raises(ParameterError, match="replay_size"):
        updated(fitted, new, replay=old, replay_size=-1)


def test_svdpp_update_approaches_a_refit_and_saves(data, parts, tmp_path):
    params = dict(n_factors=3, n_epochs=30, lr=0.01, lr_decay=0.0, reg=0.02, reg_bias=0.02,
                  reg_implicit=0.02, init_std=0.1, random_state=0)
    old, new_rows, test_rows = parts
    fitted = SVDpp(**params).fit(own_maps(data, old, "old"))
    model = updated(fitted, own_maps(data, new_rows, "new"))
    assert model.n_users_ == 300 and model.n_items_ == 200
    refit = SVDpp(**params).fit(own_maps(data, np.r_[old, new_rows]))
    static, after, full = (error_on(m, data, test_rows) for m in (fitted, model, refit))
    assert after < static - 0.3
    # the new ratings here are a sixth of all: as many epochs as the fit come close to a refit
    longer = updated(fitted, own_maps(data, new_rows, "new"), n_epochs=30)
    assert error_on(longer, data, test_rows) < min(after, 1.05 * full)
    # the users' vectors follow the new N(u): the same as derived again after loading
    back = load_model(model.save(tmp_path / "svdpp.npz"))
    assert np.allclose(back.user_vectors_, model.user_vectors_, atol=1e-5)


def test_baseline_update_equals_a_refit(data):
    rng = np.random.default_rng(1)
    rows = rng.permutation(len(data))
    first, rest = rows[:24_000], rows[24_000:]
    full = BiasBaseline(n_epochs=100).fit(own_maps(data, rows))
    model = BiasBaseline(n_epochs=100).fit(own_maps(data, first))
    model.partial_fit(own_maps(data, rest, "rest"), n_epochs=100)
    users, items = data.user_ids[data.users[:3000]], data.item_ids[data.items[:3000]]
    # the same coordinate descent on old and new ratings: the same biases (up to the fixed
    # centre, a mean of 24,000 instead of 30,000 ratings)
    assert np.abs(model.predict(users, items) - full.predict(users, items)).max() < 0.01
    with pytest.raises(ParameterError, match="lr does not apply"):
        model.partial_fit(own_maps(data, rest, "rest"), lr=0.1)


def test_a_rating_of_a_known_pair_replaces_it(data, parts, fitted):
    part = data.subset(parts[0][:50])
    frame = part.to_dataframe()
    frame["rating"] = np.clip(frame["rating"] + 1.0, *data.rating_scale)
    model = updated(fitted, frame.drop(columns="timestamp"))  # a DataFrame works too
    assert model.n_users_ == fitted.n_users_
    assert np.array_equal(model.user_counts_, fitted.user_counts_)
    assert np.array_equal(model.seen_items_, fitted.seen_items_)
    assert model.predict(frame["user"], frame["item"]).mean() > \
        fitted.predict(frame["user"], frame["item"]).mean()


def test_text_ids_join_a_model_with_integer_ids(fitted):
    new = pd.DataFrame({"user": ["ann", "ann", "bob", str(fitted.user_ids_[0])],
                        "item": [fitted.item_ids_[0], "new film", fitted.item_ids_[1],
                                 "new film"],
                        "rating": [5.0, 4.0, 2.0, 3.0]})
    model = updated(fitted, new)
    assert model.n_users_ == fitted.n_users_ + 2 and model.n_items_ == fitted.n_items_ + 1
    assert model.user_ids_.dtype.kind == "U"
    _, fallback = model.predict(["ann", "bob", fitted.user_ids_[0]],
                                ["new film", fitted.item_ids_[1], "new film"],
                                return_fallback=True)
    assert not fallback.any()
    assert model.item_titles_[-1] == "new film"
    assert load_model_copy(model).predict(["ann"], ["new film"]).shape == (1,)


def test_updated_model_saves_and_loads(data, parts, fitted, tmp_path):
    model = updated(fitted, own_maps(data, parts[1], "new"))
    path = model.save(tmp_path / "updated.npz")
    back = load_model(path)
    users, items = data.user_ids[data.users[parts[2]]], data.item_ids[data.items[parts[2]]]
    assert np.array_equal(back.predict(users, items), model.predict(users, items))
    assert back.history_["update_rmse"] == model.history_["update_rmse"]
    again = back.partial_fit(own_maps(data, parts[2][:100], "more"), random_state=0)
    assert len(again.history_["update_rmse"]) == 2


def test_bad_updates_leave_the_model_unchanged(data, parts, fitted):
    model = load_model_copy(fitted)
    state = {k: np.copy(v) for k, v in model.to_arrays().items()}
    frame = data.subset(parts[1][:10]).to_dataframe()
    frame.loc[3, "rating"] = data.rating_scale[1] + 1
    with pytest.raises(DataError, match="outside the model's rating scale"):
        model.partial_fit(Ratings.from_dataframe(frame, name="bad"))
    with pytest.raises(DataError, match="empty"):
        model.partial_fit(frame.iloc[:0])
    with pytest.raises(ParameterError, match="n_epochs"):
        model.partial_fit(own_maps(data, parts[1], "new"), n_epochs=0)
    with pytest.raises(RecsysError, match="diverged"):
        model.partial_fit(own_maps(data, parts[1], "new"), lr=1e6, n_epochs=50)
    with pytest.raises(ParameterError, match="Ratings container or a DataFrame"):
        model.partial_fit([1, 2, 3])
    after = model.to_arrays()
    assert set(after) == set(state)
    for key in state:
        same_nan = after[key].dtype.kind == "f"
        assert np.array_equal(after[key], state[key], equal_nan=same_nan), key


def test_models_without_updates_say_which_can(data):
    small = own_maps(data, np.arange(2000))
    for model in (KNNBaseline().fit(small), GlobalMean().fit(small)):
        with pytest.raises(RecsysError, match="updates work with baseline .* mf .* svdpp"):
            model.partial_fit(small)
    with pytest.raises(NotFittedError):
        MatrixFactorization().partial_fit(small)
    for name, cls in UPDATE_MODELS.items():
        assert MODELS[name][1] == cls


# ---------------------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def files(data, parts, fitted, tmp_path_factory):
    folder = tmp_path_factory.mktemp("update")
    fitted.save(folder / "model.npz")
    new = data.subset(parts[1]).to_dataframe()
    new.to_csv(folder / "new.csv", index=False)
    data.subset(parts[0]).to_dataframe().to_csv(folder / "old.csv", index=False)
    bad = new.iloc[:5].copy()
    bad.loc[bad.index[2], "rating"] = 100
    bad.to_csv(folder / "bad.csv", index=False)
    (folder / "empty.csv").write_text("")
    KNNBaseline().fit(own_maps(data, parts[0][:3000])).save(folder / "knn.npz")
    return folder


def test_cli_update_end_to_end(files, data, parts):
    out = files / "updated.npz"
    result = run("update", "-m", files / "model.npz", "--data", files / "new.csv", "-o", out,
                 "--epochs", 5, "--replay", files / "old.csv", "--replay-size", 1)
    assert result.exit_code == 0, result.output
    assert "60 new users, 20 new items" in result.stdout and "wrote" in result.stdout
    before, after = (float(x) for x in
                     re.search(r"RMSE on them ([\d.]+) before, ([\d.]+) after", result.stdout)
                     .groups())
    assert after < 0.8 * before
    model = load_model(out)
    assert model.n_users_ == 300 and model.n_items_ == 200
    new_user = data.user_ids[299]
    result = run("recommend", "-m", out, "--user", new_user, "--min-ratings", 1, "-n", 3)
    assert result.exit_code == 0, result.output
    result = run("predict", "-m", out, "--user", new_user, "--item", data.item_ids[199])
    assert result.exit_code == 0 and "fell back" not in result.stdout
    # without -o the model file itself is replaced (atomically)
    in_place = files / "in_place.npz"
    in_place.write_bytes((files / "model.npz").read_bytes())
    result = run("update", "-m", in_place, "--data", files / "new.csv", "--epochs", 2)
    assert result.exit_code == 0, result.output
    assert load_model(in_place).n_users_ == 300
    assert sorted(p.name for p in files.iterdir() if "in_place" in p.name) == ["in_place.npz"]


@pytest.mark.parametrize("args, code, words", [
    (["--data", "bad.csv"], 1, ["rating 100", "outside the model's rating scale", "not written"]),
    (["--data", "empty.csv"], 1, ["empty"]),
    (["-m", "knn.npz", "--data", "new.csv"], 1, ["KNNBaseline cannot be updated", "mf"]),
    (["-m", "missing.npz", "--data", "new.csv"], 1, ["missing.npz"]),
    (["--data", "new.csv", "--replay-size", "2"], 2, ["--replay"]),
    (["--data", "new.csv", "--epochs", "0"], 2, ["--epochs"]),
])
def test_cli_bad_updates_are_one_line(files, args, code, words):
    args = [str(files / a) if a.endswith((".csv", ".npz")) else a for a in args]
    if "-m" not in args:
        args = ["-m", str(files / "model.npz")] + args
    before = (files / "model.npz").read_bytes()
    result = run("update", *args, "-o", files / "never.npz")
    assert_one_clean_error(result, code, *words)
    assert not (files / "never.npz").exists()
    assert (files / "model.npz").read_bytes() == before
