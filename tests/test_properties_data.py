"""Property-based tests of the data layer: the loader on generated, mutated and random files;
id maps; splits; metrics against their formulas.

Tests marked ``fuzz`` take part in the long fuzzing session (``RECSYS_HYPOTHESIS_PROFILE=fuzz``);
the profile decides the number of examples, so none sets ``max_examples``.
"""

from __future__ import annotations

import math
import re
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from recsys.data.files import read_ratings_file
from recsys.data.loading import load
from recsys.data.ratings import Ratings
from recsys.data.splits import (
    holdout_split,
    kfold_splits,
    temporal_split,
    user_holdout_split,
)
from recsys.errors import DataError, RecsysError
from recsys.metrics import mae, ndcg_at_k, precision_at_k, recall_at_k, rmse

_INT_LITERAL = re.compile(r"[+-]?\d{1,19}")
_SCALES = [(1, 5), (0.5, 5), (1, 10), (-10, 10), (0, 1), (-3, -1)]
#: Characters of generated text ids: no separator, quote or blank; some non-ASCII.
_ID_CHARS = "abcxyzABCXYZ0123456789_-.+#!?@éßΩ中"


@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def _normalise(column: list[str]) -> list[object]:
    """What the reader promises for a column of raw id texts: integers when every one is an
    integer literal within int64, else the texts themselves."""
    if all(_INT_LITERAL.fullmatch(t) and -(2**63) <= int(t) < 2**63 for t in column):
        return [int(t) for t in column]
    return list(column)


def _read_quietly(reader, path: Path, **kwargs) -> Ratings:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate pairs, dangling ids
        return reader(path, **kwargs)


def _load_or_recsys_error(path: Path) -> Ratings | None:
    """The loader's contract on any input: a container, or a one-line RecsysError."""
    try:
        result = _read_quietly(load, path)
    except RecsysError as exc:
        message = str(exc)
        assert message and "\n" not in message and "\r" not in message, message
        return None
    assert isinstance(result, Ratings)
    assert len(result) >= 1 and np.isfinite(result.ratings).all()
    assert result.users.max() < result.n_users and result.items.max() < result.n_items
    return result


# ---------------------------------------------------------------------------- table strategy
int_ids = st.one_of(
    st.integers(-50, 50),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-(2**80), 2**80),  # beyond int64: kept as text
).map(str)
text_ids = st.text(_ID_CHARS, min_size=1, max_size=8)


@st.composite
def tables(draw):
    """A ratings table written as a file, and what the reader must make of it."""
    id_kind = draw(st.sampled_from(["int", "text", "mixed"]))
    pool = {"int": int_ids, "text": text_ids, "mixed": st.one_of(int_ids, text_ids)}[id_kind]
    users = draw(st.lists(pool, min_size=1, max_size=6, unique=True))
    items = draw(st.lists(pool, min_size=1, max_size=6, unique=True))
    low, high = draw(st.sampled_from(_SCALES))
    steps = int(round((high - low) * 4))
    with_ts = draw(st.booleans())
    rows = draw(st.lists(
        st.tuples(st.integers(0, len(users) - 1), st.integers(0, len(items) - 1),
                  st.integers(0, steps), st.integers(0, 2**40)),
        min_size=1, max_size=25,
    ))  # repeated (user, item) pairs happen: duplicates
    sep = draw(st.sampled_from([",", "\t", "::", "|"]))
    header = draw(st.booleans())
    end = draw(st.sampled_from(["\n", "\r\n"]))
    bom = draw(st.booleans())
    give_scale = draw(st.booleans())
    fmt = draw(st.sampled_from(["{:g}", "{!r}"]))
    lines = [sep.join(["userId", "movieId", "rating"] + ["timestamp"] * with_ts)] if header else []
    for u, i, k, ts in rows:
        fields = [users[u], items[i], fmt.format(low + k / 4)] + [str(ts)] * with_ts
        lines.append(sep.join(fields))
    text = end.join(lines) + end * draw(st.integers(1, 3))  # trailing blank lines are fine
    data = (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")
    # expected content after de-duplication (the last rating of a pair wins)
    used_users = [users[u] for u in sorted({row[0] for row in rows})]
    used_items = [items[i] for i in sorted({row[1] for row in rows})]
    user_of = dict(zip(used_users, _normalise(used_users)))
    item_of = dict(zip(used_items, _normalise(used_items)))
    expected: dict[tuple, tuple] = {}
    for u, i, k, ts in rows:
        expected[(user_of[users[u]], item_of[items[i]])] = (np.float32(low + k / 4), ts)
    return data, expected, (low, high) if give_scale else None, with_ts


@pytest.mark.fuzz
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=tables())
def test_generated_tables_load_with_matching_content(folder, table):
    data, expected, scale, with_ts = table
    path = _write(folder, "table.txt", data)
    r = _read_quietly(read_ratings_file, path, rating_scale=scale)
    assert len(r) == len(expected)
    frame = r.to_dataframe()
    got = {
        (u, i): (np.float32(v), t)
        for u, i, v, t in zip(frame["user"].tolist(), frame["item"].tolist(),
                              frame["rating"].tolist(),
                              frame["timestamp"].tolist() if with_ts else [0] * len(frame))
    }
    want = {key: (v, t if with_ts else 0) for key, (v, t) in expected.items()}
    assert got == want
    assert r.n_users == len({u for u, _ in expected}) and r.n_items == len({i for _, i in expected})
    if scale is not None:
        assert r.rating_scale == (float(scale[0]), float(scale[1]))


