"""The request limits, and the body of ``POST /recommend`` read without trusting it.

The body is checked before the model sees it: size (by the server, before parsing: see
:data:`MAX_BODY_BYTES`), UTF-8, JSON (no ``NaN``/``Infinity``, no key given twice, no nesting
deep enough to exhaust the parser), an object with only the known fields, each of the right
type and range. Every refusal is a :class:`~recsys.serve.errors.RequestError` naming the field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from recsys.models.topn import RANK_BY
from recsys.serve.errors import BAD_REQUEST, UNPROCESSABLE, RequestError

__all__ = ["MAX_BODY_BYTES", "MAX_N", "MAX_RATINGS", "MAX_SEARCH", "DEFAULT_N",
           "DEFAULT_MIN_RATINGS", "NewUser", "parse_new_user", "count_field"]

MAX_BODY_BYTES = 64 * 1024
"""Largest request body accepted (bytes); a larger one is refused unread (413)."""
MAX_N = 1000
"""Largest ``n`` (items in one answer)."""
MAX_RATINGS = 1000
"""Most ratings one new user may give."""
MAX_SEARCH = 100
"""Most items one ``GET /items`` answer lists."""
DEFAULT_N = 10
"""Items in an answer when ``n`` is not given."""
DEFAULT_MIN_RATINGS = 5
"""Fewest training ratings of a listed item, as ``recsys recommend`` and ``similar``."""

_FIELDS = ("ratings", "n", "min_ratings", "rank_by")


@dataclass(frozen=True)
class NewUser:
    """A checked ``POST /recommend`` body."""

    ratings: dict[str, float]
    n: int
    min_ratings: int
    rank_by: str | None


class _Duplicate(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def count_field(name: str, value: Any, low: int, high: int) -> int:
    """An integer field within ``low..high`` (a JSON ``10``; not ``10.5``, ``"10"`` or
    ``true``)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RequestError(UNPROCESSABLE, f"{name} must be an integer from {low} to {high}, got "
                           f"{json.dumps(value)[:40]}", name)
    return value


def parse_new_user(raw: bytes) -> NewUser:
    """Check a ``POST /recommend`` body: ``{"ratings": {"<item id or title>": rating, ...},
    "n": 10, "min_ratings": 5, "rank_by": "relevance"}`` (all but ``ratings`` optional).

    Raises
    ------
    RequestError
        400 for a body that is not UTF-8 JSON, 422 for a missing, unknown or malformed field
        (naming it: ``ratings.<key>`` for one rating).
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError(BAD_REQUEST, "the body is not UTF-8 text: send JSON", "body") from None
    if not text.strip():
        raise RequestError(BAD_REQUEST, 'the body is empty: send JSON like {"ratings": '
                           '{"Toy Story (1995)": 5}}', "body")
    try:
        body = json.loads(text, object_pairs_hook=_pairs, parse_constant=_no_constant)
    except _Duplicate as exc:
        raise RequestError(UNPROCESSABLE, f"the key {exc.key!r} is given twice in the body",
                           exc.key if exc.key in _FIELDS else f"ratings.{exc.key}") from None
    except (ValueError, RecursionError) as exc:
        where = f" ({exc.msg} at line {exc.lineno}, column {exc.colno})" \
            if isinstance(exc, json.JSONDecodeError) else ""
        raise RequestError(BAD_REQUEST, f"the body is not valid JSON{where}", "body") from None
    if not isinstance(body, dict):
        raise RequestError(UNPROCESSABLE, 'the body must be a JSON object like {"ratings": '
                           '{"Toy Story (1995)": 5}, "n": 10}', "body")
    for key in body:
        if key not in _FIELDS:
            raise RequestError(UNPROCESSABLE, f"unknown field {key!r}: the body takes "
                               f"{', '.join(_FIELDS)}", key)
    if "ratings" not in body:
        raise RequestError(UNPROCESSABLE, 'ratings is missing: give the new user\'s ratings as '
                           '{"<item id or title>": rating, ...}', "ratings")
    ratings = body["ratings"]
    if not isinstance(ratings, dict):
        raise RequestError(UNPROCESSABLE, 'ratings must be an object {"<item id or title>": '
                           'rating, ...}', "ratings")
    if not ratings:
        raise RequestError(UNPROCESSABLE, "ratings is empty: give at least one rating",
                           "ratings")
    if len(ratings) > MAX_RATINGS:
        raise RequestError(UNPROCESSABLE, f"too many ratings ({len(ratings)}): at most "
                           f"{MAX_RATINGS}", "ratings")
    checked: dict[str, float] = {}
    for key, value in ratings.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            raise RequestError(UNPROCESSABLE, f"the rating of {key!r} must be a number, got "
                               f"{json.dumps(value)[:40]}", f"ratings.{key}")
        checked[key] = float(value)
    n = count_field("n", body.get("n", DEFAULT_N), 1, MAX_N)
    min_ratings = count_field("min_ratings", body.get("min_ratings", DEFAULT_MIN_RATINGS),
                              1, 1_000_000_000)
    rank_by = body.get("rank_by")
    if rank_by is not None and rank_by not in RANK_BY:
        raise RequestError(UNPROCESSABLE, f"rank_by must be one of {', '.join(RANK_BY)}, got "
                           f"{json.dumps(rank_by)[:40]}", "rank_by")
    return NewUser(checked, n, min_ratings, rank_by)
