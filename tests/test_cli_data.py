"""`recsys data list | download | info` and the CLI's error handling."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from recsys import __version__
from recsys.cli import main

ML100K = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-100k"


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, list(args), env=env)


def test_version_and_help_on_every_command():
    result = run("--version")
    assert result.exit_code == 0 and __version__ in result.output
    for command in ([], ["data"], ["data", "list"], ["data", "info"], ["data", "download"],
                    ["fit"], ["predict"], ["recommend"], ["similar"], ["evaluate"]):
        result = run(*command, "--help")
        assert result.exit_code == 0, (command, result.output)
        assert "Usage:" in result.output


def test_data_info_describes_the_bundled_set():
    result = run("data", "info")
    assert result.exit_code == 0, result.output
    assert "ml-latest-small" in result.output
    assert "100,836" in result.output and "610" in result.output
    assert "Forrest Gump" in result.output  # the most rated movie
    assert "rating histogram" in result.output


def test_data_info_json_is_parseable(tmp_path):
    ratings = tmp_path / "mine.csv"
    ratings.write_text("user,item,rating\na,x,1\na,y,2\nb,x,3\n")
    result = run("data", "info", str(ratings), "--format", "json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["n_ratings"] == 3 and info["n_users"] == 2 and info["n_items"] == 2


def test_data_list_shows_cache_state(tmp_path):
    result = run("data", "list", "--cache-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()[1:]}
    assert set(lines) >= {"ml-100k", "ml-1m", "ml-10m", "ml-20m", "ml-25m", "ml-32m",
                          "ml-latest-small", "ml-latest"}
    assert "bundled" in lines["ml-latest-small"]
    assert "cached" not in lines["ml-100k"]
    assert "no redistribution" in lines["ml-100k"]


def test_bad_input_gives_one_line_and_non_zero_exit(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("user,item,rating\n1,2,3\n1,3,banana\n")
    for args in (["data", "info", str(tmp_path / "missing.csv")],
                 ["data", "info", str(bad)],
                 ["data", "download", "ml-nope", "--cache-dir", str(tmp_path)]):
        result = run(*args)
        assert result.exit_code != 0, args
        assert "Traceback" not in result.output
        assert result.output.strip().count("\n") == 0, result.output
        assert result.output.startswith("Error:")
    result = run("data", "info", str(bad))
    assert "line 3" in result.output and "banana" in result.output


def test_offline_download_names_the_command(tmp_path):
    result = run("data", "info", "ml-100k", env={"RECSYS_DATA": str(tmp_path),
                                                 "RECSYS_DOWNLOAD_URL": "http://127.0.0.1:9/"})
    assert result.exit_code != 0
    assert "recsys data download ml-100k" in result.output
    assert "Traceback" not in result.output


def test_wrong_option_is_a_usage_error():
    result = run("data", "info", "--top", "-3")
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_ml100k_folder_reads_like_its_zip():
    if not ML100K.is_dir():
        import pytest

        pytest.skip("ML-100k is not in ../shared/datasets")
    result = run("data", "info", str(ML100K))
    assert result.exit_code == 0, result.output
    assert "100,000" in result.output and "943" in result.output and "1,682" in result.output


def test_installed_console_script_runs():
    exe = shutil.which("recsys", path=str(Path(sys.executable).parent))
    assert exe is not None, "the recsys console script is not installed next to python"
    out = subprocess.run([exe, "data", "info", "--top", "3"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "ml-latest-small" in out.stdout
