"""The README's blend ablation: the hybrid on ML-100k ``u1`` with all its base models, then with
each base removed in turn, each fitted as ``recsys fit`` fits it.

Every configuration runs :func:`recsys.models.selection.fit_with_validation` on ``u1.base``
(the epochs of the network and of every base chosen on a seeded 10 % carve of ``u1.base``, then
a refit on all of it), and only then is ``u1.test`` scored, once per configuration; nothing
is chosen on the test ratings (the validation RMSE of the carve is printed beside it: that is
the figure to choose a configuration by). Each line also gives the refit's wall time by stage (out-of-fold
base fits, final base fits, network) and the size of its model file. The single base models,
fitted the same way, are listed first for reference.

Run by hand (about 3-4 minutes per hybrid on 2 shared cores)::

    python bench/blend_ablation.py                    # all bases, then each one removed
    python bench/blend_ablation.py --singles-only     # the base models alone
    python bench/blend_ablation.py --configs all      # the full blend only
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _ml100k import ML100K, load_split  # noqa: E402

from recsys.metrics import rmse  # noqa: E402
from recsys.models._blend_bases import DEFAULT_BASES  # noqa: E402
from recsys.models.hybrid import HybridRecommender  # noqa: E402
from recsys.models.registry import make_model  # noqa: E402
from recsys.models.selection import fit_with_validation  # noqa: E402


def configurations(all_bases: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    configs = {"all": all_bases}
    for name in all_bases:
        if name != "mf":  # MF is the blend's fallback: always in
            configs[f"without {name}"] = tuple(b for b in all_bases if b != name)
    return configs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bases", default=",".join(DEFAULT_BASES),
                        help="the full blend's bases (default: the hybrid's default set)")
    parser.add_argument("--configs", default=None,
                        help="comma-separated configuration names (all, 'without NAME')")
    parser.add_argument("--singles-only", action="store_true")
    parser.add_argument("--no-singles", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-side", action="store_true",
                        help="the network without side information (genres, year, users)")
    parser.add_argument("--side", action="store_true",
                        help="the network with side information (default: the model's)")
    args = parser.parse_args()
    if not ML100K.is_dir():
        sys.exit(f"ML-100k not found at {ML100K}")
    train, test = load_split("u1")
    bases = tuple(args.bases.split(","))

    if not args.no_singles:
        print("| base model alone | u1 test RMSE | fit s |")
        print("| --- | ---: | ---: |")
        for name in bases:
            if name == "autorec":
                continue  # no registry name: it is measured inside the blend only
            start = time.perf_counter()
            model = fit_with_validation(make_model(name, random_state=args.seed)
                                        if name != "knn" else make_model(name), train)
            seconds = time.perf_counter() - start
            print(f"| {name} | {rmse(test.ratings, model.predict_ratings(test)):.4f} | "
                  f"{seconds:.1f} |", flush=True)
        print()
    if args.singles_only:
        return

    configs = configurations(bases)
    if args.configs:
        wanted = [c.strip() for c in args.configs.split(",")]
        configs = {k: v for k, v in configs.items() if k in wanted}
    print("| blend | bases | validation RMSE | u1 test RMSE | choose + refit s | refit stages s "
          "(oof / final bases / network) | file MB |")
    print("| --- | --- | ---: | ---: | ---: | --- | ---: |")
    for label, chosen in configs.items():
        start = time.perf_counter()
        side = {"use_side": False} if args.no_side else {"use_side": True} if args.side else {}
        model = fit_with_validation(
            HybridRecommender(bases=chosen, random_state=args.seed, **side), train)
        seconds = time.perf_counter() - start
        score = rmse(test.ratings, model.predict_ratings(test))
        stages = " / ".join(f"{model.stage_seconds_[k]:.0f}"
                            for k in ("out_of_fold", "final_bases", "network"))
        with tempfile.TemporaryDirectory() as folder:
            size = model.save(Path(folder) / "blend.npz").stat().st_size / 1e6
        print(f"| {label} | {', '.join(chosen)} | {model.selection_['valid_rmse']:.4f} | "
              f"{score:.4f} | {seconds:.0f} | {stages} | {size:.1f} |", flush=True)


if __name__ == "__main__":
    main()
