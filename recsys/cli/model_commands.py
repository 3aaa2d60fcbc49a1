"""``recsys fit``, ``predict``, ``recommend`` and ``similar``."""

from __future__ import annotations

import itertools
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd

from recsys._atomic import atomic_write
from recsys.cli._data_options import file_format_options, load_data
from recsys.cli.interrupts import ctrl_c_watch, fit_failures, save_unless_interrupted
from recsys.errors import RecsysError, UnknownIdError
from recsys.models.registry import MODELS

DEFAULT_MODEL_FILE = "model.npz"

# CLI option -> constructor parameter, first name the model takes (the hybrid's factor model
# settings are called mf_*)
_OPTION_PARAMS = {
    "factors": ("n_factors", "mf_factors"),
    "epochs": ("n_epochs",),
    "lr": ("lr",),
    "reg": ("reg", "mf_reg"),
    "seed": ("random_state",),
    "threads": ("n_threads",),
    "hidden": ("hidden",),
    "bases": ("bases",),
    "nets": ("n_nets",),
}


def _model_params(model_name: str, options: dict[str, Any]) -> dict[str, Any]:
    """Constructor parameters for the options given (None = not given)."""
    from recsys.models.registry import model_class

    accepted = set(model_class(model_name).param_names())
    params = {}
    for option, value in options.items():
        if value is None:
            continue
        names = _OPTION_PARAMS[option]
        name = next((n for n in names if n in accepted), None)
        if name is None:
            if option == "seed":
                continue  # --seed has a default; models without randomness ignore it
            raise RecsysError(f"option --{option} does not apply to --model {model_name}")
        params[name] = value
    return params


def _model_for_fit(model_name: str | None, params_file: str | None,
                   options: dict[str, Any]) -> tuple[str, Any]:
    """The model ``fit`` trains: from the options alone, or from a settings file with the
    options given on the command line overriding it (every setting checked before the data is
    read)."""
    from recsys.models.registry import make_model

    if params_file is None:
        name = model_name or "mf"
        return name, make_model(name, **_model_params(name, options))
    from recsys.tuning.params_file import build_model, read_params

    saved = read_params(params_file)
    if saved.model is not None and model_name is not None and saved.model != model_name:
        raise RecsysError(f"{params_file} holds settings of --model {saved.model}, not "
                          f"{model_name}: drop --model, or give a settings file of {model_name}")
    name = model_name or saved.model or "mf"
    given = dict(options)
    seed_source = click.get_current_context().get_parameter_source("seed")
    if "random_state" in saved.params and seed_source is click.core.ParameterSource.DEFAULT:
        given["seed"] = None  # the file's seed, unless --seed is given
    settings = {**saved.params, **_model_params(name, given)}
    return name, build_model(name, settings, source=str(params_file))


def _parse_hidden(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    try:
        sizes = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter("expected layer sizes like 32,16") from None
    if not sizes or min(sizes) < 1:
        raise click.BadParameter("expected positive layer sizes like 32,16")
    return sizes


def _parse_bases(ctx: click.Context, param: click.Parameter, value: str | None):
    if value is None:
        return None
    names = tuple(part.strip() for part in value.split(",") if part.strip())
    if not names:
        raise click.BadParameter("expected base model names like mf,svdpp,knn")
    return names


def _epoch_progress(total: int | None, label: str):
    """A tqdm bar advanced by the model's per-epoch callback; shows train/valid RMSE."""
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=label, unit="epoch", file=sys.stderr, leave=True,
               disable=None, dynamic_ncols=True)

    def callback(epoch: int, history: dict) -> None:
        shown = {}
        for key, short in (("train_rmse", "train"), ("valid_rmse", "valid")):
            values = history.get(key) or []
            if values:
                shown[short] = f"{values[-1]:.4f}"
        bar.set_postfix(shown, refresh=False)
        bar.update(1)

    return bar, callback


@click.command()
@click.option("--data", "data", default=None, metavar="NAME|PATH",
              help="Data set name (see `recsys data list`), release folder/zip or ratings file. "
                   "Default: the bundled ml-latest-small.")
@click.option("--model", "model_name", default=None,
              type=click.Choice(list(MODELS)),
              help="Model to fit (default: the --params file's model, else mf).")
@click.option("--params", "params_file", type=click.Path(dir_okay=False), default=None,
              metavar="FILE", help="Settings file written by `recsys tune` (JSON); options "
                                   "given here override its settings.")
