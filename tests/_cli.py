"""Running the command line in tests: one call, and the check every error case shares."""

from __future__ import annotations

from click.testing import CliRunner

from recsys.cli import main


def run(*args: object):
    """``recsys ARGS...`` through click's runner (arguments turned into text)."""
    return CliRunner().invoke(main, [str(a) for a in args])


def error_lines(result) -> list[str]:
    """The ``Error:`` lines a command wrote on stderr."""
    return [line for line in result.stderr.splitlines() if line.startswith("Error:")]


def assert_one_clean_error(result, code: int, *words: str) -> str:
    """Exit ``code``, no traceback, exactly one ``Error:`` line containing every word."""
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]
