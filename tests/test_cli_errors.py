"""The command line's catalogue of user mistakes: each gives one ``Error:`` line on stderr that
names what was wrong and what to do, a non-zero exit code, and no traceback (unless --debug).

Exit codes: 1 for a bad file, id or setting; 2 for a wrong option or option value; 130 for
Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _cli import assert_one_clean_error, run
from _ratings_files import write_random_ratings

# the SIGINT handler this process started with (SIG_IGN when launched in the background)
SIGINT_AT_START = signal.getsignal(signal.SIGINT)


@pytest.fixture(scope="module")
def ratings_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "ratings.csv"
    return write_random_ratings(path, n_users=40, n_items=30, per_user=12, seed=1)


@pytest.fixture(scope="module")
def model_file(ratings_csv, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("model") / "mf.npz"
    result = run("fit", "--data", ratings_csv, "--factors", "3", "--epochs", "3", "-o", out)
    assert result.exit_code == 0, result.output
    return out


# ---------------------------------------------------------------- wrong option values (exit 2)
WRONG_OPTIONS = [
    (["data", "list", "--format", "xml"], "--format"),
    (["data", "info", "--top", "-1"], "--top"),
    (["data", "download"], "NAME"),
    (["fit", "--model", "svd"], "--model"),
    (["fit", "--factors", "0"], "--factors"),
    (["fit", "--epochs", "0"], "--epochs"),
    (["fit", "--epochs", "ten"], "--epochs"),
    (["fit", "--lr", "0"], "--lr"),
    (["fit", "--lr", "-0.1"], "--lr"),
    (["fit", "--reg", "-1"], "--reg"),
    (["fit", "--threads", "0"], "--threads"),
    (["fit", "--hidden", "32,x"], "--hidden"),
    (["fit", "--hidden", "0"], "--hidden"),
    (["fit", "--validation", "1.5"], "--validation"),
    (["predict", "--user", "1"], "--item"),
    (["predict", "--pairs", "no-such-pairs.csv"], "--pairs"),
    (["recommend"], "--user"),
    (["recommend", "--user", "1", "-n", "0"], "--n"),
    (["recommend", "--user", "1", "--n", "0"], "--n"),
    (["recommend", "--user", "1", "--n", "-3"], "--n"),
    (["recommend", "--user", "1", "--format", "xml"], "--format"),
    (["recommend", "--user", "1", "--min-ratings", "0"], "--min-ratings"),
    (["similar", "--item", "1", "--n", "0"], "--n"),
    (["similar"], "--item"),
    (["evaluate", "--split", "u9"], "--split"),
    (["evaluate", "-k", "0"], "--top"),
    (["evaluate", "--validation", "0.95"], "--validation"),
    (["evaluate", "--topn-users", "0"], "--topn-users"),
    (["fit", "--no-such-option"], "--no-such-option"),
    (["no-such-command"], "no-such-command"),
]


@pytest.mark.parametrize("args, named", WRONG_OPTIONS, ids=[" ".join(a) for a, _ in WRONG_OPTIONS])
def test_a_wrong_option_value_is_one_usage_line(args, named):
    result = run(*args)
    line = assert_one_clean_error(result, 2, named)
    assert "--help" in line  # says where to look
    assert "Usage:" not in result.stderr


def test_every_command_refuses_an_unknown_option():
    commands = [["data", "list"], ["data", "info"], ["data", "download", "ml-100k"], ["fit"],
                ["predict"], ["recommend"], ["similar"], ["evaluate"]]
    for command in commands:
        assert_one_clean_error(run(*command, "--bogus"), 2, "--bogus")


def test_a_group_without_a_command_shows_its_help():
    result = run("data")
    assert result.exit_code == 2
    assert "download" in result.output and "Traceback" not in result.output


# ---------------------------------------------------------------- unknown names and ids (exit 1)
@pytest.mark.parametrize("args", [
    ["fit", "--data", "ml-999k"],
    ["evaluate", "--data", "ml-999k"],
    ["data", "info", "ml-999k"],
])
def test_an_unknown_data_set_lists_the_known_ones(args):
    assert_one_clean_error(run(*args), 1, "ml-999k", "ml-100k", "ml-latest-small")


def test_download_of_an_unknown_data_set(tmp_path):
    assert_one_clean_error(run("data", "download", "ml-5k", "--cache-dir", tmp_path), 1,
                           "ml-5k", "ml-1m")
    assert list(tmp_path.iterdir()) == []


def test_unknown_user_and_item(model_file):
    assert_one_clean_error(run("recommend", "-m", model_file, "--user", "9999"), 1,
                           "unknown user '9999'", "--cold-start")
    assert_one_clean_error(run("predict", "-m", model_file, "--user", "9999", "--item", "1"), 1,
                           "unknown user '9999'", "--fallback")
    assert_one_clean_error(run("predict", "-m", model_file, "--user", "1", "--item", "9999"), 1,
                           "unknown item '9999'", "--fallback")
    assert_one_clean_error(run("similar", "-m", model_file, "--item", "9999"), 1, "9999")


@pytest.mark.parametrize("command", [["recommend", "--user", "1"], ["similar", "--item", "1"],
                                     ["predict", "--user", "1", "--item", "1"]])
def test_a_missing_model_file_says_how_to_make_one(tmp_path, command):
    missing = tmp_path / "nope.npz"
    assert_one_clean_error(run(*command, "-m", missing), 1, "nope.npz")


def test_a_corrupt_model_file(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(os.urandom(300))
    assert_one_clean_error(run("recommend", "-m", bad, "--user", "1"), 1, "bad.npz")


def test_a_bad_ratings_file(tmp_path):
    bad = tmp_path / "r.csv"
    bad.write_text("userId,movieId,rating\n1,2,3\n1,3,oops\n")
    line = assert_one_clean_error(run("fit", "--data", bad, "-o", tmp_path / "m.npz"), 1, "r.csv")
    assert "line 3" in line
    assert not (tmp_path / "m.npz").exists()


# ---------------------------------------------------------------- fitting
def test_a_diverging_fit_names_the_setting_and_keeps_the_old_model(ratings_csv, model_file,
                                                                   tmp_path):
    target = tmp_path / "model.npz"
    target.write_bytes(model_file.read_bytes())
    before = target.read_bytes()
    result = run("fit", "--data", ratings_csv, "--lr", "10", "--epochs", "20", "--validation",
                 "0", "-o", target)
    line = assert_one_clean_error(result, 1, "diverged", "lr", "was not written")
    assert "lower" in line
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]


def test_fit_without_a_validation_part(ratings_csv, tmp_path):
    out = tmp_path / "m.npz"
    result = run("fit", "--data", ratings_csv, "--epochs", "2", "--validation", "0", "-o", out)
    assert result.exit_code == 0, result.output
    assert "no validation part" in result.stderr and out.exists()
    assert "validation RMSE" not in result.stdout


def test_a_model_option_that_does_not_apply(ratings_csv, tmp_path):
    result = run("fit", "--data", ratings_csv, "--model", "mean", "--factors", "3",
                 "-o", tmp_path / "m.npz")
    assert_one_clean_error(result, 1, "--factors", "mean")


def test_ctrl_c_inside_the_fit_exits_130_and_writes_nothing(ratings_csv, model_file, tmp_path,
                                                            monkeypatch):
    from recsys.models.mf import MatrixFactorization

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(MatrixFactorization, "fit", interrupted)
    out = tmp_path / "m.npz"
    line = assert_one_clean_error(run("fit", "--data", ratings_csv, "-o", out), 130,
                                  "interrupted", "m.npz")
    assert "not written" in line
    assert list(tmp_path.iterdir()) == []


def test_the_first_ctrl_c_stops_the_fit_at_the_end_of_the_epoch(ratings_csv, tmp_path,
                                                              monkeypatch):
    """A SIGINT during an epoch (perhaps inside numba's compiler, where Python cannot raise it)
    is noted, and the fit stops at the epoch's end: exit 130, no model file."""
    from recsys.models.mf import MatrixFactorization

    epochs_run = []

    def fit_with_a_ctrl_c(self, train, validation=None, callback=None, should_stop=None):
        for epoch in range(5):
            if epoch == 1:
                os.kill(os.getpid(), signal.SIGINT)  # noted by the handler, not raised
                time.sleep(0.05)
            epochs_run.append(epoch)
            callback(epoch, {"train_rmse": [1.0]})
            if should_stop():  # as Estimator.fit asks after every epoch
                raise KeyboardInterrupt
        return self

    monkeypatch.setattr(MatrixFactorization, "fit", fit_with_a_ctrl_c)
    out = tmp_path / "m.npz"
    result = run("fit", "--data", ratings_csv, "-o", out)
    assert_one_clean_error(result, 130, "interrupted during the fit", "not written")
    assert "stopping at the end of this epoch" in result.stderr
    assert epochs_run == [0, 1]  # epoch 1 finished, then the callback stopped the fit
    assert not out.exists()
    assert signal.getsignal(signal.SIGINT) is SIGINT_AT_START  # handler restored


def test_a_ctrl_c_during_evaluate_stops_at_the_end_of_the_epoch(ratings_csv, tmp_path,
                                                                 monkeypatch):
    """The evaluate command watches Ctrl-C as fit does: the first press is noted, the fit
    that is running stops at its epoch's end (should_stop), exit 130 and no report."""
    from recsys.models.mf import MatrixFactorization

    epochs_run = []

    def epochs_with_a_ctrl_c(self, train, validation, progress):
        for epoch in range(5):
            if epoch == 1:
                os.kill(os.getpid(), signal.SIGINT)  # noted by the handler, not raised
                time.sleep(0.05)
            epochs_run.append(epoch)
            progress.epoch_done(epoch, {"train_rmse": [1.0]})

    monkeypatch.setattr(MatrixFactorization, "_fit", epochs_with_a_ctrl_c)
    out = tmp_path / "report"
    result = run("evaluate", "--data", ratings_csv, "--models", "mf", "-o", out)
    assert_one_clean_error(result, 130, "interrupted during the evaluation", "no report")
    assert "stopping at the end of this epoch" in result.stderr
    assert epochs_run == [0, 1]
    assert not out.exists()
    assert signal.getsignal(signal.SIGINT) is SIGINT_AT_START  # handler restored


def test_ctrl_c_while_saving_keeps_the_previous_model(ratings_csv, model_file, tmp_path,
                                                     monkeypatch):
    import recsys._atomic

    target = tmp_path / "model.npz"
    target.write_bytes(model_file.read_bytes())
    before = target.read_bytes()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(recsys._atomic.os, "replace", interrupted)
    result = run("fit", "--data", ratings_csv, "--epochs", "2", "-o", target)
    assert_one_clean_error(result, 130, "interrupted", "unchanged")
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]


