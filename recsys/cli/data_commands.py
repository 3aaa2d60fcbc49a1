"""``recsys data list | download | info | convert``."""

from __future__ import annotations

import json
from typing import Any

import click

from recsys.cli._data_options import file_format_options, load_data


@click.group()
def data() -> None:
    """MovieLens data sets: list, download, describe."""


@data.command("list")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Cache folder (default: $RECSYS_DATA or the user cache folder).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def list_command(cache_dir: str | None, fmt: str) -> None:
    """List the known data sets: size, licence, and whether each is cached."""
    from recsys.data.loading import list_datasets

    rows = list_datasets(cache_dir)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'name':<16} {'size':>8}  {'where':<9} {'ratings':>12}  licence")
    for row in rows:
        where = "bundled" if row["bundled"] else ("cached" if row["cached"] else "-")
        if row["bundled"] and row["cached"]:
            where = "both"
        ratings = f"{row['ratings']:,}" if row["ratings"] else "?"
        click.echo(
            f"{row['name']:<16} {row['size_mb']:>6.0f}MB  {where:<9} {ratings:>12}  "
            f"{row['licence']}"
        )


@data.command("download")
@click.argument("name")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Cache folder (default: $RECSYS_DATA or the user cache folder).")
@click.option("--force", is_flag=True, help="Download again even if cached.")
@click.option("--url", "base_url", default=None, metavar="URL",
              help="Download from this base address instead of GroupLens.")
def download_command(name: str, cache_dir: str | None, force: bool, base_url: str | None) -> None:
    """Download a MovieLens release into the cache and verify it."""
    from recsys.data.download import download

    path = download(name, cache_dir=cache_dir, base_url=base_url, force=force)
    click.echo(f"{name}: verified and cached at {path}")


def _format_info(info: dict[str, Any]) -> str:
    low, high = info["rating_scale"]
    lines = [
        f"data set     {info['name']}",
        f"ratings      {info['n_ratings']:,}",
        f"users        {info['n_users']:,}",
        f"items        {info['n_items']:,}",
        f"scale        {low:g} to {high:g} (mean {info['mean_rating']:.3f})",
        f"sparsity     {info['sparsity']:.2%} of the user x item matrix is empty",
    ]
    per_user, per_item = info["ratings_per_user"], info["ratings_per_item"]
    lines.append(
        f"per user     min {per_user['min']}, median {per_user['median']:g}, max {per_user['max']}"
    )
    lines.append(
        f"per item     min {per_item['min']}, median {per_item['median']:g}, max {per_item['max']}"
    )
    if info.get("date_range"):
        lines.append(f"dates        {info['date_range'][0]} to {info['date_range'][1]}")
    lines.append("")
    lines.append("rating histogram")
    peak = max(info["histogram"].values()) or 1
    for value, count in info["histogram"].items():
        label = f"{value:g}" if isinstance(value, float) else str(value)
        bar = "#" * max(1, round(40 * count / peak)) if count else ""
        lines.append(f"  {label:>9}  {count:>10,}  {bar}")
    if info["top_items"]:
        lines.append("")
        lines.append("most rated")
        for rank, row in enumerate(info["top_items"], 1):
            lines.append(
                f"  {rank:>2}. {row['title'][:56]:<56} {row['count']:>7,} ratings, "
                f"mean {row['mean']:.2f}"
            )
    return "\n".join(lines)


@data.command("info")
@click.argument("source", required=False, metavar="[NAME|PATH]")
@click.option("--top", type=click.IntRange(0, 1000), default=10, show_default=True,
              help="How many of the most rated items to list.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@file_format_options
def info_command(source: str | None, top: int, fmt: str, file_format: dict[str, Any]) -> None:
    """Describe a data set: counts, rating scale and histogram, sparsity, top movies.

    With no argument: the bundled ml-latest-small.
    """
    from recsys.data.loading import describe

    info = describe(load_data(source, file_format), top=top)
    if fmt == "json":
        click.echo(json.dumps(info, indent=2, default=str))
    else:
        click.echo(_format_info(info))


@data.command("convert")
@click.argument("source", metavar="IN")
@click.argument("target", metavar="OUT.parquet", type=click.Path(dir_okay=False))
@file_format_options
def convert_command(source: str, target: str, file_format: dict[str, Any]) -> None:
    """Write any ratings recsys reads (a file, a release, a Netflix Prize folder, a name) to a
    Parquet file with columns user, item, rating[, timestamp], which reloads in seconds.

    The file is replaced atomically. Item titles, years and genres (and user information)
    travel in the file's metadata, so `recommend` and `similar` still show titles.

    \b
      recsys data convert ratings.csv ratings.parquet
      recsys data convert ~/data/netflix-prize-data netflix.parquet
    """
    from pathlib import Path

    from recsys.data.parquet import PARQUET_SUFFIXES, write_parquet
    from recsys.errors import DataError

    out = Path(target)
    if out.suffix.lower() not in PARQUET_SUFFIXES:
        raise DataError(f"{target}: the output must be named *.parquet (it is written as "
                        f"Parquet); e.g. {out.with_suffix('.parquet').name}")
    if Path(source).exists() and out.exists() and out.resolve() == Path(source).resolve():
        raise DataError(f"{target}: is the input itself; write to another file")
    ratings = load_data(source, file_format)
    write_parquet(ratings, out)
    click.echo(f"{out}: {len(ratings):,} ratings ({ratings.n_users:,} users, "
               f"{ratings.n_items:,} items) written as Parquet")


COMMANDS = [data]
