r"""The checks of ratings read by Spark: one aggregation over every row, and the first problem
as one :class:`~recsys.errors.DataError` line worded as the local loader words it (a count
and an example row instead of a line number). See :mod:`recsys.engines.spark.frames`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recsys.engines.spark.frame_sources import FrameFormat
from recsys.errors import DataError

__all__ = ["source_frame", "check_frame"]

_FLOAT32_MAX = float(np.finfo(np.float32).max)
_INTEGER = r"^\s*[+-]?\d{1,19}\s*$"


def source_frame(session: Any, fmt: FrameFormat) -> tuple[Any, Any, Any, Any, bool]:
    """The raw DataFrame and its user, item, rating (double) and rating-text columns."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    roles = fmt.roles
    if fmt.kind == "parquet":
        frame = session.read.parquet(fmt.path)
        user, item = F.col(f"`{roles['user']}`"), F.col(f"`{roles['item']}`")
        rating = F.col(f"`{roles['rating']}`").try_cast("double")
        return frame, user, item, rating, None
    schema = StructType([StructField(name, StringType()) for name in fmt.names])
    frame = session.read.csv(fmt.path, schema=schema, sep=fmt.sep, header=fmt.header,
                             encoding=fmt.encoding, mode="PERMISSIVE", nullValue="",
                             ignoreLeadingWhiteSpace=False, ignoreTrailingWhiteSpace=False)
    user, item = (F.trim(F.col(f"`{roles[r]}`")) for r in ("user", "item"))
    user, item = (F.when(c == "", None).otherwise(c) for c in (user, item))
    text = F.trim(F.col(f"`{roles['rating']}`"))
    return frame, user, item, text.try_cast("double"), text


def _example(condition: Any, user: Any, item: Any) -> Any:
    from pyspark.sql import functions as F

    return F.first(F.when(condition, F.concat_ws(", item ", F.concat(F.lit("user "), user),
                                                 item)), ignorenulls=True)


def check_frame(session: Any, fmt: FrameFormat, frame: Any, user: Any, item: Any, rating: Any,
           text: Any) -> tuple[int, float, float, dict[str, bool]]:
    """One Spark job over every rating; the first problem as a one-line DataError, in the
    local loader's order. Returns the number of rows, the scale and whether each id column
    is all integers."""
    from pyspark.sql import functions as F

    source = fmt.path
    r32 = rating.try_cast("float")
    missing = rating.isNull() | F.isnan(rating)
    huge = ~missing & (F.abs(rating) > _FLOAT32_MAX)
    checks = {
        "n": F.count(F.lit(1)),
        "no_user": F.sum(user.isNull().cast("long")),
        "no_user_at": _example(user.isNull(), F.lit("?"), item),
        "no_item": F.sum(item.isNull().cast("long")),
        "no_item_at": _example(item.isNull(), user, F.lit("?")),
        "missing": F.sum(missing.cast("long")),
        "missing_at": _example(missing, user, item),
        "huge": F.sum(huge.cast("long")),
        "huge_at": _example(huge, user, item),
        "low": F.min(F.when(~missing & ~huge, r32)),
        "high": F.max(F.when(~missing & ~huge, r32)),
    }
    if text is not None:
        word = F.lower(text)
        not_number = text.isNotNull() & rating.isNull() & ~word.isin("", "nan")
        checks["not_number"] = F.sum(not_number.cast("long"))
        checks["not_number_text"] = F.first(F.when(not_number, text), ignorenulls=True)
        checks["not_number_at"] = _example(not_number, user, item)
        for role, column in (("user", user), ("item", item)):
            whole = column.rlike(_INTEGER) & column.try_cast("long").isNotNull()
            checks[f"text_{role}"] = F.sum((column.isNotNull() & ~whole).cast("long"))
    if fmt.rating_scale is not None:
        low, high = (F.lit(float(x)).cast("float") for x in fmt.rating_scale)
        outside = ~missing & ~huge & ((r32 < low) | (r32 > high))
        checks["outside"] = F.sum(outside.cast("long"))
        checks["outside_value"] = F.first(F.when(outside, r32), ignorenulls=True)
        checks["outside_at"] = _example(outside, user, item)
    found = frame.agg(*[value.alias(key) for key, value in checks.items()]).first().asDict()
    if not found["n"]:
        raise DataError(f"{source}: no ratings found (the data is empty)")

    def fail(key: str, text: str) -> None:
        count = int(found.get(key) or 0)
        if count:
            raise DataError(f"{source}: {text.format(**found)} ({count:,} such row"
                            f"{'s' if count > 1 else ''}, e.g. {found[key + '_at']}); fix or "
                            "delete those lines")

    fail("no_user", "missing user id")
    fail("no_item", "missing item id")
    if text is not None:
        fail("not_number", "rating {not_number_text!r:.42} is not a number")
    fail("missing", "rating is missing (NaN)")
    fail("huge", "rating is infinite or too large")
    if fmt.rating_scale is not None:
        low, high = (float(x) for x in fmt.rating_scale)
        if not low <= high:
            raise DataError(f"invalid rating scale [{low:g}, {high:g}]")
        if found["outside"]:
            raise DataError(
                f"{source}: rating {found['outside_value']:g} is outside the rating scale "
                f"[{low:g}, {high:g}] ({int(found['outside']):,} such ratings, e.g. "
                f"{found['outside_at']}); fix those lines or give the true scale "
                "(rating_scale=(low, high), or --scale LOW,HIGH on the command line)")
    else:
        low, high = float(found["low"]), float(found["high"])
    if fmt.kind == "parquet":
        int_ids = dict(fmt.int_ids)
    else:
        int_ids = {role: not found[f"text_{role}"] for role in ("user", "item")}
    return int(found["n"]), low, high, int_ids