@pytest.mark.parametrize("numba_cache", ["warm", "cold"])
def test_a_real_sigint_during_a_long_fit(ratings_csv, model_file, tmp_path, tmp_path_factory,
                                         numba_cache):
    """Start ``python -m recsys fit`` with far too many epochs, send SIGINT once it is fitting:
    exit 130 with one line, the previous model file untouched, no temporary file left.

    With a cold numba cache the signal lands while the kernels compile, inside a ctypes
    callback where Python cannot raise it: the fit must still stop and say so."""
    target = tmp_path / "model.npz"
    target.write_bytes(model_file.read_bytes())
    before = target.read_bytes()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if numba_cache == "cold":
        env["NUMBA_CACHE_DIR"] = str(tmp_path_factory.mktemp("numba-cache"))
    process = subprocess.Popen(
        [sys.executable, "-m", "recsys", "fit", "--data", str(ratings_csv), "--epochs", "100000",
         "--validation", "0", "-o", str(target)],
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )
    try:
        first = process.stderr.readline()  # "fitting MatrixFactorization on ..."
        assert first.startswith("fitting"), first
        time.sleep(1.0)
        assert process.poll() is None, "the fit ended before it could be interrupted"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "interrupted" in errors[0] and "not written" in errors[0]
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]


# ---------------------------------------------------------------- the machine
def test_an_unwritable_output_folder(ratings_csv, tmp_path, monkeypatch):
    import recsys._atomic

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "locked"))

    monkeypatch.setattr(recsys._atomic.tempfile, "mkstemp", refuse)
    result = run("fit", "--data", ratings_csv, "--epochs", "1", "-o", tmp_path / "locked" / "m.npz")
    line = assert_one_clean_error(result, 1, "ermission denied", "locked")
    assert "choose" in line or "check" in line  # says what to do


