"""Issue 6, model files catalogue: every damaged, foreign or hostile file is refused with one
``ModelFileError`` line, nothing in a file ever runs, and saving never loses the earlier file.

The last test fuzzes the reader (``@pytest.mark.fuzz``): random byte damage and, more
usefully, structural changes (header fields, dropped/swapped arrays, other dtypes and shapes)
to small valid files must give either a model that predicts finite ratings or a
``ModelFileError``, never anything else.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from recsys.data.ratings import Ratings
from recsys.errors import ModelFileError, RecsysError
from recsys.models.io import FORMAT_VERSION, load_model
from recsys.models.baseline import BiasBaseline, GlobalMean
from recsys.models.hybrid import HybridRecommender
from recsys.models.knn import KNNBaseline
from recsys.models.mf import MatrixFactorization
from recsys.models.svdpp import SVDpp
from recsys.models.timebias import TimeAwareBaseline
from recsys.models.timesvdpp import TimeSVDpp


def toy(seed: int = 0) -> Ratings:
    rng = np.random.default_rng(seed)
    u, i = np.nonzero(rng.random((12, 9)) < 0.6)
    r = np.clip(np.rint(3 + rng.normal(0, 1, len(u))), 1, 5)
    stamps = 1_000_000_000 + rng.integers(0, 90 * 86_400, len(u))  # for the time-aware model
    return Ratings.from_arrays(100 + u, [f"m{j}" for j in i], r, rating_scale=(1, 5),
                               timestamps=stamps)


MODELS = {
    "mean": lambda: GlobalMean(),
    "baseline": lambda: BiasBaseline(n_epochs=2),
    "mf": lambda: MatrixFactorization(n_factors=3, n_epochs=3, random_state=0),
    "hybrid": lambda: HybridRecommender(
        hidden=(3,), n_epochs=2, n_folds=2, mf_factors=2, mf_epochs=3, mf_lr=0.02,
        ar_hidden=3, ar_steps=3, ar_lr=0.01, ar_reg=5.0, random_state=0),
    "svdpp": lambda: SVDpp(n_factors=3, n_epochs=3, random_state=0),
    "knn": lambda: KNNBaseline(k=5, n_neighbors_kept=8),
    "timebias": lambda: TimeAwareBaseline(n_epochs=3, random_state=0),
    "timesvdpp": lambda: TimeSVDpp(n_factors=3, n_epochs=3, random_state=0),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, bytes]:
    """The bytes of one small valid file per model kind (built once)."""
    folder = tmp_path_factory.mktemp("valid")
    data = toy()
    return {name: make().fit(data).save(folder / f"{name}.npz").read_bytes()
            for name, make in MODELS.items()}


def unpack(blob: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """Header and arrays of a valid model file."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    return json.loads(str(arrays.pop("header"))), arrays


def pack(header: dict | None, arrays: dict[str, np.ndarray], compressed: bool = False) -> bytes:
    out = io.BytesIO()
    if header is not None:
        arrays = {**arrays, "header": np.array(json.dumps(header))}
    (np.savez_compressed if compressed else np.savez)(out, **arrays)
    return out.getvalue()


def refused(path: Path, *fragments: str) -> str:
    """Load must raise ModelFileError with a one-line message naming the file."""
    with pytest.raises(ModelFileError) as exc:
        load_model(path)
    text = str(exc.value)
    assert "\n" not in text and str(path) in text, text
    for fragment in fragments:
        assert fragment in text, text
    return text


def write(tmp_path: Path, blob: bytes, name: str = "model.npz") -> Path:
    path = tmp_path / name
    path.write_bytes(blob)
    return path


# ---------------------------------------------------------------- damaged bytes
@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.3, 0.5, 0.9, 0.999])
def test_truncated_files(files, tmp_path, fraction):
    blob = files["mf"]
    path = write(tmp_path, blob[: int(len(blob) * fraction)])
    text = refused(path)
    assert "empty file" in text if fraction == 0 else ("truncated or corrupt" in text
                                                        or "not an .npz" in text)