@st.composite
def mutated_tables(draw):
    data = bytearray(draw(tables())[0])
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["replace", "insert", "delete"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        byte = draw(st.sampled_from(list(b",\t:|;\n\r \"'.-0159aeNn\x00\xff\xc3\x85")
                                    + [draw(st.integers(0, 255))]))
        if kind == "replace" and data:
            data[pos] = byte
        elif kind == "insert":
            data.insert(pos, byte)
        elif data:
            del data[pos]
    return bytes(data)


@pytest.mark.fuzz
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=mutated_tables())
def test_mutated_tables_load_or_raise_recsys_error(folder, data):
    _load_or_recsys_error(_write(folder, "mutated.csv", data))


@pytest.mark.fuzz
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300))
def test_random_bytes_load_or_raise_recsys_error(folder, data):
    _load_or_recsys_error(_write(folder, "bytes.dat", data))


@pytest.mark.fuzz
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(st.sampled_from(list("0123456789,.;:|\t\n\r -+eEinfaNAuser\"'#\ufeffé")),
                    max_size=200))
def test_random_text_load_or_raise_recsys_error(folder, text):
    _load_or_recsys_error(_write(folder, "text.csv", text.encode("utf-8")))


# ---------------------------------------------------------------------------- id maps
@pytest.mark.fuzz
@given(
    ids=st.one_of(  # one column holds one kind of id
        st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=30),
        st.lists(text_ids, min_size=1, max_size=30),
    ),
    data=st.data(),
)
def test_id_maps_round_trip(ids, data):
    items = data.draw(st.lists(st.sampled_from(ids), min_size=len(ids), max_size=len(ids)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = Ratings.from_arrays(ids, items, np.ones(len(ids)))
    for raw_ids, encode, table in ((ids, r.encode_users, r.user_ids),
                                   (items, r.encode_items, r.item_ids)):
        codes = encode(raw_ids)
        assert (codes >= 0).all()
        assert table[codes].tolist() == list(raw_ids)  # encode -> decode gives them back
        assert len(set(table.tolist())) == len(table)  # one index per id
    frame = r.to_dataframe()
    assert set(zip(frame["user"], frame["item"])) == set(zip(ids, items))


# ---------------------------------------------------------------------------- splits
@st.composite
def containers(draw):
    n_users, n_items = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    cells = draw(st.lists(st.integers(0, n_users * n_items - 1), min_size=1, max_size=40,
                          unique=True))
    cells = np.array(cells)
    stamps = draw(st.lists(st.integers(0, draw(st.sampled_from([0, 3, 10**9]))),
                           min_size=cells.size, max_size=cells.size))
    return Ratings(users=cells // n_items, items=cells % n_items,
                   ratings=np.linspace(1, 5, cells.size), user_ids=np.arange(n_users) - 3,
                   item_ids=np.array([f"m{j}" for j in range(n_items)]),
                   timestamps=np.array(stamps), name="p")


def _keys(r: Ratings) -> np.ndarray:
    return np.sort(r.users.astype(np.int64) * r.n_items + r.items)


def _check_partition(whole: Ratings, parts: list[Ratings]) -> None:
    keys = np.concatenate([_keys(p) for p in parts])
    assert keys.size == len(whole)  # nothing lost or duplicated
    np.testing.assert_array_equal(np.sort(keys), _keys(whole))  # union = all
    assert np.unique(keys).size == keys.size  # disjoint
    for part in parts:
        assert part.user_ids is whole.user_ids and part.item_ids is whole.item_ids


@pytest.mark.fuzz
@given(
    r=containers(),
    how=st.sampled_from(["holdout", "kfold", "user", "temporal", "temporal-user"]),
    size=st.one_of(st.floats(0.0, 1.0), st.integers(-1, 45)),
    seed=st.integers(0, 2**32 - 1),
)
def test_splits_partition_exactly(r, how, size, seed):
    try:
        if how == "holdout":
            splits = [holdout_split(r, test_size=size, random_state=seed)]
        elif how == "kfold":
            splits = list(kfold_splits(r, k=size if isinstance(size, int) else 3,
                                       random_state=seed))
        elif how == "user":
            splits = [user_holdout_split(r, n_test=size, random_state=seed)]
        else:
            splits = [temporal_split(r, test_size=size, per_user=how == "temporal-user")]
    except DataError as exc:
        assert "\n" not in str(exc)
        return
    for train, test in splits:
        _check_partition(r, [train, test])
        assert len(train) >= 1 and len(test) >= 1  # no empty part is ever returned
    if how == "kfold":
        _check_partition(r, [test for _, test in splits])  # the folds partition the data
    if how == "temporal":
        (train, test), = splits
        assert train.timestamps.max() <= test.timestamps.min()


# ---------------------------------------------------------------------------- metrics
finite = st.floats(-1e3, 1e3, allow_nan=False)


@pytest.mark.fuzz
@given(pairs=st.lists(st.tuples(finite, finite), min_size=1, max_size=50))
def test_rmse_and_mae_match_their_formulas(pairs):
    truth, pred = (np.array(x) for x in zip(*pairs))
    n = len(pairs)
    assert math.isclose(rmse(truth, pred), math.sqrt(sum((p - t) ** 2 for t, p in pairs) / n),
                        rel_tol=1e-9, abs_tol=1e-9)
    assert math.isclose(mae(truth, pred), sum(abs(p - t) for t, p in pairs) / n,
                        rel_tol=1e-9, abs_tol=1e-9)


@pytest.mark.fuzz
@given(data=st.data(), n_users=st.integers(1, 6), n_items=st.integers(1, 12))
def test_ranking_metrics_match_their_formulas(data, n_users, n_items):
    width = data.draw(st.integers(1, n_items))
    k = data.draw(st.integers(1, width))
    lists, relevant = [], []
    for _ in range(n_users):
        top = data.draw(st.lists(st.integers(0, n_items - 1), max_size=width, unique=True))
        lists.append(top + [-1] * (width - len(top)))
        relevant.append(data.draw(st.sets(st.integers(0, n_items - 1), max_size=n_items)))
    assume(any(relevant))
    rec = np.array(lists, dtype=np.int64)
    precision, recall, ndcg = [], [], []
    for row, rel in zip(lists, relevant):
        if not rel:
            continue
        hits = [item in rel for item in row[:k]]
        precision.append(sum(hits) / k)
        recall.append(sum(hits) / len(rel))
        dcg = sum(h / math.log2(j + 2) for j, h in enumerate(hits))
        ideal = sum(1 / math.log2(j + 2) for j in range(min(k, len(rel))))
        ndcg.append(dcg / ideal)
    rel_lists = [sorted(s) for s in relevant]
    assert math.isclose(precision_at_k(rec, rel_lists, k), np.mean(precision), abs_tol=1e-12)
    assert math.isclose(recall_at_k(rec, rel_lists, k), np.mean(recall), abs_tol=1e-12)
    assert math.isclose(ndcg_at_k(rec, rel_lists, k), np.mean(ndcg), abs_tol=1e-12)
