"""The averaged blending networks: lockstep training, early stopping on the average, threads,
failures, and the hybrid's ``n_nets`` (settings, files, old files)."""

from __future__ import annotations

import json
import zipfile
from io import BytesIO

import numpy as np
import pytest

from recsys.errors import DivergenceError, ModelFileError, RecsysError
from recsys.models.ensemble import NetworkEnsemble, member_seeds
from recsys.models.io import load_model
from recsys.models.mlp import MLP
from test_hybrid import _toy, small


def _regression(seed=0, n=600):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] * X[:, 2] + rng.normal(0, 0.3, n)
    return X[: n // 2], y[: n // 2], X[n // 2 :], y[n // 2 :]


def _members(n, seed=0, **kw):
    params = dict(hidden=(8,), lr=0.01, n_epochs=25, patience=3)
    params.update(kw)
    return [MLP(random_state=s, **params) for s in member_seeds(seed, n)]


def test_one_member_is_the_plain_network():
    X, y, Xv, yv = _regression()
    plain = MLP(hidden=(8,), lr=0.01, n_epochs=25, patience=3, random_state=0).fit(X, y, Xv, yv)
    ensemble = NetworkEnsemble(_members(1)).fit(X, y, Xv, yv)
    assert ensemble.n_epochs_ == plain.n_epochs_
    np.testing.assert_allclose(ensemble.predict(Xv), plain.predict(Xv), rtol=1e-12)
    np.testing.assert_allclose(ensemble.history_["valid_mse"], plain.history_["valid_mse"],
                               rtol=1e-9)


def test_the_prediction_is_the_members_mean_and_members_differ():
    X, y, Xv, yv = _regression()
    ensemble = NetworkEnsemble(_members(3)).fit(X, y, Xv, yv)
    each = np.stack([net.predict(Xv) for net in ensemble.members])
    np.testing.assert_allclose(ensemble.predict(Xv), each.mean(axis=0))
    assert np.abs(each[0] - each[1]).max() > 1e-3  # different seeds, different networks
    assert len(set(member_seeds(7, 5))) == 5 and member_seeds(7, 5)[0] == 7


def test_early_stopping_watches_the_average_and_keeps_its_best_epoch():
    X, y, Xv, yv = _regression(1)
    seen = []
    ensemble = NetworkEnsemble(_members(3, lr=0.05, n_epochs=60, patience=2)).fit(
        X, y, Xv, yv, callback=lambda epoch, history: seen.append(epoch))
    valid = ensemble.history_["valid_mse"]
    assert seen == list(range(ensemble.n_epochs_)) and len(valid) == ensemble.n_epochs_
    best = int(np.argmin(valid))
    assert ensemble.n_epochs_ in (best + 3, 60)  # stopped two epochs after its best
    final = float(np.mean((ensemble.predict(Xv) - yv) ** 2))
    assert final == pytest.approx(valid[best], rel=1e-9)
    assert all(net.n_epochs_ == ensemble.n_epochs_ for net in ensemble.members)


def test_the_result_does_not_depend_on_the_threads():
    X, y, Xv, yv = _regression(2)
    one = NetworkEnsemble(_members(4, seed=3), n_threads=1).fit(X, y, Xv, yv)
    two = NetworkEnsemble(_members(4, seed=3), n_threads=2).fit(X, y, Xv, yv)
    np.testing.assert_array_equal(one.predict(Xv), two.predict(Xv))


def test_averaging_beats_the_typical_member_on_held_out_rows():
    X, y, Xv, yv = _regression(4, n=1600)
    Xs, ys = Xv[:400], yv[:400]  # early stopping
    Xt, yt = Xv[400:], yv[400:]  # scored only
    ensemble = NetworkEnsemble(_members(6, seed=5, lr=0.03, n_epochs=40, patience=3)).fit(
        X, y, Xs, ys)
    alone = [MLP(hidden=(8,), lr=0.03, n_epochs=40, patience=3, random_state=s).fit(X, y, Xs, ys)
             for s in member_seeds(5, 6)]
    mse = [float(np.mean((net.predict(Xt) - yt) ** 2)) for net in alone]
    assert float(np.mean((ensemble.predict(Xt) - yt) ** 2)) < np.mean(mse)


def test_a_diverging_member_fails_the_fit_and_leaves_nothing_fitted():
    X, y, Xv, yv = _regression()
    members = _members(2, lr=1e6, n_epochs=5)
    with pytest.raises(DivergenceError, match="lower lr"):
        NetworkEnsemble(members).fit(X, y, Xv, yv)
    assert not any(hasattr(net, "weights_") for net in members)


def test_members_must_agree_and_early_stopping_needs_validation():
    X, y, Xv, yv = _regression()
    with pytest.raises(ValueError, match="at least one"):
        NetworkEnsemble([])
    with pytest.raises(ValueError, match="share n_epochs"):
        NetworkEnsemble([MLP(n_epochs=3), MLP(n_epochs=4)]).fit(X, y, Xv, yv)
    with pytest.raises(ValueError, match="X_valid"):
        NetworkEnsemble(_members(2)).fit(X, y)
    fitted = NetworkEnsemble(_members(2, patience=None, n_epochs=3)).fit(X, y)
    assert fitted.n_epochs_ == 3 and "valid_mse" not in fitted.history_


# ---------------------------------------------------------------- the hybrid's n_nets
@pytest.fixture(scope="module")
def split():
    return _toy(3)


@pytest.fixture(scope="module")
def three(split):
    return small(n_nets=3).fit(split[0])


def _rewrite(path, out, edit_header=None, drop=()):
    """A copy of model file ``path`` with its header edited and some arrays left out."""
    with zipfile.ZipFile(path) as z:
        members = {name: z.read(name) for name in z.namelist()
                   if name[: -len(".npy")] not in drop}
    header = json.loads(np.load(path)["header"].item())
    if edit_header is not None:
        edit_header(header)
    buffer = BytesIO()
    np.save(buffer, np.array(json.dumps(header)))
    members["header.npy"] = buffer.getvalue()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out


def test_the_hybrid_averages_n_nets_networks_and_saves_them_all(three, split, tmp_path):
    test = split[1]
    assert len(three.net_.members) == 3
    X, _, _ = three._features_for(test.users, test.items)
    each = np.stack([net.predict(three.scaler_.transform(X)) for net in three.net_.members])
    np.testing.assert_allclose(three.net_.predict(three.scaler_.transform(X)), each.mean(axis=0))
    loaded = load_model(three.save(tmp_path / "three.npz"))
    assert loaded.n_nets == 3 and len(loaded.net_.members) == 3
    np.testing.assert_array_equal(loaded.predict_ratings(test), three.predict_ratings(test))


def test_a_file_with_a_network_missing_or_extra_is_refused(three, tmp_path):
    path = three.save(tmp_path / "three.npz")
    short = _rewrite(path, tmp_path / "short.npz", drop=("state/net3_weights1",))
    with pytest.raises(ModelFileError, match="net3_"):
        load_model(short)

    def fewer(header):
        header["params"]["n_nets"] = 2

    extra = _rewrite(path, tmp_path / "extra.npz", edit_header=fewer)
    with pytest.raises(ModelFileError, match="more blending networks"):
        load_model(extra)


def test_a_file_from_before_the_ensemble_loads_as_one_network(split, tmp_path):
    one = small(n_nets=1).fit(split[0])

    def forget(header):
        header["params"].pop("n_nets")

    old = _rewrite(one.save(tmp_path / "one.npz"), tmp_path / "old.npz", edit_header=forget)
    loaded = load_model(old)
    assert loaded.n_nets == 1
    np.testing.assert_array_equal(loaded.predict_ratings(split[1]), one.predict_ratings(split[1]))


@pytest.mark.parametrize("value", [0, -1, 2.5, "4", 65])
def test_a_bad_n_nets_is_one_line(split, value):
    with pytest.raises(RecsysError, match="n_nets") as info:
        small(n_nets=value).fit(split[0])
    assert "\n" not in str(info.value)
