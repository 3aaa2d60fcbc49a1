"""Numba kernels of the Netflix Prize reader: one pass over a file's bytes, no Python per line.

:func:`parse_netflix` reads the ``MovieID:`` / ``CustomerID,Rating,Date`` layout of
``training_set/mv_*.txt``, ``combined_data_*.txt`` (and, with ``pairs_only``, the
``MovieID:`` / ``CustomerID`` layout of ``probe.txt``) straight from the bytes into preallocated
arrays. It stops at the first malformed line and returns an error code with that line's
number and byte offset, so that the caller can word one message naming the file and line.
The other kernels find duplicate (user, item) pairs and test ratings against the probe
pairs.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "OK", "ERR_BEFORE_MOVIE", "ERR_FORMAT", "ERR_DATE", "ERR_RATING", "ERR_HEADER", "ERR_ID",
    "ERR_FULL", "parse_netflix", "mark_duplicates", "in_pairs",
]

OK, ERR_BEFORE_MOVIE, ERR_FORMAT, ERR_DATE, ERR_RATING, ERR_HEADER, ERR_ID, ERR_FULL = range(8)

_INT32_MAX = 2**31 - 1


@njit(cache=True, nogil=True, inline="always")
def _digits(buf, start, stop):
    """Value of the decimal digits from ``start`` (capped beyond int32) and where they end."""
    value = 0
    k = start
    while k < stop and 48 <= buf[k] <= 57:
        if value <= _INT32_MAX:
            value = value * 10 + (buf[k] - 48)
        k += 1
    return value, k


@njit(cache=True, nogil=True, inline="always")
def _days_from_civil(y, m, d):
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    if m <= 2:
        y -= 1
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    mp = m - 3 if m > 2 else m + 9
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


@njit(cache=True, nogil=True, inline="always")
def _month_days(y, m):
    if m == 2:
        leap = (y % 4 == 0 and y % 100 != 0) or y % 400 == 0
        return 29 if leap else 28
    if m == 4 or m == 6 or m == 9 or m == 11:
        return 30
    return 31


@njit(cache=True, nogil=True, inline="always")
def _line_end(buf, k, n):
    """Position after the line end when only blanks (or ``\\r``) remain from ``k``, else -1."""
    while k < n and (buf[k] == 13 or buf[k] == 32 or buf[k] == 9):
        k += 1
    if k == n:
        return n
    if buf[k] == 10:
        return k + 1
    return -1


@njit(cache=True, nogil=True)
def _bad(buf, pos, n, code):
    """``code``, or ``ERR_HEADER`` when the line at ``pos`` ends in a colon (a header that is
    not digits then a colon)."""
    end = pos
    while end < n and buf[end] != 10:
        end += 1
    while end > pos and (buf[end - 1] == 13 or buf[end - 1] == 32 or buf[end - 1] == 9):
        end -= 1
    if end > pos and buf[end - 1] == 58:
        return ERR_HEADER
    return code


@njit(cache=True, nogil=True)
def parse_netflix(buf, users, items, stars, seconds, out, low, high, pairs_only):
    """Parse one file's bytes, appending from position ``out`` of the output arrays (raw
    customer and movie ids, stars, and seconds since 1970 at midnight UTC of the date).

    One pass: each field is read as its digits are met. Returns ``(n_out, error, line,
    offset)``: the new fill level, an error code (``OK``), and the 1-based line and its byte
    offset where the first error sits. Blank lines are skipped; ``\\r\\n`` line ends and
    blanks at the end of a line are accepted.
    """
    n = buf.shape[0]
    pos = 0
    line = 0
    movie = -1
    capacity = users.shape[0]
    while pos < n:
        line += 1
        nxt = _line_end(buf, pos, n)
        if nxt >= 0:  # a blank line
            pos = nxt
            continue
        first, k = _digits(buf, pos, n)
        if k > pos and k < n and buf[k] == 58:  # "MovieID:"
            nxt = _line_end(buf, k + 1, n)
            if nxt < 0:
                return out, ERR_HEADER, line, pos
            if first > _INT32_MAX:
                return out, ERR_ID, line, pos
            movie = first
            pos = nxt
            continue
        if movie < 0:
            return out, _bad(buf, pos, n, ERR_BEFORE_MOVIE), line, pos
        if k == pos:
            return out, _bad(buf, pos, n, ERR_FORMAT), line, pos
        if first > _INT32_MAX:
            return out, ERR_ID, line, pos
        if out >= capacity:
            return out, ERR_FULL, line, pos
        if pairs_only:
            nxt = _line_end(buf, k, n)
            if nxt < 0:
                return out, _bad(buf, pos, n, ERR_FORMAT), line, pos
            users[out] = first
            items[out] = movie
            out += 1
            pos = nxt
            continue
        if k >= n or buf[k] != 44:
            return out, _bad(buf, pos, n, ERR_FORMAT), line, pos
        rating, j = _digits(buf, k + 1, n)
        if j == k + 1 or j >= n or buf[j] != 44:
            return out, _bad(buf, pos, n, ERR_FORMAT), line, pos
        j += 1
        if j + 10 > n or buf[j + 4] != 45 or buf[j + 7] != 45:
            return out, ERR_DATE, line, pos
        year, a = _digits(buf, j, j + 4)
        month, b = _digits(buf, j + 5, j + 7)
        day, c = _digits(buf, j + 8, j + 10)
        nxt = _line_end(buf, j + 10, n)
        if a != j + 4 or b != j + 7 or c != j + 10 or month < 1 or month > 12 or nxt < 0:
            return out, ERR_DATE, line, pos
        if day < 1 or day > _month_days(year, month):
            return out, ERR_DATE, line, pos
        if rating < low or rating > high:
            return out, ERR_RATING, line, pos
        users[out] = first
        items[out] = movie
        stars[out] = rating
        seconds[out] = _days_from_civil(year, month, day) * 86400
        out += 1
        pos = nxt
    return out, OK, line, pos


@njit(cache=True, nogil=True)
def mark_duplicates(users, items, n_users, keep):
    """Mark in ``keep`` the last occurrence of each (user, item) pair, when each item's
    ratings are contiguous (a movie's block); returns the number of duplicates dropped, or
    -1 when an item's ratings are not contiguous (the caller then uses a general method)."""
    n = users.shape[0]
    if n == 0:
        return 0
    runs = 1
    for k in range(1, n):
        if items[k] != items[k - 1]:
            runs += 1
    distinct = np.zeros(np.max(items) + 1, dtype=np.bool_)
    count = 0
    for k in range(n):
        if not distinct[items[k]]:
            distinct[items[k]] = True
            count += 1
    if runs != count:  # a movie in two blocks: the stamps below could miss a pair
        return -1
    seen = np.full(n_users, -1, dtype=np.int64)
    dropped = 0
    for k in range(n - 1, -1, -1):
        if seen[users[k]] == items[k]:
            keep[k] = False
            dropped += 1
        else:
            keep[k] = True
            seen[users[k]] = items[k]
    return dropped


@njit(cache=True, nogil=True)
def in_pairs(users, items, starts, sorted_users, found):
    """``True`` for rating ``k`` when ``users[k]`` is among ``sorted_users[starts[i]:
    starts[i + 1]]`` for its item ``i = items[k]`` (a binary search per rating); ``found``
    counts, per pair, how often it was matched."""
    hit = np.zeros(users.shape[0], dtype=np.bool_)
    for k in range(users.shape[0]):
        i = items[k]
        lo = starts[i]
        hi = starts[i + 1]
        u = users[k]
        while lo < hi:
            mid = (lo + hi) >> 1
            if sorted_users[mid] < u:
                lo = mid + 1
            else:
                hi = mid
        if lo < starts[i + 1] and sorted_users[lo] == u:
            hit[k] = True
            found[lo] += 1
    return hit