@click.option("--factors", type=click.IntRange(1, 10_000), help="Number of latent factors.")
@click.option("--epochs", type=click.IntRange(1, 100_000), help="Training epochs.")
@click.option("--lr", type=click.FloatRange(0, 10, min_open=True), help="SGD learning rate.")
@click.option("--reg", type=click.FloatRange(0, None), help="L2 regularisation.")
@click.option("--seed", type=click.IntRange(0, None), default=0, show_default=True,
              help="Random seed.")
@click.option("--threads", type=click.IntRange(1, 256), help="Threads for parallel SGD.")
@click.option("--hidden", callback=_parse_hidden, metavar="32,16",
              help="Hidden layer sizes of the hybrid's tanh network.")
@click.option("--bases", callback=_parse_bases, metavar="mf,svdpp,...",
              help="Base models the hybrid blends (mf always; autorec, svdpp, knn, timebias). "
                   "Default: every base the data allows.")
@click.option("--nets", type=click.IntRange(1, 64), metavar="N",
              help="Blending networks the hybrid trains with different seeds and averages "
                   "(default 4).")
@click.option("--validation", type=click.FloatRange(0, 0.9), default=0.1, show_default=True,
              help="Fraction of the training ratings held out for validation / early stopping "
                   "(0: none; every epoch is run).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              default=DEFAULT_MODEL_FILE, show_default=True, help="Model file to write.")
@click.option("--engine", type=click.Choice(["local", "spark"]), default="local",
              show_default=True,
              help="Where MF trains: this process, or Spark (distributed stratified SGD; "
                   "needs pip install \"recsys[spark]\" and Java 17 or 21).")
@click.option("--master", default="local[*]", show_default=True, metavar="URL",
              help="Spark master for --engine spark: local[*], local[N] (bound to "
                   "127.0.0.1) or spark://HOST:PORT.")
@click.option("--reader", type=click.Choice(["auto", "spark", "driver"]), default="auto",
              show_default=True,
              help="Who reads the ratings for --engine spark: Spark itself (Parquet files or "
                   "folders, CSV/delimited files; the ratings never reach the driver), the "
                   "driver (any data recsys reads), or auto (Spark when it can).")
@file_format_options
def fit(data: str | None, model_name: str | None, params_file: str | None, validation: float,
        output: str, engine: str, master: str, reader: str, file_format: dict[str, Any],
        **options: Any) -> None:
    """Fit a model on a ratings data set and save it to one file.

    \b
    Examples:
      recsys fit                                   # MF on the bundled data -> model.npz
      recsys fit --data ml-100k --factors 100 --epochs 60 -o ml100k.npz
      recsys fit --model hybrid --hidden 32,16
      recsys fit --model hybrid --bases mf,svdpp,knn
      recsys fit --params best.json --validation 0   # settings found by `recsys tune`
      recsys fit --engine spark --master local[*]    # MF by DSGD on Spark, same model file
      recsys fit --engine spark --data ratings.parquet   # read by Spark, not the driver
    """
    from recsys.data.splits import validation_split
    from recsys.metrics import rmse
    from recsys.models.selection import choose_epochs, refit

    model_name, model = _model_for_fit(model_name, params_file, options)
    spark = None
    if engine == "spark":  # checked before the data is read; started in the watch below
        from recsys.engines.spark.cli import engine_for_fit, fit_frame, frame_for_fit

        spark = engine_for_fit(model_name, master)
        frame = frame_for_fit(data, file_format, reader)
        if frame is not None:  # Spark reads the ratings: they never reach the driver
            fit_frame(spark, model, model_name, frame, validation, options["seed"], output,
                      _epoch_bar)
            return
    ratings = load_data(data, file_format)
    label = f"{model_name} on {ratings.name}"
    if validation > 0:
        train, valid = validation_split(ratings, valid_size=validation,
                                        random_state=options["seed"])
        click.echo(f"fitting {type(model).__name__} on {ratings.name}: epochs chosen on "
                   f"{len(valid):,} held-out ratings, then refitted on all "
                   f"{len(ratings):,}", err=True)
    else:
        train, valid = ratings, None
        click.echo(f"fitting {type(model).__name__} on {ratings.name} ({len(ratings):,} "
                   "ratings; no validation part)", err=True)
    if model_name == "hybrid":
        click.echo("the hybrid first fits its base models out of fold; the bar then follows "
                   "the network's epochs", err=True)
    start = time.perf_counter()
    selection = None
    with ctrl_c_watch() as pressed, (spark or nullcontext()):
        if spark is not None:
            click.echo(f"training on Spark {master} by DSGD ({spark.n_blocks} x "
                       f"{spark.n_blocks} blocks)", err=True)
            model = spark.wrap(model)
        # a first Ctrl-C stops the fit at the end of the epoch that is running
        with fit_failures(pressed, output):
            if valid is not None:
                bar, show_epoch = _epoch_bar(model, f"{label}, choosing epochs")
                try:
                    selection = choose_epochs(model, train, valid, callback=show_epoch,
                                              should_stop=pressed.is_set)
                finally:
                    bar.close()
                bar, show_epoch = _epoch_bar(model, f"{label}, refit on all",
                                             selection.settings)
                try:
                    model = refit(model, ratings, selection, callback=show_epoch,
                                  should_stop=pressed.is_set)
                finally:
                    bar.close()
            else:
                bar, show_epoch = _epoch_bar(model, label)
                try:
                    model.fit(ratings, callback=show_epoch, should_stop=pressed.is_set)
                finally:
                    bar.close()
            if pressed.is_set():
                raise KeyboardInterrupt
            if spark is not None:
                model = model.as_local()
        seconds = time.perf_counter() - start
        scores = f"train RMSE {rmse(ratings.ratings, model.predict_ratings(ratings)):.4f}"
        if selection is not None:
            chosen = ", ".join(f"{k}={v}" for k, v in selection.settings.items()
                               if v is not None)
            scores = (f"validation RMSE {selection.valid_rmse:.4f} (bias baseline "
                      f"{selection.baseline_rmse:.4f})"
                      + (f", chose {chosen}" if chosen else "") + f"; {scores} after the refit")
        path = save_unless_interrupted(lambda: model.save(output), pressed, output)
    click.echo(
        f"fitted {type(model).__name__} on {ratings.name} ({len(ratings):,} ratings, "
        f"{ratings.n_users:,} users, {ratings.n_items:,} items) in {seconds:.1f} s: "
        f"{scores}; wrote {path}"
    )
    from recsys.models.popularity import RatingPart

    ranking_model = isinstance(model, RatingPart)  # BPR, popularity: their ratings are biases
    if selection is not None and not selection.beats_baseline and model_name != "baseline" \
            and not ranking_model:
        click.echo(
            f"Warning: on the validation part {type(model).__name__} (RMSE "
            f"{selection.valid_rmse:.4f}) is no better than the bias baseline "
            f"({selection.baseline_rmse:.4f}); try `recsys tune --model {model_name}` or "
            "--model baseline", err=True)


def _epoch_bar(model: Any, label: str, settings: dict[str, Any] | None = None):
    """A progress bar over the epochs the model (with ``settings``) will run at most."""
    total = (settings or {}).get("n_epochs", getattr(model, "n_epochs", None))
    return _epoch_progress(total if isinstance(total, int) else None, label)


def _load_model(path: str):
    from recsys.models.io import load_model

    return load_model(path)


def _unknown(model: Any, kind: str, raw: str, model_path: str, hint: str) -> UnknownIdError:
    """The one-line error for a user or item id the model learned nothing about."""
    ids = model.user_ids_ if kind == "user" else model.item_ids_
    examples = ", ".join(str(x) for x in ids[:3])
    return UnknownIdError(
        f"unknown {kind} {raw!r}: not among the {len(ids):,} {kind}s {model_path} was trained "
        f"on (ids like {examples}); {hint}"
    )


def _echo_frame(frame: pd.DataFrame, fmt: str, float_cols: tuple[str, ...]) -> None:
    if fmt == "json":
        click.echo(frame.to_json(orient="records", force_ascii=False))
    elif frame.empty and fmt == "table":
        return
    elif fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
    else:
        shown = frame.copy()
        for col in float_cols:
            if col in shown:
                shown[col] = shown[col].map(lambda v: f"{v:.3f}")
        shown["year"] = shown["year"].astype("string").fillna("")
        shown["title"] = shown["title"].map(lambda t: t if len(t) <= 50 else t[:49] + "…")
        shown["genres"] = shown["genres"].map(lambda g: g if len(g) <= 40 else g[:39] + "…")
        shown.index = range(1, len(shown) + 1)
        with pd.option_context("display.max_colwidth", 48, "display.width", 200):
            click.echo(shown.to_string())


_FORMAT = click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]),
                       default="table", show_default=True, help="Output format.")
