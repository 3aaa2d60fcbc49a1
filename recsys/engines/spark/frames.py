r"""Ratings read by Spark itself: a Parquet file or folder, or a delimited (CSV) file, as a
Spark DataFrame whose ratings never reach the driver (the layout is found by
:mod:`~recsys.engines.spark.frame_sources`, the rows checked by
:mod:`~recsys.engines.spark.frame_checks`).

:func:`frame_format` decides, from the path and the head of the file only, whether Spark can
read the data with the column conventions of recsys's own readers (None: the driver-side
loader reads it):

* **Parquet** (a file or a folder of parts, :func:`recsys.data.parquet.is_parquet`): columns
  found by name as :func:`recsys.data.sniff.guess_columns` finds them (``user, item,
  rating[, timestamp]`` as :func:`~recsys.data.parquet.write_parquet` writes them,
  ``userId, movieId, rating`` ...), integer or text ids, a numeric rating. The rating scale
  and the items' titles, years and genres kept in the footer by ``write_parquet`` are read
  with pyarrow on the driver (the footer only).
* **Delimited text** (MovieLens' ``userId,movieId,rating,timestamp`` with a header, a
  headerless ``u1.base``, TSV, ``|``, ``;``, ``::``): the layout sniffed from the first line
  as the local reader sniffs it (:func:`recsys.data.sniff.sniff_format`, honouring ``--sep``
  and ``--header``); blank-separated files and files with leading blank lines go to the
  driver.

:func:`read_frame` then works in Spark: one aggregation checks every rating (a missing id, a
rating that is not a number, NaN, infinite, outside the declared scale: one
:class:`~recsys.errors.DataError` line, worded as the local loader words it, with the count
and an example row instead of a line number), duplicate (user, item) pairs keep their last
occurrence in file order (a :class:`~recsys.data.ratings.DuplicateRatingsWarning`, as
locally), the distinct ids and their counts are collected (``O(users + items)``) and sorted
as :meth:`Ratings.from_dataframe <recsys.data.ratings.Ratings.from_dataframe>` sorts them
(integers numerically; text ids, and ids of a text file that are not all integer literals, as
text), so the id maps are the local loader's, and every rating is encoded to those indices in
Spark (a sorted-array lookup on the broadcast ids). The timestamp column is not read (matrix
factorisation does not use it), so unlike the local loader a bad timestamp is not reported.

:meth:`FrameRatings.carve` draws a validation part in Spark (see its docstring for how it
differs from :func:`recsys.data.splits.validation_split`).
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass, replace
from typing import Any, Iterator

import numpy as np
import pandas as pd

from recsys.data.ratings import DuplicateRatingsWarning
from recsys.engines.spark.frame_checks import check_frame, source_frame
from recsys.engines.spark.frame_sources import INFO_KEYS, FrameFormat, stored_info
from recsys.errors import DataError

__all__ = ["FrameRatings", "read_frame", "map_in_arrow"]


@dataclass
class FrameRatings:
    """Encoded ratings in a Spark DataFrame, and what the driver knows of them.

    The counterpart of :class:`~recsys.data.ratings.Ratings` for a Spark fit: the id maps,
    the per-user and per-item counts and the sum of the ratings are on the driver; the
    ratings are in ``frame`` (columns ``u``, ``i``: int indices into the id maps, ``r``:
    float rating, ``o``: the row's place in the file, ``v``: whether it is in the
    validation carve). :meth:`carve` cuts parts that share the id maps, as
    :meth:`Ratings.subset` does.
    """

    frame: Any
    user_ids: np.ndarray
    item_ids: np.ndarray
    user_counts: np.ndarray
    item_counts: np.ndarray
    n_ratings: int
    rating_sum: float
    rating_sumsq: float
    rating_scale: tuple[float, float]
    name: str
    part: str = "all"
    item_info: pd.DataFrame | None = None
    user_info: pd.DataFrame | None = None

    def __len__(self) -> int:
        return int(self.n_ratings)

    @property
    def n_users(self) -> int:
        return int(len(self.user_ids))

    @property
    def n_items(self) -> int:
        return int(len(self.item_ids))

    @property
    def global_mean(self) -> float:
        """Mean rating of this part."""
        return self.rating_sum / self.n_ratings if self.n_ratings else 0.0

    @property
    def rating_std(self) -> float:
        """Standard deviation of this part's ratings (``ddof=0``)."""
        if not self.n_ratings:
            return 0.0
        return math.sqrt(max(self.rating_sumsq / self.n_ratings - self.global_mean ** 2, 0.0))

    def rows(self) -> Any:
        """This part's ratings as a DataFrame (``u, i, r, o``)."""
        frame = self.frame
        if self.part == "train":
            frame = frame.filter(~frame.v)
        elif self.part == "valid":
            frame = frame.filter(frame.v)
        return frame.select("u", "i", "r", "o")

    def unpersist(self) -> None:
        """Drop the cached ratings from Spark's memory (this object, and the parts carved
        from it, cannot be fitted afterwards)."""
        self.frame.unpersist()

    def same_maps(self, other: "FrameRatings") -> bool:
        return other.user_ids is self.user_ids and other.item_ids is self.item_ids

    def carve(self, valid_size: float, seed: int | None) -> tuple["FrameRatings", "FrameRatings"]:
        """A training and a validation part (``valid_size``: a fraction in ``(0, 1)``).

        Rating ``(u, i)`` is drawn into validation when a hash of ``(seed, u, i)`` (Spark's
        ``xxhash64`` of the seed and the two indices, its low 53 bits as a number in
        ``[0, 1)``) is below ``valid_size``: deterministic for a seed and the data, whatever
        Spark's partitioning. Then, as the local
        :func:`~recsys.data.splits.validation_split` does with ``stratify``, no user or item
        is left without training ratings: every validation rating of a user or item that has
        none goes back to training.

        It cannot be the local carve's draw (``rng.permutation`` over the ratings in file
        order, which needs them all on one machine): the size is ``valid_size`` of the ratings
        in expectation rather than exactly (rounded up), and where the local carve moves one
        rating of an orphaned user or item back, this moves all of them. A model fitted on a
        Spark carve therefore differs from the local engine's by the choice of held-out
        ratings. Both parts share one cached copy of the ratings with the carve's flag
        (:meth:`unpersist` either to drop it).
        """
        if not 0.0 < float(valid_size) < 1.0:
            raise DataError(f"valid_size must be a fraction between 0 and 1, got {valid_size}")
        if self.part != "all":
            raise DataError("carve the whole ratings, not a part of them")
        from pyspark.sql import functions as F

        context = self.frame.sparkSession.sparkContext
        flagged = self.frame.drop("v").withColumn(
            "v", _draw(F.col("u"), F.col("i"), int(seed or 0)) < float(valid_size))
        flagged.persist()
        orphan_users = _counts(flagged.filter(~flagged.v), "u", self.n_users)[0] == 0
        orphan_items = _counts(flagged.filter(~flagged.v), "i", self.n_items)[0] == 0
        if orphan_users.any() or orphan_items.any():
            users, items = context.broadcast(orphan_users), context.broadcast(orphan_items)
            back = map_in_arrow(flagged, functools.partial(_keep_known, users=users,
                                                           items=items), flagged.schema)
            back.persist()
            back.count()
            flagged.unpersist()
            flagged = back
        valid_users, valid_sums, valid_squares = _counts(flagged.filter(flagged.v), "u",
                                                         self.n_users)
        valid_items = _counts(flagged.filter(flagged.v), "i", self.n_items)[0]
        valid_sum, valid_sumsq = float(valid_sums.sum()), float(valid_squares.sum())
        n_valid = int(valid_users.sum())
        if n_valid == 0 or n_valid == self.n_ratings:
            raise DataError(f"a validation part of {valid_size} leaves no training or no "
                            f"validation ratings out of {self.n_ratings}: change it")
        train = replace(self, frame=flagged, part="train",
                        user_counts=self.user_counts - valid_users,
                        item_counts=self.item_counts - valid_items,
                        n_ratings=self.n_ratings - n_valid,
                        rating_sum=self.rating_sum - valid_sum,
                        rating_sumsq=self.rating_sumsq - valid_sumsq)
        valid = replace(self, frame=flagged, part="valid", user_counts=valid_users,
                        item_counts=valid_items, n_ratings=n_valid, rating_sum=valid_sum,
                        rating_sumsq=valid_sumsq)
        return train, valid


