"""Query parameters read by hand: one clear error naming the parameter, and their OpenAPI text.

The routes read their parameters here rather than through FastAPI's declared ``Query``
parameters: the errors come out in the server's one shape (``{"error", "field"}``) with the
allowed range spelled out, and a request skips pydantic's validation machinery (a third of
the server's time per ``GET /recommend``). :func:`spec` gives the OpenAPI description of each
parameter, so ``/docs`` lists them all the same.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from recsys.models.topn import RANK_BY
from recsys.serve.body import DEFAULT_MIN_RATINGS, DEFAULT_N, MAX_N
from recsys.serve.errors import UNPROCESSABLE, RequestError

__all__ = ["text", "count", "flag", "choice", "spec", "recommend_params", "MAX_MIN_RATINGS"]

MAX_MIN_RATINGS = 1_000_000_000
"""Largest ``min_ratings``."""

_INTEGER = re.compile(r"[+-]?[0-9]{1,15}")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
MAX_TEXT = 200
"""Longest text parameter (a user id, an item id or title, a search)."""


def _one(params: Any, name: str) -> str | None:
    values = params.getlist(name)
    if len(values) > 1:
        raise RequestError(UNPROCESSABLE, f"{name} is given {len(values)} times: give it once",
                           name)
    return values[0] if values else None


def text(params: Any, name: str, required: bool = True, default: str = "") -> str:
    """A text parameter (at most :data:`MAX_TEXT` characters); missing -> 422 if
    ``required``, else ``default``."""
    value = _one(params, name)
    if value is None:
        if required:
            raise RequestError(UNPROCESSABLE, f"{name} is missing", name)
        return default
    if len(value) > MAX_TEXT:
        raise RequestError(UNPROCESSABLE, f"{name} is {len(value):,} characters long: at most "
                           f"{MAX_TEXT}", name)
    if required and not value.strip():
        raise RequestError(UNPROCESSABLE, f"{name} is empty", name)
    return value


def count(params: Any, name: str, default: int, low: int, high: int) -> int:
    """An integer parameter within ``low..high`` (decimal digits only)."""
    value = _one(params, name)
    if value is None:
        return default
    if not _INTEGER.fullmatch(value.strip()) or not low <= int(value) <= high:
        raise RequestError(UNPROCESSABLE, f"{name} must be an integer from {low} to {high}, got "
                           f"{value[:40]!r}", name)
    return int(value)


def flag(params: Any, name: str, default: bool = False) -> bool:
    """A boolean parameter: true/false, 1/0, yes/no, on/off."""
    value = _one(params, name)
    if value is None:
        return default
    if value.strip().lower() in _TRUE:
        return True
    if value.strip().lower() in _FALSE:
        return False
    raise RequestError(UNPROCESSABLE, f"{name} must be true or false, got {value[:40]!r}", name)


def choice(params: Any, name: str, allowed: tuple[str, ...]) -> str | None:
    """One of ``allowed`` (None when not given)."""
    value = _one(params, name)
    if value is None:
        return None
    if value not in allowed:
        raise RequestError(UNPROCESSABLE, f"{name} must be one of {', '.join(allowed)}, got "
                           f"{value[:40]!r}", name)
    return value


def recommend_params(params: Any) -> tuple[str, int, int, bool, str | None]:
    """``GET /recommend``'s parameters: user, n, min_ratings, include_seen, rank_by."""
    return (text(params, "user"), count(params, "n", DEFAULT_N, 1, MAX_N),
            count(params, "min_ratings", DEFAULT_MIN_RATINGS, 1, MAX_MIN_RATINGS),
            flag(params, "include_seen"), choice(params, "rank_by", RANK_BY))


def spec(name: str, kind: str, description: str, required: bool = False,
         default: Any = None, low: int | None = None, high: int | None = None,
         allowed: tuple[str, ...] | None = None) -> Mapping[str, Any]:
    """The OpenAPI description of one query parameter (``kind``: string, integer or
    boolean)."""
    schema: dict[str, Any] = {"type": kind}
    if default is not None:
        schema["default"] = default
    if low is not None:
        schema["minimum"] = low
    if high is not None:
        schema["maximum"] = high
    if allowed is not None:
        schema["enum"] = list(allowed)
    elif kind == "string":
        schema["maxLength"] = MAX_TEXT
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": schema}
