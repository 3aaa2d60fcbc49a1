"""The spark engine: DSGD on a real Spark context (local[2], bound to 127.0.0.1, UI off).

One context serves the whole file (``engine``, session-scoped, stopped at the end); its
master ``local[2,2]`` runs two tasks at once and gives a task two attempts, which the retry
test needs. Fits are short (few epochs, a 2 x 2 grid): on Spark each epoch costs a few
stages whatever the data size.
"""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import recsys
from recsys.data.splits import validation_split
from recsys.data.synthetic import make_planted
from recsys.engines.spark import SparkEngine, SparkMatrixFactorization
from recsys.errors import RecsysError
from recsys.models.io import load_model
from recsys.models.mf import MatrixFactorization
from recsys.models.progress import FitStopped
from tests._cli import assert_one_clean_error, run

MASTER = "local[2,2]"
NOISE = 0.5
PLANTED = dict(n_factors=3, n_epochs=4, lr=0.08, lr_bias=0.08, lr_decay=0.0, reg=0.02,
               reg_bias=0.02, init_std=0.1, random_state=0)
BUNDLED = dict(n_factors=16, n_epochs=3, random_state=0)


@pytest.fixture(scope="session")
def engine():
    with SparkEngine(MASTER, n_blocks=2) as started:
        yield started
    from pyspark import SparkContext

    assert SparkContext._active_spark_context is None  # stopped by the engine


@pytest.fixture(scope="module")
def planted_split():
    data = make_planted(n_users=300, n_items=200, n_ratings=36_000, n_factors=3, noise=NOISE,
                        random_state=0)
    return validation_split(data, valid_size=0.2, random_state=0)


@pytest.fixture(scope="module")
def bundled_split():
    return validation_split(recsys.load(), valid_size=0.2, random_state=1)


@pytest.fixture(scope="module")
def planted_fit(engine, planted_split):
    """A DSGD fit on the planted data that no failure disturbed, and its epochs reported."""
    train, _ = planted_split
    epochs = []
    model = engine.fit(MatrixFactorization(**PLANTED), train,
                       callback=lambda epoch, history: epochs.append(epoch))
    return model, epochs


def rmse(model, data) -> float:
    return float(np.sqrt(np.mean((model.predict_ratings(data) - data.ratings) ** 2)))


