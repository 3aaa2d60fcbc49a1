"""``recsys evaluate``: fit models on a split, score the test side once, write a report."""

from __future__ import annotations

import sys
from typing import Any

import click

from recsys.cli._data_options import file_format_given, file_format_options, load_data
from recsys.cli.interrupts import Interrupted, ctrl_c_watch
from recsys.evaluation.experiment import evaluate as run_evaluation
from recsys.evaluation.folds import SPLITS
from recsys.evaluation.nested import DEFAULT_HYBRID_TRIALS, DEFAULT_TRIALS

DEFAULT_REPORT_DIR = "reports"  # ignored by git (.gitignore)


def _parse_models(ctx: click.Context, param: click.Parameter, value: str) -> list[str]:
    """Split ``baseline,mf``; unknown names are reported by the runner as one line."""
    names = [part.strip() for part in value.split(",") if part.strip()]
    if not names:
        raise click.BadParameter("give at least one model, e.g. baseline,mf")
    return names


class _Progress:
    """A tqdm bar over the (model, fold) fits, fed by
    :func:`recsys.evaluation.experiment.evaluate`."""

    def __init__(self) -> None:
        self.bar = None

    def __call__(self, done: int, total: int, label: str) -> None:
        from tqdm.auto import tqdm

        if self.bar is None:
            self.bar = tqdm(total=total, unit="fit", file=sys.stderr, disable=None,
                            dynamic_ncols=True, leave=False)
        self.bar.n = done
        self.bar.set_description(label)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@click.command()
@click.option("--data", "data", default=None, metavar="NAME|PATH",
              help="Data set name (e.g. ml-100k), release folder/zip or ratings file. "
                   "Default: the bundled ml-latest-small.")
@click.option("--split", type=click.Choice(SPLITS), default="holdout", show_default=True,
              help="How to cut train/test: random holdout, 5-fold, per-user holdout, by time, "
                   "an official ML-100k fold (u1..u5, ua, ub, all-folds = u1..u5), or probe "
                   "(a Netflix Prize folder's probe.txt).")
@click.option("--models", default="baseline,mf,hybrid", show_default=True,
              callback=_parse_models, metavar="LIST",
              help="Comma-separated models: mean, baseline, mf, hybrid, popularity, bpr, ... (the "
                   "global mean and the bias baseline are always included as references).")
@click.option("--seed", type=click.IntRange(0, None), default=0, show_default=True,
              help="Seed of the split and of every model.")
@click.option("--threshold", type=float, default=4.0, show_default=True,
              help="A test rating at least this high counts as relevant for top-N figures.")
@click.option("-k", "--top", "k", type=click.IntRange(1, 1000), default=10, show_default=True,
              help="Length of the top-N lists.")
@click.option("--validation", type=click.FloatRange(0, 0.9, max_open=True), default=0.1,
              show_default=True,
              help="Share of each training side carved off to choose the epochs (then refit on "
                   "the whole side) and to compare the trials of --tune (0 = none).")
@click.option("--tune", "tune", is_flag=True,
              help="Tune baseline, mf and hybrid inside each fold's training side (recsys "
                   "tune, seeded), then score the refitted best on the test side once.")
@click.option("--trials", type=click.IntRange(1, None), default=None,
              help=f"Trials per model and fold with --tune [default: {DEFAULT_TRIALS}].")
@click.option("--hybrid-trials", type=click.IntRange(1, None), default=None,
              help="Trials of the hybrid's network per fold with --tune (each a whole hybrid "
                   f"fit; its base MF settings come from the fold's MF search) "
                   f"[default: {DEFAULT_HYBRID_TRIALS}].")
@click.option("--rank-by", type=click.Choice(["both", "rating", "relevance"]), default="both",
              show_default=True,
              help="Rank the top-N lists by predicted rating, by relevance (the chance the "
                   "user rates the item times a preference for its predicted rating), or both "
                   "(main columns by each model's default, plus a table of both).")
@click.option("--topn-users", type=click.IntRange(1, None), default=1000, show_default=True,
              help="Top-N figures over at most this many test users (a seeded sample).")
@click.option("-o", "--output", "output", type=click.Path(file_okay=False, writable=True),
              default=DEFAULT_REPORT_DIR, show_default=True,
              help="Report folder (report.json, report.md, PNG plots).")
@file_format_options
def evaluate(data: str | None, split: str, models: list[str], seed: int, threshold: float,
             k: int, validation: float, tune: bool, trials: int | None,
             hybrid_trials: int | None, rank_by: str, topn_users: int, output: str,
             file_format: dict[str, Any]) -> None:
    """Compare models: RMSE, MAE, improvement over the global mean and the bias baseline,
    precision/recall/NDCG@k and coverage. Test ratings are scored once, after fitting.

    \b
    Examples:
      recsys evaluate                                  # bundled data, random 80/20 holdout
      recsys evaluate --data ml-100k --split all-folds -o report-ml100k
      recsys evaluate --models baseline,mf --split kfold
      recsys evaluate --data ml-100k --split all-folds --tune --trials 30
      recsys evaluate --models popularity,mf,bpr --rank-by both
    """
    if not tune and (trials is not None or hybrid_trials is not None):
        raise click.UsageError("--trials and --hybrid-trials set the budget of --tune: add "
                               "--tune, or leave them out")
    if tune and validation <= 0:
        raise click.UsageError("--tune compares its trials on a validation part of each "
                               "training side: give --validation > 0 (e.g. 0.1)")
    if file_format_given(file_format):
        data = load_data(data, file_format)
    progress = _Progress()
    with ctrl_c_watch() as pressed:
        try:
            report = run_evaluation(data=data, split=split, models=models, seed=seed,
                                    threshold=threshold, k=k, progress=progress,
                                    validation=validation, topn_users=topn_users,
                                    should_stop=pressed.is_set,
                                    tune=(trials or DEFAULT_TRIALS) if tune else False,
                                    hybrid_trials=hybrid_trials or DEFAULT_HYBRID_TRIALS,
                                    rank_by=rank_by)
        except KeyboardInterrupt:
            raise Interrupted("interrupted during the evaluation; no report was "
                              "written") from None
        finally:
            progress.close()
    click.echo(report.to_markdown(), nl=False)
    written = report.save(output)
    click.echo(f"wrote {', '.join(str(p) for p in written.values())}")


COMMANDS: list[Any] = [evaluate]