def test_debug_shows_the_traceback_and_bugs_are_reported_as_such(model_file, monkeypatch):
    from recsys.models.base import Estimator

    def broken(self, *args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(Estimator, "recommend", broken)
    plain = run("recommend", "-m", model_file, "--user", "1")
    assert_one_clean_error(plain, 1, "internal error", "ZeroDivisionError", "--debug")
    debug = run("--debug", "recommend", "-m", model_file, "--user", "1")
    assert debug.exit_code != 0 and isinstance(debug.exception, ZeroDivisionError)


def test_debug_keeps_the_traceback_of_a_user_error(tmp_path):
    from recsys.errors import DataError

    result = run("--debug", "data", "info", tmp_path / "missing.csv")
    assert isinstance(result.exception, DataError)


def test_the_installed_script_gives_one_line_and_no_traceback(tmp_path):
    script = Path(sys.executable).with_name("recsys")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "recsys"]
    done = subprocess.run([*command, "recommend", "-m", str(tmp_path / "none.npz"), "--user",
                           "1"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and done.stderr.startswith("Error:")


# ---------------------------------------------------------------- telling the reader the format
def test_sep_header_and_scale_options(tmp_path):
    hashed = tmp_path / "hashed.txt"
    hashed.write_text("".join(f"{u}#{i}#{(u + i) % 5 + 1}\n" for u in range(1, 5)
                              for i in range(1, 4)))
    line = assert_one_clean_error(run("data", "info", hashed), 1, "hashed.txt", "--sep '#'")
    assert "separator" in line
    told = run("data", "info", hashed, "--sep", "#", "--format", "json")
    assert told.exit_code == 0, told.output
    assert '"n_ratings": 12' in told.stdout

    tabbed = tmp_path / "tabbed.txt"
    tabbed.write_text("user\titem\tscore\n1\t2\t3\n2\t3\t4\n")
    assert run("data", "info", tabbed, "--sep", "tab", "--format", "json").exit_code == 0
    wrong = run("data", "info", tabbed, "--sep", ",")
    assert_one_clean_error(wrong, 1, "tabbed.txt", "--sep '\\t'")

    headless = tmp_path / "headless.csv"
    headless.write_text("user,item,rating\n1,2,3\n2,3,4\n")
    as_names = run("data", "info", headless, "--format", "json")
    assert '"n_ratings": 2' in as_names.stdout
    as_data = run("data", "info", headless, "--no-header")  # the first line read as a rating
    assert_one_clean_error(as_data, 1, "line 1", "rating 'rating' is not a number")

    high = tmp_path / "ten.csv"
    high.write_text("userId,movieId,rating\n1,2,3\n2,3,10\n")
    assert run("data", "info", high, "--format", "json").exit_code == 0  # scale from the file
    assert_one_clean_error(run("data", "info", high, "--scale", "1,5"), 1, "line 3",
                           "outside the rating scale [1, 5]", "--scale")
    assert_one_clean_error(run("data", "info", high, "--scale", "5,1"), 2, "--scale")
    assert_one_clean_error(run("fit", "--data", high, "--scale", "one,five"), 2, "--scale")


def test_a_pairs_file_in_latin_1_or_with_a_bom(model_file, tmp_path):
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"user,item\n1,2\n\xe9t\xe9,3\n")
    result = run("predict", "-m", model_file, "--pairs", latin)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[2].startswith("\u00e9t\u00e9,3,")
    assert "1 fell back" in result.stderr
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf1,2\n1,3\n")
    result = run("predict", "-m", model_file, "--pairs", bom)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1].startswith("1,2,") and "0 fell back" in result.stderr