def map_in_arrow(frame: Any, function: Any, schema: Any) -> Any:
    """``frame.mapInArrow(function, schema)`` without pyspark's warning about the pandas
    version (the function uses pyarrow and numpy only)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*pandas.*", category=FutureWarning)
        return frame.mapInArrow(function, schema)


def _draw(u: Any, i: Any, seed: int) -> Any:
    """A uniform number in [0, 1) per (seed, u, i), as a Spark expression (xxhash64)."""
    from pyspark.sql import functions as F

    bits = F.xxhash64(F.lit(seed), u, i).bitwiseAND(F.lit((1 << 53) - 1))
    return bits.cast("double") / float(1 << 53)


def _keep_known(batches: Iterator[Any], users: Any, items: Any) -> Iterator[Any]:
    """Arrow batches with ``v`` cleared where the user or the item is an orphan."""
    import pyarrow as pa

    orphan_u, orphan_i = users.value, items.value
    for batch in batches:
        u = batch.column("u").to_numpy()
        i = batch.column("i").to_numpy()
        v = batch.column("v").to_numpy(zero_copy_only=False)
        v = v & ~orphan_u[u] & ~orphan_i[i]
        columns = [batch.column(name) for name in batch.schema.names]
        columns[batch.schema.get_field_index("v")] = pa.array(v)
        yield pa.RecordBatch.from_arrays(columns, schema=batch.schema)


def _sums(frame: Any, column: str) -> Any:
    """Per value of ``column``: the ratings' count ``n``, sum ``s`` and sum of squares ``q``
    (float64), as an Arrow table on the driver."""
    from pyspark.sql import functions as F

    r = F.col("r").cast("double")
    return (frame.groupBy(column)
            .agg(F.count(F.lit(1)).alias("n"), F.sum(r).alias("s"), F.sum(r * r).alias("q"))
            .toArrow())


def _counts(frame: Any, column: str, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ratings per index of ``column``, their sums and sums of squares (O(size))."""
    table = _sums(frame, column)
    keys = table.column(column).to_numpy()
    out = []
    for name, kind in (("n", np.int64), ("s", np.float64), ("q", np.float64)):
        values = np.zeros(size, dtype=kind)
        values[keys] = table.column(name).to_numpy()
        out.append(values)
    return out[0], out[1], out[2]