def test_zero_bytes_random_bytes_and_text(tmp_path):
    refused(write(tmp_path, b"", "empty.npz"), "not a recsys model file (an empty file)")
    rng = np.random.default_rng(0)
    refused(write(tmp_path, rng.bytes(5000), "noise.npz"), "not an .npz archive")
    refused(write(tmp_path, b"PK\x03\x04" + rng.bytes(5000), "pk-noise.npz"),
            "truncated or corrupt")
    refused(write(tmp_path, b"user,item,rating\n1,2,3\n", "ratings.npz"), "not an .npz archive")


def test_flipped_bytes_inside_an_array_fail_the_checksum(files, tmp_path):
    # in a stored member the zip CRC catches the change; in a deflated one (what recsys
    # writes) the decompression or the CRC does
    header, arrays = unpack(files["mf"])
    stored = bytearray(pack(header, arrays))
    at = stored.find(b"user_factors") + 200  # inside that member's data
    stored[at] ^= 0xFF
    refused(write(tmp_path, bytes(stored)), "truncated or corrupt", "CRC")
    deflated = bytearray(files["mf"])
    at = deflated.find(b"user_factors") + 200
    deflated[at] ^= 0xFF
    refused(write(tmp_path, bytes(deflated), "deflated.npz"), "truncated or corrupt")


# ---------------------------------------------------------------- foreign and future files
def test_a_valid_npz_from_elsewhere(tmp_path):
    path = tmp_path / "weights.npz"
    np.savez(path, weights=np.zeros((3, 3)), bias=np.ones(3))
    refused(path, "without a recsys header")
    header_only = tmp_path / "other.npz"
    np.savez(header_only, header=np.array(json.dumps({"format": "keras"})))
    refused(header_only, "foreign format")


def test_a_zip_with_other_members(tmp_path):
    path = tmp_path / "archive.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    refused(path, "unexpected member 'readme.txt'")


@pytest.mark.parametrize("version, fragment", [
    (FORMAT_VERSION + 1, "newer than this recsys reads"),
    (999, "uses model format 999"),
    (0, "format version 0"),
    ("1", "format version '1'"),
    (None, "format version None"),
])
def test_format_versions(files, tmp_path, version, fragment):
    header, arrays = unpack(files["baseline"])
    header["format_version"] = version
    text = refused(write(tmp_path, pack(header, arrays)), fragment)
    if version == 999:
        assert "upgrade recsys" in text


def test_a_header_for_an_unknown_model_class(files, tmp_path):
    header, arrays = unpack(files["baseline"])
    header["class"] = "DeepFancyNet"
    refused(write(tmp_path, pack(header, arrays)), "unknown model class 'DeepFancyNet'",
            "MatrixFactorization")


def test_a_header_for_another_known_class_with_the_wrong_arrays(files, tmp_path):
    header, arrays = unpack(files["baseline"])
    header["class"] = "MatrixFactorization"
    header["params"] = {}
    refused(write(tmp_path, pack(header, arrays)), "array 'user_factors' is missing")


def test_settings_the_class_does_not_accept(files, tmp_path):
    header, arrays = unpack(files["mf"])
    header["params"]["n_factors"] = -4
    refused(write(tmp_path, pack(header, arrays)), "settings", "n_factors must be")
    header["params"] = {"no_such_setting": 1}
    refused(write(tmp_path, pack(header, arrays)), "settings", "no_such_setting")


@pytest.mark.parametrize("field, value", [
    ("rating_scale", [5, 1]), ("rating_scale", "1-5"), ("global_mean", float("nan")),
    ("global_mean", "3.5"), ("history", [1, 2]),
])
def test_damaged_header_fields(files, tmp_path, field, value):
    header, arrays = unpack(files["mf"])
    header[field] = value
    refused(write(tmp_path, pack(header, arrays)), "damaged", field)


def test_a_header_that_is_not_json_or_not_text(files, tmp_path):
    _, arrays = unpack(files["mf"])
    refused(write(tmp_path, pack(None, {**arrays, "header": np.array("{not json")})),
            "damaged model header")
    refused(write(tmp_path, pack(None, {**arrays, "header": np.arange(3)})),
            "damaged model header")