def test_importing_recsys_imports_no_pyspark():
    code = ("import sys, recsys, recsys.cli, recsys.engines.spark; "
            "assert 'pyspark' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_context_is_local_on_loopback_without_ui(engine):
    conf = engine.context.getConf()
    assert conf.get("spark.driver.host") == "127.0.0.1"
    assert conf.get("spark.driver.bindAddress") == "127.0.0.1"
    assert conf.get("spark.ui.enabled") == "false"
    assert os.environ["SPARK_LOCAL_IP"] == "127.0.0.1"
    assert engine.context.master == MASTER and engine.n_blocks == 2
    # a local master runs every task in the driver's JVM: more than Spark's 1 GB default
    memory = conf.get("spark.driver.memory")
    assert memory.endswith("m") and 1024 <= int(memory[:-1]) <= 8192


def test_planted_model_is_recovered(planted_fit, planted_split, tmp_path):
    train, test = planted_split
    model, epochs = planted_fit
    assert type(model) is MatrixFactorization
    assert epochs == [0, 1, 2, 3] and model.n_epochs_ == 4
    curve = model.history_["train_rmse"]
    assert len(curve) == 4 and curve[-1] < 0.7 * curve[0]
    assert NOISE * 0.9 < rmse(model, test) < NOISE * 1.15
    assert model.user_factors_.shape == (train.n_users, 3)
    assert model.user_factors_.dtype == np.float32
    # the same file as the local engine's: it loads as a MatrixFactorization and predicts
    path = model.save(tmp_path / "dsgd.npz")
    loaded = load_model(path)
    assert type(loaded) is MatrixFactorization
    assert np.array_equal(loaded.predict_ratings(test), model.predict_ratings(test))


def test_a_retried_task_gives_the_identical_model(engine, planted_split, tmp_path):
    # one epoch is enough: the injected failure hits the first training task, and the
    # comparison is bit for bit (a 4-epoch refit took 9 s of this file's 54)
    train, _ = planted_split
    settings = {**PLANTED, "n_epochs": 1}
    reference = engine.fit(MatrixFactorization(**settings), train)
    flag = tmp_path / "fail-once"
    flag.write_text("the first task to see this file fails")
    engine.fail_once_file = str(flag)
    try:
        retried = engine.fit(MatrixFactorization(**settings), train)
    finally:
        engine.fail_once_file = None
    assert not flag.exists()  # a task did fail (and removed the flag)
    for name in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"):
        assert np.array_equal(getattr(retried, name), getattr(reference, name)), name
    assert retried.history_ == reference.history_


def test_dsgd_is_within_one_percent_of_the_local_engine(engine, bundled_split):
    train, test = bundled_split
    ours = rmse(engine.fit(MatrixFactorization(**BUNDLED), train), test)
    theirs = rmse(MatrixFactorization(**BUNDLED).fit(train), test)
    assert abs(ours - theirs) < 0.01 * theirs, (ours, theirs)
    assert ours < 0.95 * float(np.std(test.ratings))


def test_validation_and_early_stopping_on_spark(engine, planted_split):
    train, valid = planted_split
    model = SparkMatrixFactorization(**{**PLANTED, "n_epochs": 2, "patience": 1})
    model.fit(train, validation=valid)
    scores = model.history_["valid_rmse"]
    assert len(scores) == model.n_epochs_ <= 2
    best = int(np.argmin(scores))
    assert model.best_epoch_ == best
    # the distributed validation score is the model's own RMSE at the kept epoch
    assert math.isclose(scores[best], rmse(model, valid), rel_tol=1e-4)
    assert model.refit_settings() == {"n_epochs": best + 1, "patience": None}


def test_a_stop_request_ends_the_fit_after_one_epoch(engine, planted_split):
    train, _ = planted_split
    model = SparkMatrixFactorization(**PLANTED)
    with pytest.raises(FitStopped):
        model.fit(train, should_stop=lambda: True)
    assert not model.is_fitted


def test_cli_fit_on_spark_writes_a_model_predict_and_recommend_read(engine, tmp_path,
                                                                   planted_split):
    train, _ = planted_split
    data = tmp_path / "ratings.csv"
    train.to_dataframe().to_csv(data, index=False)
    out = tmp_path / "spark.npz"
    result = run("fit", "--engine", "spark", "--master", MASTER, "--data", data, "--reader",
                 "driver", "--factors", 3, "--epochs", 1, "--validation", 0, "-o", out)
    assert result.exit_code == 0, result.output
    assert "DSGD" in result.stderr and "wrote" in result.stdout
    assert type(load_model(out)) is MatrixFactorization
    user, item = train.user_ids[0], train.item_ids[0]
    predicted = run("predict", "-m", out, "--user", user, "--item", item)
    assert predicted.exit_code == 0, predicted.output
    assert 1.0 < float(predicted.stdout.split()[0]) < 10.0
    listed = run("recommend", "-m", out, "--user", user, "-n", 3, "--min-ratings", 1,
                 "--format", "csv")
    assert listed.exit_code == 0, listed.output
    assert len(listed.stdout.strip().splitlines()) == 4  # header and three items


def test_spark_engine_fits_mf_only(engine):
    assert_one_clean_error(run("fit", "--engine", "spark", "--master", MASTER, "--model",
                               "knn"), 1, "--model mf only")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_master_fails_fast():
    import time

    start = time.perf_counter()
    master = f"spark://127.0.0.1:{_closed_port()}"
    assert_one_clean_error(run("fit", "--engine", "spark", "--master", master), 1,
                           "cannot reach the Spark master", master)
    assert time.perf_counter() - start < 15
    assert_one_clean_error(run("fit", "--engine", "spark", "--master", "yarn"), 1,
                           "unsupported Spark master")


def test_java_problems_are_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-java-here"))
    assert_one_clean_error(run("fit", "--engine", "spark"), 1, "JAVA_HOME", "bin/java")
    old = tmp_path / "jdk11"
    (old / "bin").mkdir(parents=True)
    fake = old / "bin" / "java"
    fake.write_text("#!/bin/sh\necho 'openjdk version \"11.0.2\" 2019-01-15' >&2\n")
    fake.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(old))
    assert_one_clean_error(run("fit", "--engine", "spark"), 1, "Java 17 or 21", "Java 11")


def test_missing_java_and_missing_pyspark_are_one_line(tmp_path, monkeypatch):
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = str(tmp_path)  # no java on it
    done = subprocess.run([sys.executable, "-m", "recsys", "fit", "--engine", "spark"],
                          env=env, capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("Error:")]
    assert len(lines) == 1 and "found no java" in lines[0] and "openjdk-17" in lines[0]
    assert "Traceback" not in done.stderr
    monkeypatch.setitem(sys.modules, "pyspark", None)  # as if it were not installed
    assert_one_clean_error(run("fit", "--engine", "spark"), 1, "pip install",
                           "recsys[spark]")


def test_bad_grid_size_is_an_error():
    with pytest.raises(RecsysError, match="n_blocks"):
        SparkEngine(n_blocks=0)
    assert Path(__file__).name == "test_spark_engine.py"