def _sorted_ids(table: Any, column: str, integers: bool) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ids in the local loader's order (``pd.factorize(sort=True)``) and their
    counts."""
    ids = table.column(column).to_numpy(zero_copy_only=False)
    counts = table.column("n").to_numpy()
    if integers:
        ids = ids.astype(np.int64)
    else:
        ids = np.asarray(ids, dtype=object)
    order = np.argsort(ids, kind="stable")
    return ids[order], counts[order].astype(np.int64)


def _encode(batches: Iterator[Any], users: Any, items: Any) -> Iterator[Any]:
    """Arrow batches of raw ``user, item, r, o`` as int32 indices into the sorted id maps."""
    import pyarrow as pa

    user_ids, item_ids = users.value, items.value
    for batch in batches:
        out = []
        for name, ids in (("user", user_ids), ("item", item_ids)):
            raw = batch.column(name).to_numpy(zero_copy_only=False)
            if ids.dtype.kind != "i":
                raw = np.asarray(raw, dtype=ids.dtype)
            out.append(pa.array(np.searchsorted(ids, raw).astype(np.int32)))
        yield pa.RecordBatch.from_arrays(
            out + [batch.column("r"), batch.column("o"),
                   pa.array(np.zeros(batch.num_rows, dtype=bool))],
            names=["u", "i", "r", "o", "v"])


def read_frame(session: Any, fmt: FrameFormat) -> FrameRatings:
    """Read, check and encode the ratings of ``fmt`` in Spark (see the module docstring).

    The driver receives the distinct ids with their counts and one row of checks; the
    encoded ratings stay in Spark, cached.

    Raises
    ------
    DataError
        The first problem found, in one line.
    """
    from pyspark.sql import functions as F

    frame, user, item, rating, text = source_frame(session, fmt)
    n_all, low, high, int_ids = check_frame(session, fmt, frame, user, item, rating, text)
    _shuffle_partitions(session, n_all)
    id_type = {role: ("long" if int_ids[role] else "string") for role in ("user", "item")}
    raw = frame.select(user.try_cast(id_type["user"]).alias("user"),
                       item.try_cast(id_type["item"]).alias("item"),
                       rating.cast("float").alias("r"),
                       F.monotonically_increasing_id().alias("o"))
    # a repeated (user, item) pair keeps its last rating in file order, as locally
    unique = raw.groupBy("user", "item").agg(F.max_by("r", "o").alias("r"),
                                             F.max("o").alias("o"))
    unique.persist()
    try:
        sides = {}
        for role in ("user", "item"):
            table = _sums(unique, role)
            ids, counts = _sorted_ids(table, role, int_ids[role])
            sides[role] = (ids, counts, float(np.sum(table.column("s").to_numpy())),
                           float(np.sum(table.column("q").to_numpy())))
        n_unique = int(sides["user"][1].sum())
        if n_unique < n_all:
            warnings.warn(f"{fmt.path}: {n_all - n_unique} duplicate (user, item) rating(s); "
                          "kept the last occurrence of each pair", DuplicateRatingsWarning,
                          stacklevel=2)
        context = session.sparkContext
        maps = {role: context.broadcast(_lookup_array(sides[role][0])) for role in sides}
        encoded = map_in_arrow(
            unique, functools.partial(_encode, users=maps["user"], items=maps["item"]),
            "u int, i int, r float, o long, v boolean")
        encoded.persist()
        encoded.count()
    finally:
        unique.unpersist()
    user_ids, user_counts, rating_sum, rating_sumsq = sides["user"]
    item_ids, item_counts = sides["item"][:2]
    data = FrameRatings(encoded, user_ids, item_ids, user_counts, item_counts, n_unique,
                        rating_sum, rating_sumsq, (low, high), fmt.name)
    if fmt.kind == "parquet":
        data.item_info = stored_info(fmt.metadata, INFO_KEYS["item_info"], item_ids)
        data.user_info = stored_info(fmt.metadata, INFO_KEYS["user_info"], user_ids)
    return data


ROWS_PER_SHUFFLE_PARTITION = 2_000_000


def _shuffle_partitions(session: Any, n_rows: int) -> None:
    """Spark SQL's shuffles (the duplicates and the counts) in one partition per
    :data:`ROWS_PER_SHUFFLE_PARTITION` ratings, at least one per core, unless the session's
    ``spark.sql.shuffle.partitions`` was set (Spark's default of 200 partitions costs a
    minute of task overhead on a small file)."""
    context = session.sparkContext
    if context.getConf().contains("spark.sql.shuffle.partitions"):
        return
    wanted = max(int(context.defaultParallelism), -(-n_rows // ROWS_PER_SHUFFLE_PARTITION))
    session.conf.set("spark.sql.shuffle.partitions", str(wanted))


def _lookup_array(ids: np.ndarray) -> np.ndarray:
    """The sorted ids as the workers search them: int64, or fixed-width text (code-point
    order, the order ``sorted`` gives Python strings)."""
    if ids.dtype.kind == "i":
        return ids
    return np.asarray(ids, dtype=str) if len(ids) else np.zeros(0, dtype="U1")