# ---------------------------------------------------------------- arrays that do not fit
@pytest.mark.parametrize("change, fragment", [
    (lambda a: a.pop("state/user_factors"), "'user_factors' is missing"),
    (lambda a: a.update({"state/user_factors": a["state/user_factors"][:-1]}),
     "'user_factors' has shape"),
    (lambda a: a.update({"state/user_factors": np.vstack([a["state/user_factors"]] * 2)}),
     "'user_factors' has shape"),
    (lambda a: a.update({"state/item_factors": a["state/item_factors"][:, :2]}),
     "'item_factors' has shape"),
    (lambda a: a.update({"state/user_factors": a["state/user_factors"].astype(str)}),
     "'user_factors' holds <U"),
    (lambda a: a.update({"state/user_factors": np.full_like(a["state/user_factors"], np.nan)}),
     "NaN or infinite"),
    (lambda a: a.update({"state/user_bias": np.full(a["state/user_bias"].shape, 1e300)}),
     "NaN or infinite"),
    (lambda a: a.update({"state/epochs": np.array([1.5, 2.0])}), "'epochs' must hold"),
    (lambda a: a.update({"common/user_ids_": np.zeros_like(a["common/user_ids_"])}),
     "lists an id twice"),
    (lambda a: a.update({"common/item_counts_": a["common/item_counts_"] + 1}),
     "counts disagree"),
    (lambda a: a.update({"common/seen_items_": a["common/seen_items_"] + 100}),
     "beyond the id map"),
    (lambda a: a.update({"common/item_titles_": a["common/item_titles_"][:2]}),
     "'common/item_titles_' must hold"),
    (lambda a: a.pop("common/user_ids_"), "'common/user_ids_' is missing"),
])
def test_arrays_missing_or_of_the_wrong_shape_or_type(files, tmp_path, change, fragment):
    header, arrays = unpack(files["mf"])
    change(arrays)
    refused(write(tmp_path, pack(header, arrays)), "incomplete or damaged", fragment)


def test_a_hybrids_damaged_base_model_is_named(files, tmp_path):
    header, arrays = unpack(files["hybrid"])
    arrays["state/mf/state/user_factors"] = arrays["state/mf/state/user_factors"][:, :1]
    refused(write(tmp_path, pack(header, arrays)), "incomplete or damaged", "base model 'mf/'",
            "'user_factors' has shape")
    header, arrays = unpack(files["hybrid"])
    arrays.pop("state/ar/header")
    refused(write(tmp_path, pack(header, arrays)), "base model 'ar/'", "without a recsys header")


def test_format_1_files_load_under_todays_setting_names(files, tmp_path):
    """Format 1 called MatrixFactorization's patience ``early_stopping``; its hybrids kept the
    base models' arrays loose (``mf_user_factors``), which this version refuses by name."""
    header, arrays = unpack(files["mf"])
    header["format_version"] = 1
    header["params"]["early_stopping"] = header["params"].pop("patience")
    for old, new in ((0, None), (None, None), (4, 4)):
        header["params"]["early_stopping"] = old
        assert load_model(write(tmp_path, pack(header, arrays))).patience == new
    header, arrays = unpack(files["hybrid"])
    header["format_version"] = 1
    for key in [k for k in arrays if k.startswith("state/mf/")]:
        arrays.pop(key)
    arrays["state/mf_user_factors"] = np.zeros((12, 2), dtype=np.float32)
    refused(write(tmp_path, pack(header, arrays)), "model format 1", "fit it again")


def test_hybrid_network_weights_that_do_not_chain(files, tmp_path):
    header, arrays = unpack(files["hybrid"])
    arrays["state/net_weights1"] = arrays["state/net_weights1"][:-1]
    refused(write(tmp_path, pack(header, arrays)), "'net_weights1' has shape")
    header, arrays = unpack(files["hybrid"])
    header["params"]["hidden"] = [3, 3]
    refused(write(tmp_path, pack(header, arrays)), "weight arrays for the 3 layers")


def test_exotic_dtypes_are_refused(files, tmp_path):
    header, arrays = unpack(files["baseline"])
    arrays["state/user_bias"] = arrays["state/user_bias"].astype(np.complex64)
    refused(write(tmp_path, pack(header, arrays)), "unexpected type complex64")


