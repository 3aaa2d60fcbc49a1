"""`recsys fit -> recommend -> similar -> predict`, through CliRunner and the installed script."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _ratings_files import write_random_ratings
from click.testing import CliRunner

from recsys.cli import main
from recsys.models.io import load_model


def run(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory) -> Path:
    """A small ratings file: 60 users, 15 of 40 items each."""
    path = tmp_path_factory.mktemp("data") / "ratings.csv"
    return write_random_ratings(path, n_users=60, n_items=40, per_user=15, seed=0)


@pytest.fixture(scope="module")
def model_file(small_csv, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("model") / "mf.npz"
    result = run("fit", "--data", str(small_csv), "--factors", "4", "--epochs", "5",
                 "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "RMSE" in result.output
    return out


def test_fit_writes_a_loadable_model_and_nothing_else(model_file):
    model = load_model(model_file)
    assert type(model).__name__ == "MatrixFactorization"
    assert model.get_params()["n_factors"] == 4
    leftovers = [p.name for p in model_file.parent.iterdir() if p.name != model_file.name]
    assert leftovers == []


def test_recommend_table_json_and_csv(model_file):
    table = run("recommend", "-m", str(model_file), "--user", "1", "-n", "3", "--min-ratings", "1")
    assert table.exit_code == 0, table.output
    assert len(table.output.strip().splitlines()) == 4  # header + 3 rows
    as_json = run("recommend", "-m", str(model_file), "--user", "1", "-n", "3", "--format",
                  "json", "--min-ratings", "1")
    rows = json.loads(as_json.output)
    assert len(rows) == 3 and {"item", "title", "prediction"} <= set(rows[0])
    predictions = [row["prediction"] for row in rows]
    assert predictions == sorted(predictions, reverse=True)
    model = load_model(model_file)
    seen = set(model.item_ids_[model.seen_items_[model.seen_indptr_[0]:model.seen_indptr_[1]]])
    assert not seen & {row["item"] for row in rows}
    as_csv = run("recommend", "-m", str(model_file), "--user", "1", "-n", "2", "--format", "csv")
    assert as_csv.output.splitlines()[0].startswith("item,title")


def test_unknown_user_is_an_error_unless_cold_start_is_asked_for(model_file):
    result = run("recommend", "-m", str(model_file), "--user", "424242", "-n", "2")
    assert result.exit_code == 1
    assert "unknown user '424242'" in result.output and "--cold-start" in result.output
    assert "Traceback" not in result.output
    cold = run("recommend", "-m", str(model_file), "--user", "424242", "-n", "2", "--cold-start",
               "--format", "json", "--min-ratings", "1")
    assert cold.exit_code == 0, cold.output
    assert "unknown user" in cold.stderr
    assert len(json.loads(cold.stdout)) == 2


def test_similar_by_id(model_file):
    result = run("similar", "-m", str(model_file), "--item", "1", "-n", "4", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert len(rows) == 4 and all(-1.0 <= r["similarity"] <= 1.0 for r in rows)
    assert 1 not in {r["item"] for r in rows}
    missing = run("similar", "-m", str(model_file), "--item", "no such film")
    assert missing.exit_code == 1 and "no item" in missing.output


def test_predict_one_pair_and_fallback(model_file):
    result = run("predict", "-m", str(model_file), "--user", "1", "--item", "2")
    assert result.exit_code == 0
    assert 1.0 <= float(result.output.split()[0]) <= 5.0
    unknown = run("predict", "-m", str(model_file), "--user", "1", "--item", "999")
    assert unknown.exit_code == 1
    assert "unknown item '999'" in unknown.output and "--fallback" in unknown.output
    fell_back = run("predict", "-m", str(model_file), "--user", "1", "--item", "999",
                    "--fallback")
    assert fell_back.exit_code == 0, fell_back.output
    assert 1.0 <= float(fell_back.output.split()[0]) <= 5.0
    assert "unknown item" in fell_back.output


def test_predict_pairs_streams_in_input_order(model_file, tmp_path):
    pairs = tmp_path / "pairs.tsv"
    users = [3, 1, 2, 77777, 1]
    items = [5, 2, 40, 1, 3]
    pairs.write_text("".join(f"{u}\t{i}\t4\t0\n" for u, i in zip(users, items)))
    out = tmp_path / "out.csv"
    result = run("predict", "-m", str(model_file), "--pairs", str(pairs), "-o", str(out),
                 "--chunk-size", "1000")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    assert frame["user"].tolist() == users and frame["item"].tolist() == items
    model = load_model(model_file)
    expected = model.predict(users, items)
    assert np.allclose(frame["prediction"], expected, atol=1e-4)
    assert "1 fell back" in result.output


@pytest.mark.parametrize("layout", ["u1.test", "header", "pairs only"])
def test_predict_pairs_scores_a_file_that_holds_ratings(model_file, tmp_path, layout):
    """A held-out file (user item rating ...) gets its RMSE on stderr; pairs alone do not."""
    users, items, ratings = [3, 1, 2, 77777, 1], [5, 2, 40, 1, 3], [4, 2, 5, 3, 1]
    pairs = tmp_path / "held.txt"
    if layout == "u1.test":
        pairs.write_text("".join(f"{u}\t{i}\t{r}\t0\n" for u, i, r in zip(users, items, ratings)))
    elif layout == "header":
        pairs.write_text("timestamp,rating,movieId,userId\n" + "".join(
            f"0,{r},{i},{u}\n" for u, i, r in zip(users, items, ratings)))
    else:
        pairs.write_text("".join(f"{u},{i}\n" for u, i in zip(users, items)))
    result = run("predict", "-m", str(model_file), "--pairs", str(pairs),
                 "-o", str(tmp_path / "out.csv"))
    assert result.exit_code == 0, result.output
    if layout == "pairs only":
        assert "RMSE" not in result.stderr
        return
    predicted = load_model(model_file).predict(users, items)
    expected = np.sqrt(np.mean((predicted - np.array(ratings)) ** 2))
    assert f"RMSE against the file's ratings: {expected:.4f} (5 rated pairs)" in result.stderr


def test_fit_options_that_do_not_apply_are_rejected(small_csv, tmp_path):
    result = run("fit", "--data", str(small_csv), "--model", "baseline", "--factors", "3",
                 "-o", str(tmp_path / "b.npz"))
    assert result.exit_code == 1 and "--factors does not apply" in result.output
    assert not (tmp_path / "b.npz").exists()
    wrong = run("fit", "--model", "nope")
    assert wrong.exit_code == 2


def test_baseline_model_recommends(small_csv, tmp_path):
    out = tmp_path / "b.npz"
    result = run("fit", "--data", str(small_csv), "--model", "baseline", "-o", str(out))
    assert result.exit_code == 0, result.output
    rec = run("recommend", "-m", str(out), "--user", "2", "-n", "3")
    assert rec.exit_code == 0 and len(rec.output.strip().splitlines()) == 4


def test_corrupt_or_foreign_model_file_is_one_line(tmp_path, model_file):
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(model_file.read_bytes()[:500])
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.ones(3))
    text = tmp_path / "text.npz"
    text.write_text("hello")
    for path in (truncated, foreign, text, tmp_path / "missing.npz"):
        result = run("recommend", "-m", str(path), "--user", "1")
        assert result.exit_code == 1, path
        assert result.output.startswith("Error:") and result.output.count("\n") == 1
        assert "Traceback" not in result.output


def test_bad_pairs_file_is_one_line(model_file, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    result = run("predict", "-m", str(model_file), "--pairs", str(empty))
    assert result.exit_code == 1 and "empty" in result.output
    neither = run("predict", "-m", str(model_file))
    assert neither.exit_code == 2


def test_round_trip_through_the_installed_command(tmp_path, small_csv):
    exe = shutil.which("recsys", path=str(Path(sys.executable).parent))
    assert exe is not None, "the recsys console script is not installed next to python"
    model = tmp_path / "m.npz"
    steps = [
        ["fit", "--data", str(small_csv), "--factors", "3", "--epochs", "3", "-o", str(model)],
        ["recommend", "-m", str(model), "--user", "1", "-n", "3"],
        ["similar", "-m", str(model), "--item", "2", "-n", "3"],
    ]
    for step in steps:
        out = subprocess.run([exe, *step], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, (step, out.stderr)
    assert model.is_file()


@pytest.fixture(scope="module")
def timed_model(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """A time-aware model fitted by the CLI on ratings spread over a year."""
    rng = np.random.default_rng(3)
    n = 1500
    frame = pd.DataFrame({"userId": rng.integers(1, 61, n), "movieId": rng.integers(1, 41, n),
                          "rating": rng.integers(1, 6, n).astype(float),
                          "timestamp": 1_300_000_000 + rng.integers(0, 365 * 86_400, n)})
    frame = frame.drop_duplicates(["userId", "movieId"])
    folder = tmp_path_factory.mktemp("timed")
    data = folder / "timed.csv"
    frame.to_csv(data, index=False)
    out = folder / "timebias.npz"
    result = run("fit", "--data", str(data), "--model", "timebias", "--epochs", "10",
                 "-o", str(out))
    assert result.exit_code == 0, result.output
    return out, frame


@pytest.mark.parametrize("layout", ["u1.test", "header with dates", "no times"])
def test_predict_pairs_passes_the_files_times_to_a_time_aware_model(timed_model, tmp_path,
                                                                     layout):
    model_path, frame = timed_model
    rows = frame.iloc[:40]
    users, items, stamps = rows["userId"].tolist(), rows["movieId"].tolist(), rows["timestamp"]
    pairs = tmp_path / "held.txt"
    if layout == "u1.test":
        pairs.write_text("".join(f"{u}\t{i}\t3\t{t}\n" for u, i, t in zip(users, items, stamps)))
    elif layout == "header with dates":
        dates = pd.to_datetime(stamps, unit="s", utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        pairs.write_text("userId,movieId,rating,timestamp\n" + "".join(
            f"{u},{i},3,{d}\n" for u, i, d in zip(users, items, dates)))
    else:
        pairs.write_text("".join(f"{u},{i},3\n" for u, i in zip(users, items)))
    out = tmp_path / "out.csv"
    result = run("predict", "-m", str(model_path), "--pairs", str(pairs), "-o", str(out))
    assert result.exit_code == 0, result.output
    model = load_model(model_path)
    at_times = model.predict(users, items, stamps.to_numpy())
    now = model.predict(users, items)
    assert not np.allclose(at_times, now)  # the check can tell the two apart
    expected = now if layout == "no times" else at_times
    np.testing.assert_allclose(pd.read_csv(out)["prediction"], expected, atol=1e-4)


def test_fit_blends_the_bases_named(small_csv, tmp_path):
    out = tmp_path / "h.npz"
    result = run("fit", "--data", str(small_csv), "--model", "hybrid", "--bases", "mf,knn",
                 "--hidden", "4", "--epochs", "2", "--nets", "2", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert load_model(out).bases_ == ("mf", "knn")
    assert len(load_model(out).net_.members) == 2
    for bad, words in (("knn", "must include 'mf'"), ("mf,nope", "no base model 'nope'"),
                       (",", "expected base model names")):
        wrong = run("fit", "--data", str(small_csv), "--model", "hybrid", "--bases", bad,
                    "-o", str(tmp_path / "x.npz"))
        assert wrong.exit_code != 0 and words in wrong.output, wrong.output
        assert "Traceback" not in wrong.output
    other = run("fit", "--data", str(small_csv), "--bases", "mf,knn", "-o", str(out))
    assert other.exit_code == 1 and "--bases does not apply" in other.output
    other = run("fit", "--data", str(small_csv), "--nets", "2", "-o", str(out))
    assert other.exit_code == 1 and "--nets does not apply" in other.output
    zero = run("fit", "--data", str(small_csv), "--model", "hybrid", "--nets", "0", "-o", str(out))
    assert zero.exit_code == 2 and "--nets" in zero.output and "Traceback" not in zero.output


def test_similar_lists_only_items_with_enough_ratings(model_file):
    model = load_model(model_file)
    item = model.item_ids_[int(np.argmax(model.item_counts_))]
    counts = dict(zip(model.item_ids_.tolist(), model.item_counts_.tolist()))
    floor = int(np.median(model.item_counts_)) + 1
    frame = model.similar_items(item, n=40, min_item_ratings=floor)
    assert len(frame) and all(counts[i] >= floor for i in frame["item"])
    assert len(model.similar_items(item, n=40)) > len(frame)  # the floor removed some
    result = run("similar", "-m", str(model_file), "--item", str(item), "-n", "40",
                 "--min-ratings", str(floor), "--format", "csv")
    assert result.exit_code == 0, result.output
    listed = pd.read_csv(io.StringIO(result.output))["item"].tolist()
    assert listed == frame["item"].tolist()
