"""``recsys tune`` and ``recsys fit --params``: the settings file round trip, one line and an
exit code for each bad input, and Ctrl-C keeping the best trial so far."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from _cli import assert_one_clean_error, run
from _ratings_files import write_random_ratings

import recsys

# the SIGINT handler this process started with (SIG_IGN when launched in the background)
SIGINT_AT_START = signal.getsignal(signal.SIGINT)


@pytest.fixture(scope="module")
def ratings_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "ratings.csv"
    return write_random_ratings(path, n_users=40, n_items=30, per_user=12, seed=1)


@pytest.fixture(scope="module")
def best_json(ratings_csv, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tune") / "best.json"
    result = run("tune", "--data", ratings_csv, "--trials", "6", "-o", out)
    assert result.exit_code == 0, result.output
    return out


def test_tune_writes_the_best_settings(best_json):
    content = json.loads(best_json.read_text())
    assert content["model"] == "mf"
    assert content["params"]["n_epochs"] == content["n_epochs"] >= 1
    assert content["params"]["patience"] is None
    assert content["search"]["trials_run"] == 6 and not content["search"]["interrupted"]
    assert 0 < content["valid_rmse"] < 3


def test_tune_refits_into_model_out(ratings_csv, tmp_path):
    out, model_out = tmp_path / "b.json", tmp_path / "m.npz"
    result = run("tune", "--data", ratings_csv, "--model", "baseline", "--trials", "3", "-o",
                 out, "--model-out", model_out)
    assert result.exit_code == 0, result.output
    assert "best validation RMSE" in result.output and "3 trials" in result.output
    model = recsys.load_model(model_out)
    settings = json.loads(out.read_text())["params"]
    assert model.get_params() == settings
    assert int(model.user_counts_.sum()) == len(recsys.load(ratings_csv))


def test_fit_params_reuses_the_settings_and_options_override_them(ratings_csv, best_json,
                                                                 tmp_path):
    settings = json.loads(best_json.read_text())["params"]
    out = tmp_path / "m.npz"
    result = run("fit", "--params", best_json, "--data", ratings_csv, "--validation", "0",
                 "-o", out)
    assert result.exit_code == 0, result.output
    model = recsys.load_model(out)
    assert model.get_params() == settings
    assert model.n_epochs_ == settings["n_epochs"]
    result = run("fit", "--params", best_json, "--data", ratings_csv, "--factors", "3",
                 "--seed", "7", "--validation", "0", "-o", out)
    assert result.exit_code == 0, result.output
    model = recsys.load_model(out)
    assert model.n_factors == 3 and model.random_state == 7
    assert model.lr == settings["lr"]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("content, words", [
    ("{not json", ["not JSON", "line 1"]),
    ("[1, 2]", ["not an object of settings"]),
    ('{"model": "mf", "params": {"lrr": 0.1}}', ["no setting 'lrr'"]),
    ('{"lr": "fast"}', ["lr must be a number", "'fast'"]),
    ('{"n_factors": 0}', ["n_factors must be an integer"]),
    ('{"n_factors": 2.5}', ["n_factors", "2.5"]),
    ('{"patience": true}', ["patience"]),
    ('{"model": "hybrid", "params": {"hidden": [0]}}', ["hidden"]),
])
def test_a_bad_settings_file_is_one_line_naming_the_setting(ratings_csv, tmp_path, content,
                                                            words):
    params = _write(tmp_path / "bad.json", content)
    out = tmp_path / "m.npz"
    result = run("fit", "--params", params, "--data", ratings_csv, "-o", out)
    assert_one_clean_error(result, 1, "bad.json", *words)
    assert not out.exists()


def test_a_settings_file_of_another_model_or_missing(ratings_csv, best_json, tmp_path):
    result = run("fit", "--params", best_json, "--model", "baseline", "--data", ratings_csv)
    assert_one_clean_error(result, 1, "--model mf", "baseline")
    result = run("fit", "--params", tmp_path / "none.json", "--data", ratings_csv)
    assert_one_clean_error(result, 1, "none.json", "not found")


@pytest.mark.parametrize("args, code, words", [
    (["--trials", "0"], 2, ["--trials"]),
    (["--validation", "0"], 2, ["--validation"]),
    (["--validation", "0.01"], 1, ["too few", "--validation"]),
    (["--model", "mean"], 2, ["--model"]),
])
def test_bad_tuning_budgets_say_what_to_change(ratings_csv, tmp_path, args, code, words):
    out = tmp_path / "best.json"
    result = run("tune", "--data", ratings_csv, "-o", out, *args)
    assert_one_clean_error(result, code, *words)
    assert not out.exists()


def _ctrl_c_on_fit(monkeypatch, at_call: int) -> list[int]:
    """Make the ``at_call``-th fit (from 1) send SIGINT to this process at its start."""
    from recsys.models.mf import MatrixFactorization

    original = MatrixFactorization._fit
    calls: list[int] = []

    def fit_with_a_ctrl_c(self, train, validation, progress):
        calls.append(1)
        if len(calls) == at_call:
            os.kill(os.getpid(), signal.SIGINT)  # noted by the handler, not raised
            time.sleep(0.05)
        return original(self, train, validation, progress)

    monkeypatch.setattr(MatrixFactorization, "_fit", fit_with_a_ctrl_c)
    return calls


def test_ctrl_c_during_tune_keeps_the_best_so_far(ratings_csv, tmp_path, monkeypatch):
    calls = _ctrl_c_on_fit(monkeypatch, at_call=4)
    out, model_out = tmp_path / "best.json", tmp_path / "m.npz"
    result = run("tune", "--data", ratings_csv, "--trials", "10", "-o", out, "--model-out",
                 model_out)
    assert result.exit_code == 0, result.output
    assert "stopping at the end of this epoch" in result.stderr
    assert "interrupted after 4 of 10 trials" in result.stderr
    assert len(calls) == 4  # no further trial, no refit
    content = json.loads(out.read_text())
    assert content["search"]["interrupted"] and content["search"]["finished"] == 3
    assert content["search"]["best_trial"] in (0, 1, 2)
    assert not model_out.exists()
    assert signal.getsignal(signal.SIGINT) is SIGINT_AT_START  # handler restored


def test_ctrl_c_before_any_trial_finished_exits_130(ratings_csv, tmp_path, monkeypatch):
    _ctrl_c_on_fit(monkeypatch, at_call=1)
    out = tmp_path / "best.json"
    out.write_text("{}")  # an earlier file stays as it was
    result = run("tune", "--data", ratings_csv, "--trials", "5", "-o", out)
    assert_one_clean_error(result, 130, "interrupted", "best.json was not written")
    assert out.read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.json"]