def test_a_shape_that_claims_more_bytes_than_stored(files, tmp_path):
    """A forged .npy header must not make the reader allocate the claimed size (4 TB)."""
    header, arrays = unpack(files["baseline"])
    arrays.pop("state/user_bias")
    path = write(tmp_path, pack(header, arrays))
    forged = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        forged, {"descr": "<f4", "fortran_order": False, "shape": (10**12,)})
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("state/user_bias.npy", forged.getvalue() + b"\0" * 48)
    refused(path, "truncated or corrupt", "does not hold the 4000000000000 bytes")


# ---------------------------------------------------------------- pickles are never loaded
class _Payload:
    """Unpickling this creates ``marker``: the proof that code from the file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@pytest.mark.parametrize("where", ["state/user_factors", "header", "extra"])
def test_a_pickled_object_is_refused_and_never_unpickled(files, tmp_path, where):
    header, arrays = unpack(files["mf"])
    marker = tmp_path / "marker"
    evil = np.array([_Payload(marker)], dtype=object)
    if where == "header":
        blob = pack(None, {**arrays, "header": evil})
    else:
        arrays[where if where != "extra" else "state/extra"] = evil
        blob = pack(header, arrays)
    path = write(tmp_path, blob)
    refused(path, "Python objects", "refused and not loaded")
    assert not marker.exists()
    # the same file is live: its pickle stream, read as opcodes and never run, imports
    # Path.touch and calls it on the marker; any loader that unpickled it would create it
    member = (where if where != "extra" else "state/extra") + ".npy"
    calls, texts, opcodes = _pickle_calls(path, member)
    assert ("pathlib", "Path.touch") in calls and "REDUCE" in opcodes
    assert marker.name in texts


def _pickle_calls(path: Path, member: str
                  ) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """The ``(module, name)`` globals a member's pickle stream imports, the strings it pushes
    and its opcode names, read with :mod:`pickletools` (opcodes only: nothing is
    unpickled)."""
    import pickletools

    with zipfile.ZipFile(path) as archive:
        stream = io.BytesIO(archive.read(member))
    version = np.lib.format.read_magic(stream)
    {(1, 0): np.lib.format.read_array_header_1_0,
     (2, 0): np.lib.format.read_array_header_2_0}[version](stream)
    calls, texts, opcodes = [], [], []
    for opcode, arg, _ in pickletools.genops(stream.read()):
        opcodes.append(opcode.name)
        if isinstance(arg, str):
            texts.append(arg)
        if opcode.name == "STACK_GLOBAL":
            calls.append((texts[-2], texts[-1]))
        elif opcode.name == "GLOBAL":
            calls.append(tuple(arg.split(" ", 1)))
    return calls, texts, opcodes


# ---------------------------------------------------------------- paths
def test_a_missing_file_and_a_folder(tmp_path):
    refused(tmp_path / "nope.npz", "not found")
    refused(tmp_path, "is a folder")


def test_an_unreadable_file(files, tmp_path, monkeypatch):
    path = write(tmp_path, files["mf"])
    real_open = open

    def deny(file, *args, **kwargs):
        if Path(file) == path:
            raise PermissionError(13, "Permission denied")
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", deny)
    refused(path, "cannot read the model file", "Permission denied")


# ---------------------------------------------------------------- saving
@pytest.fixture
def model() -> MatrixFactorization:
    return MatrixFactorization(n_factors=2, n_epochs=2, random_state=0).fit(toy())


def test_saving_into_a_missing_folder_creates_it(model, tmp_path):
    path = model.save(tmp_path / "new" / "deeper" / "m.npz")
    assert load_model(path).is_fitted


def test_saving_onto_a_folder(model, tmp_path):
    with pytest.raises(ModelFileError, match="it is a folder; give a file name"):
        model.save(tmp_path)


def test_saving_into_a_read_only_folder(model, tmp_path, monkeypatch):
    def deny(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("recsys._atomic.tempfile.mkstemp", deny)
    target = tmp_path / "m.npz"
    with pytest.raises(ModelFileError) as exc:
        model.save(target)
    assert str(exc.value) == (f"cannot write the model file {target}: Permission denied; choose "
                              "a folder you can write to (and check the free disk space)")
    assert not list(tmp_path.iterdir())


def test_saving_below_a_file_that_is_not_a_folder(model, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ModelFileError, match="cannot write the model file"):
        model.save(tmp_path / "file" / "m.npz")


@pytest.mark.parametrize("failure", [KeyboardInterrupt(), OSError(28, "No space left on device")],
                         ids=["ctrl-c", "disk-full"])
def test_an_interrupted_save_keeps_the_previous_file(model, tmp_path, monkeypatch, failure):
    target = model.save(tmp_path / "m.npz")
    before = target.read_bytes()
    from recsys.models import io as model_io

    real_write = model_io._write_npz

    def half_then_fail(handle, arrays):
        real_write(handle, dict(list(arrays.items())[:3]))  # some bytes are written
        raise failure

    monkeypatch.setattr(model_io, "_write_npz", half_then_fail)
    other = MatrixFactorization(n_factors=3, n_epochs=1, random_state=1).fit(toy(1))
    with pytest.raises(type(failure) if isinstance(failure, KeyboardInterrupt)
                       else ModelFileError) as exc:
        other.save(target)
    if not isinstance(failure, KeyboardInterrupt):
        assert "No space left on device" in str(exc.value)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]  # no temporary left


def test_the_saved_file_loads_after_the_failed_attempt(model, tmp_path):
    path = model.save(tmp_path / "m.npz")
    loaded = load_model(path)
    users, items = model.user_ids_[:5], model.item_ids_[:5]
    np.testing.assert_array_equal(loaded.predict(users, items), model.predict(users, items))


# ---------------------------------------------------------------- the fuzzer
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=6,
)
_DTYPES = ["bool", "int8", "uint8", "int32", "int64", "uint64", "float16", "float32", "float64",
           "complex64", "U3", "S2"]


def _mutate_header(draw, header: dict) -> dict:
    header = json.loads(json.dumps(header))
    for _ in range(draw(st.integers(1, 3))):
        target = header
        for key in ("params", "extra"):
            if draw(st.booleans()) and isinstance(header.get(key), dict):
                target = header[key]
                break
        keys = sorted(target) or ["x"]
        key = draw(st.sampled_from(keys + ["new_field"]))
        if draw(st.integers(0, 4)) == 0:
            target.pop(key, None)
        else:
            target[key] = draw(_JSON)
    return header


def _mutate_array(draw, a: np.ndarray) -> np.ndarray:
    op = draw(st.sampled_from(["dtype", "slice", "grow", "flatten", "transpose", "newaxis",
                               "values", "scalar", "empty"]))
    if op == "dtype":
        dtype = draw(st.sampled_from(_DTYPES))
        try:
            with np.errstate(all="ignore"):
                return a.astype(dtype)
        except (ValueError, TypeError, OverflowError):  # text that is not a number
            return np.zeros(a.shape, dtype=dtype)
    if op == "slice" and a.ndim:
        return a[: draw(st.integers(0, max(a.shape[0] - 1, 0)))]
    if op == "grow" and a.ndim:
        return np.concatenate([a, a[:1]]) if a.shape[0] else a
    if op == "flatten":
        return a.reshape(-1)
    if op == "transpose":
        return a.T
    if op == "newaxis":
        return a[None]
    if op == "values" and a.size and a.dtype.kind in "fiub":
        out = a.astype(np.float64).copy()
        flat = out.reshape(-1)
        flat[draw(st.integers(0, flat.size - 1))] = draw(st.sampled_from(
            [np.nan, np.inf, -np.inf, 1e300, -1e30, 3e38, 2**63, -1.0, 0.0]))
        if a.dtype.kind == "f" or draw(st.booleans()):
            return out
        with np.errstate(all="ignore"):
            return np.nan_to_num(out, posinf=2**62, neginf=-(2**62)).astype(a.dtype)
    if op == "scalar":
        return np.array(draw(st.integers(-5, 10**6)))
    return a[:0] if a.ndim else np.zeros(0, dtype=a.dtype)


@st.composite
def mutated_files(draw, files: dict[str, bytes]) -> bytes:
    kind = draw(st.sampled_from(sorted(files)))
    blob = files[kind]
    structural = draw(st.integers(0, 3)) > 0
    if structural:  # rewrite the header and arrays, re-zip
        header, arrays = unpack(blob)
        if draw(st.booleans()):
            header = _mutate_header(draw, header)
        for _ in range(draw(st.integers(0, 3))):
            names = sorted(arrays)
            op = draw(st.sampled_from(["drop", "swap", "change", "change", "add", "rename"]))
            name = draw(st.sampled_from(names))
            if op == "drop":
                arrays.pop(name)
            elif op == "swap":
                other = draw(st.sampled_from(names))
                arrays[name], arrays[other] = arrays[other], arrays[name]
            elif op == "change":
                arrays[name] = _mutate_array(draw, arrays[name])
            elif op == "add":
                arrays[draw(st.sampled_from(["state/extra", "common/x", name + "2"]))] = \
                    arrays[name]
            else:
                arrays[draw(st.text("abcstate/_", min_size=1, max_size=8))] = arrays.pop(name)
        header_value = header if draw(st.integers(0, 9)) else None
        blob = pack(header_value, arrays if header_value is not None or draw(st.booleans())
                    else {**arrays, "header": np.array(json.dumps(header))},
                    compressed=draw(st.booleans()))
    if not structural or draw(st.integers(0, 5)) == 0 or blob == files[kind]:  # byte damage
        blob = bytearray(blob)
        for _ in range(draw(st.integers(1, 4))):
            op = draw(st.sampled_from(["flip", "overwrite", "truncate", "append", "insert"]))
            # mostly past the zip signature (damage there is refused at once, and Hypothesis
            # favours position 0)
            first = 0 if draw(st.integers(0, 9)) == 0 else min(4, len(blob))
            at = draw(st.integers(first, max(len(blob) - 1, first)))
            if op == "flip" and at < len(blob):
                blob[at] ^= 1 << draw(st.integers(0, 7))
            elif op == "overwrite":
                junk = draw(st.binary(min_size=1, max_size=16))
                blob[at:at + len(junk)] = junk
            elif op == "truncate":
                del blob[at:]
            elif op == "append":
                blob += draw(st.binary(min_size=1, max_size=64))
            else:
                blob[at:at] = draw(st.binary(min_size=1, max_size=8))
        blob = bytes(blob)
    return blob


def _exercise(model) -> None:
    """What a user does with a loaded model: none of it may fail."""
    users = list(model.user_ids_[:3]) + [987654321]
    items = list(model.item_ids_[:3]) + ["never-seen"]
    pred, fell_back = model.predict(np.repeat(users, len(items)), np.tile(items, len(users)),
                                    return_fallback=True)
    low, high = model.rating_scale_
    assert pred.shape == (16,) and np.all(np.isfinite(pred))
    assert np.all((pred >= low) & (pred <= high))
    assert fell_back[-4:].all()
    model.recommend(users[0], n=3, cold_start=True)
    model.recommend(987654321, n=3, cold_start=True)
    try:
        model.similar_items(model.item_ids_[0], n=3)
    except RecsysError:
        pass  # no factors, or an item without training ratings: a clear error is fine


_REASONS = ("truncated or corrupt", "not an .npz", "empty file", "without a recsys header",
            "damaged model header", "foreign format", "newer than", "unknown model class",
            "settings", "incomplete or damaged", "Python objects", "too large")


@pytest.mark.fuzz
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(data=st.data())
def test_fuzz_the_model_file_reader(files, tmp_path_factory, data):
    blob = data.draw(mutated_files(files))
    folder = tmp_path_factory.getbasetemp() / "fuzz"
    folder.mkdir(exist_ok=True)
    path = folder / "model.npz"
    path.write_bytes(blob)
    try:
        model = load_model(path)
    except ModelFileError as exc:
        text = str(exc)
        assert "\n" not in text and str(path) in text
        reason = next((r for r in _REASONS if r in text), "other")
        event(f"refused: {reason}")
        return
    event("loaded and used")
    _exercise(model)


def test_the_fuzzer_starts_from_files_that_load(files, tmp_path):
    for name, blob in files.items():
        _exercise(load_model(write(tmp_path, blob, f"{name}.npz")))
    header, arrays = unpack(files["hybrid"])
    _exercise(load_model(write(tmp_path, pack(header, arrays, compressed=True), "c.npz")))
    assert os.listdir(tmp_path)