_MODEL = click.option("-m", "--model", "model_path", default=DEFAULT_MODEL_FILE,
                      show_default=True, type=click.Path(dir_okay=False),
                      help="Model file written by `recsys fit`.")


@click.command()
@_MODEL
@click.option("--user", help="Raw user id.")
@click.option("--item", help="Raw item id.")
@click.option("--pairs", type=click.Path(exists=True, dir_okay=False),
              help="File of user,item pairs (any format the loader reads; a rating column is "
                   "ignored).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="CSV to write (--pairs).")
@click.option("--fallback", is_flag=True,
              help="For an unknown --user or --item, predict from the biases / global mean "
                   "instead of stopping with an error.")
@click.option("--chunk-size", type=click.IntRange(1000, None), default=200_000, hidden=True)
def predict(model_path: str, user: str | None, item: str | None, pairs: str | None,
            output: str | None, fallback: bool, chunk_size: int) -> None:
    """Predict ratings: one pair (--user, --item) or a file of pairs (--pairs).

    An unknown user or item in the one pair is an error unless --fallback is given. Batch
    output has columns user,item,prediction in input order; there, unknown users or items
    always fall back to the biases / global mean and are counted on stderr.
    """
    if pairs is None and (user is None or item is None):
        raise click.UsageError("give --user and --item, or --pairs FILE")
    if pairs is not None and (user is not None or item is not None):
        raise click.UsageError("give either --user/--item or --pairs, not both")
    model = _load_model(model_path)
    if pairs is None:
        u, i = model.encode([user], [item])
        unknown = [(kind, raw) for kind, raw, idx in (("user", user, u[0]), ("item", item, i[0]))
                   if idx < 0]
        if unknown and not fallback:
            kind, raw = unknown[0]
            raise _unknown(model, kind, raw, model_path,
                           "pass --fallback to predict from the biases / global mean")
        value = model.predict([user], [item])
        note = ""
        if unknown:
            names = " and ".join(kind for kind, _ in unknown)
            note = f"  (unknown {names}: fell back to biases / global mean)"
        click.echo(f"{value[0]:.4f}{note}")
        return
    from recsys.data.pairs import iter_pairs

    target = Path(output) if output else None
    n_rows = n_fallback = n_scored = 0
    squared_error = 0.0
    chunks = iter_pairs(pairs, chunk_size=chunk_size, with_ratings=True, with_times=True)
    first = next(chunks)  # the file's checks run here, before anything is written
    with (atomic_write(target, "w", encoding="utf-8", newline="") if target is not None
          else nullcontext(click.get_text_stream("stdout"))) as handle:
        handle.write("user,item,prediction\n")
        for users, items, ratings, times in itertools.chain([first], chunks):
            # time-aware models predict at each pair's time when the file has them
            values, fallback = model.predict(users, items, times, return_fallback=True)
            chunk = pd.DataFrame({"user": users, "item": items, "prediction": values})
            chunk.to_csv(handle, header=False, index=False, float_format="%.4f")
            n_rows += len(chunk)
            n_fallback += int(fallback.sum())
            if ratings is not None:  # a held-out file: score the predictions against it
                known = np.isfinite(ratings)
                squared_error += float(np.sum((values[known] - ratings[known]) ** 2))
                n_scored += int(known.sum())
    where = f" to {target}" if target else ""
    click.echo(f"predicted {n_rows:,} pairs{where}; {n_fallback:,} fell back to biases / "
               f"global mean (unknown user or item)", err=True)
    if n_scored:
        click.echo(f"RMSE against the file's ratings: {np.sqrt(squared_error / n_scored):.4f} "
                   f"({n_scored:,} rated pairs)", err=True)


@click.command()
@_MODEL
@click.option("--user", help="Raw user id.")
@click.option("--rate", "rates", multiple=True, metavar="ITEM=RATING",
              help="A new user's rating of an item (id or title), folded into the model "
                   "instead of --user; repeat it: --rate \"Toy Story=5\" --rate 2571=4.5")
@click.option("--ratings", "ratings_file", type=click.Path(exists=True, dir_okay=False),
              help="A new user's ratings from a file (item,rating lines, or one user's "
                   "user,item,rating lines), folded in instead of --user.")
@click.option("-n", "--n", "n", type=click.IntRange(1, 100_000), default=10, show_default=True,
              help="Number of recommendations.")
@click.option("--include-seen", is_flag=True, help="Also list items the user already rated.")
@click.option("--min-ratings", type=click.IntRange(1, None), default=5, show_default=True,
              help="Only recommend items with at least this many training ratings.")
@click.option("--cold-start", is_flag=True,
              help="For an unknown user, list the best items by the biases (non-personal) "
                   "instead of stopping with an error.")
@click.option("--rank-by", type=click.Choice(["rating", "relevance"]), default=None,
              help="Rank by predicted rating, or by relevance: the chance the user rates the "
                   "item times a preference for its predicted rating [default: the model's; "
                   "relevance for rating models].")
@_FORMAT
def recommend(model_path: str, user: str | None, rates: tuple[str, ...],
              ratings_file: str | None, n: int, include_seen: bool, min_ratings: int,
              cold_start: bool, rank_by: str | None, fmt: str) -> None:
    """Top-N movies for a user (--user), or for a new user from their ratings (--rate or
    --ratings: folded into the model, no refit), ranked by --rank-by.

    Ranking by relevance (the default for rating models) lists films the user is likely to
    watch and like; ranking by the predicted rating alone favours films rated once or twice
    (on ML-100k u1, NDCG@10 0.43 against 0.15 for MF; bench/bench_topn.py)."""
    given = [name for name, v in (("--user", user), ("--rate", rates),
                                  ("--ratings", ratings_file)) if v]
    if len(given) != 1:
        raise click.UsageError("give one of --user, --rate (repeatable) or --ratings"
                               + (f", not {' and '.join(given)}" if given else ""))
    model = _load_model(model_path)
    if user is None:
        _recommend_new_user(model, rates, ratings_file, n, include_seen, min_ratings,
                            rank_by, fmt)
        return
    try:
        frame = model.recommend(user, n=n, exclude_seen=not include_seen,
                                min_item_ratings=min_ratings, cold_start=cold_start,
                                rank_by=rank_by)
    except UnknownIdError:  # the library's hint names cold_start=True; say the option
        raise _unknown(model, "user", user, model_path,
                       "pass --cold-start for the best items by the biases (non-personal), "
                       "or the user's ratings with --rate ITEM=RATING"
                       ) from None
    if frame.empty:
        click.echo(f"Note: nothing to recommend to user {user!r}: no unseen item has at least "
                   f"{min_ratings} training rating(s); lower --min-ratings or pass "
                   "--include-seen", err=True)
    if frame.attrs.get("fallback"):
        click.echo(f"Note: unknown user {user!r}: showing the best items by the biases "
                   "(non-personal).", err=True)
    _echo_frame(frame, fmt, _SCORES)


_SCORES = ("prediction", "relevance")
"""The score columns a recommendation list may carry (shown with three decimals)."""


def _recommend_new_user(model: Any, rates: tuple[str, ...], ratings_file: str | None, n: int,
                        include_seen: bool, min_ratings: int, rank_by: str | None,
                        fmt: str) -> None:
    """``recommend --rate/--ratings``: fold the ratings in, list the best unseen items."""
    from recsys.models.foldin import parse_rate, read_user_ratings

    if rates:
        ratings: dict[Any, float] = {}
        for text in rates:
            item, value = parse_rate(text)
            if item in ratings:
                raise RecsysError(f"--rate: item {item!r} is given twice")
            ratings[item] = value
    else:
        ratings = read_user_ratings(ratings_file)
    profile = model.fold_in(ratings, unknown="error" if rates else "ignore")
    if profile.skipped:
        shown = ", ".join(str(k) for k in profile.skipped[:5])
        click.echo(f"Note: left out {len(profile.skipped)} rating(s) of items this model was "
                   f"not trained on ({shown}{', ...' if len(profile.skipped) > 5 else ''})",
                   err=True)
    click.echo(f"Folded in {profile.n_ratings} rating(s) as a new user.", err=True)
    frame = model.recommend(profile=profile, n=n, exclude_seen=not include_seen,
                            min_item_ratings=min_ratings, rank_by=rank_by)
    if frame.empty:
        click.echo(f"Note: nothing to recommend: no unrated item has at least {min_ratings} "
                   "training rating(s); lower --min-ratings or pass --include-seen", err=True)
    _echo_frame(frame, fmt, _SCORES)


@click.command()
@_MODEL
@click.option("--item", required=True, help="Raw item id or (part of) a title.")
@click.option("-n", "--n", "n", type=click.IntRange(1, 100_000), default=10, show_default=True,
              help="Number of similar items.")
@click.option("--min-ratings", type=click.IntRange(1, None), default=5, show_default=True,
              help="Only list items with at least this many training ratings.")
@_FORMAT
def similar(model_path: str, item: str, n: int, min_ratings: int, fmt: str) -> None:
    """Movies whose factor vectors are nearest (cosine) to a movie's (the neighbourhood
    model: its learned similarities)."""
    model = _load_model(model_path)
    frame = model.similar_items(item, n=n, min_item_ratings=min_ratings)
    if fmt == "table":
        click.echo(f"Nearest to: {frame.attrs.get('query', item)}")
    _echo_frame(frame, fmt, ("similarity",))


COMMANDS = [fit, predict, recommend, similar]