@pytest.mark.parametrize("command", [["fit"], ["evaluate"]])
def test_a_negative_seed_is_a_usage_error(command):
    assert_one_clean_error(run(*command, "--seed", "-1"), 2, "--seed")


@pytest.mark.parametrize("seed", [-1, 1.5, "7", True])
def test_a_bad_seed_in_the_library_is_a_parameter_error(seed):
    from recsys.data.splits import holdout_split, kfold_splits
    from recsys.data.synthetic import make_planted
    from recsys.errors import ParameterError

    ratings = make_planted(n_users=20, n_items=10, n_ratings=100, random_state=0)
    with pytest.raises(ParameterError, match="random_state must be None, an integer >= 0"):
        holdout_split(ratings, random_state=seed)
    with pytest.raises(ParameterError, match=repr(seed)):
        next(iter(kfold_splits(ratings, random_state=seed)))
    with pytest.raises(ParameterError):
        make_planted(n_users=20, n_items=10, n_ratings=100, random_state=seed)


def test_a_binary_pairs_file_is_refused_before_anything_is_written(model_file, tmp_path):
    result = run("predict", "-m", model_file, "--pairs", model_file)
    assert_one_clean_error(result, 1, "zip archive", "CSV")
    assert result.stdout == ""  # not even the header line


def test_nothing_left_to_recommend_says_why(ratings_csv, tmp_path):
    one_user = tmp_path / "one.csv"
    one_user.write_text("userId,movieId,rating\n1,1,4\n1,2,3\n1,3,5\n")
    model = tmp_path / "b.npz"
    assert run("fit", "--data", one_user, "--model", "baseline", "--validation", "0",
               "-o", model).exit_code == 0
    result = run("recommend", "-m", model, "--user", "1")
    assert result.exit_code == 0 and result.stdout == ""
    assert "nothing to recommend" in result.stderr and "--include-seen" in result.stderr
    seen = run("recommend", "-m", model, "--user", "1", "--include-seen", "--min-ratings", "1")
    assert seen.exit_code == 0 and len(seen.stdout.strip().splitlines()) == 4


def test_a_closed_pipe_ends_quietly(model_file, tmp_path):
    """`recsys predict --pairs big.csv | head -1`: no "Broken pipe" error, no traceback."""
    many = tmp_path / "pairs.csv"  # far more output than a pipe's buffer holds
    many.write_text("".join(f"{u % 40 + 1},{u % 30 + 1}\n" for u in range(100_000)))
    process = subprocess.Popen(
        [sys.executable, "-m", "recsys", "predict", "-m", str(model_file), "--pairs",
         str(many)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,
    )
    process.stdout.read(10)
    process.stdout.close()  # the reader goes away mid-stream
    err = process.stderr.read().decode()
    process.wait(timeout=60)
    assert "Traceback" not in err and "Broken pipe" not in err and "Error" not in err
