"""The default search space of each model, set around the model's own defaults.

Rates and weights vary log-uniformly over a band around the constructor's default (read from
the class, so the band follows the defaults when they are re-chosen), sizes log-uniformly over
fixed integer ranges. The trials of a model that stops early (``patience``) get a generous
epoch cap and early stopping; the refit then runs the chosen number of epochs.

=============  ===============================================================================
``mf``         ``n_factors`` one of 16, 32, 64, 128, 256, ``lr`` default/4-x4, ``reg`` default/10-x4, ``reg_bias``
               default/10-x10, ``init_std`` default/10-x3; epochs by early stopping (patience 10,
               as `recsys fit` chooses them: a shorter one stops slow starters)
``baseline``   ``reg_user``, ``reg_item`` default/10-x10 (10 closed-form sweeps)
``svdpp``      ``n_factors`` one of 16-128, ``lr`` default/3-x2, ``reg`` default/4-x3,
               ``reg_implicit`` default/5-x5 (the most sensitive), ``reg_bias`` default/10-x4,
               ``init_std`` default/3-x3; epochs by early stopping (patience 10)
``knn``        ``k`` 10-100 (log), ``shrinkage`` default/8-x4, ``reg_user`` default/10-x5,
               ``reg_item`` default/10-x10; no epochs (a trial is one fit)
``knnglobal``  ``k`` 30-300 (log), ``shrinkage`` default/8-x4, ``lr`` default/3-x3, ``reg``
               and ``reg_bias`` default/10-x10; epochs by early stopping (patience 10)
``timesvdpp``  ``n_factors`` one of 16-128, ``lr``, ``reg``, ``reg_implicit``, ``init_std``
               around the defaults, the bias steps of ``b_u``, ``b_i``, ``b_{u,t}`` and
               ``reg_item``, ``min_day_ratings`` 1, 2, 3 or 5; epochs by early stopping
``timebias``   the step sizes of ``b_u``, ``b_i``, ``b_{u,t}`` (default/3-x3) and of the item
               bins (default/3-x10), the regularisations of ``b_u``, ``b_i``, ``b_{u,t}``
               (default/3-x30), ``min_day_ratings`` 1, 2, 3 or 5; epochs by early stopping
``hybrid``     ``hidden`` (16), (16, 8), (32, 16); ``lr`` default/4-x4, ``weight_decay``
               1e-6-1e-3, ``mf_factors`` 16-128 (powers of 2), ``mf_reg`` and ``ar_reg`` around the
               defaults; the network's epochs by early stopping (patience 2), the bases' epochs
               too (``base_patience``, as ``recsys fit`` chooses them)
=============  ===============================================================================
"""

from __future__ import annotations

from typing import Any

from recsys.errors import ParameterError
from recsys.models.base import SELECTION_PATIENCE
from recsys.models.base import SELECTION_EPOCHS_FACTOR
from recsys.tuning.space import Choice, IntLogUniform, LogUniform, SearchSpace

__all__ = ["default_space", "TUNABLE_MODELS"]

TUNABLE_MODELS = ("mf", "baseline", "timebias", "svdpp", "timesvdpp", "knn", "knnglobal",
                  "hybrid")

FACTOR_COUNTS = (16, 32, 64, 128, 256)
"""The factor counts tried: a few, because matrix factorisation's SGD kernel is compiled for
each factor count (about 1.5 s the first time, then cached on disk); 50 distinct counts would
spend more time compiling than learning."""


def _defaults(model: str) -> dict[str, Any]:
    from recsys.models.registry import model_class

    return model_class(model)().get_params()


def _around(default: float, below: float, above: float) -> LogUniform:
    return LogUniform(default / below, default * above)


def _mf_space() -> SearchSpace:
    d = _defaults("mf")
    return SearchSpace(
        {
            "n_factors": Choice(FACTOR_COUNTS),
            "lr": _around(d["lr"], 4, 4),
            "reg": _around(d["reg"], 10, 4),
            "reg_bias": _around(d["reg_bias"], 10, 10),
            "init_std": _around(d["init_std"], 10, 3),
        },
        fixed={"n_epochs": max(2 * int(d["n_epochs"]), 100), "patience": SELECTION_PATIENCE},
    )


def _baseline_space() -> SearchSpace:
    d = _defaults("baseline")
    return SearchSpace({"reg_user": _around(d["reg_user"], 10, 10),
                        "reg_item": _around(d["reg_item"], 10, 10)})


def _svdpp_space() -> SearchSpace:
    d = _defaults("svdpp")
    return SearchSpace(
        {
            "n_factors": Choice(FACTOR_COUNTS[:-1]),
            "lr": _around(d["lr"], 3, 2),
            "reg": _around(d["reg"], 4, 3),
            "reg_implicit": _around(d["reg_implicit"], 5, 5),
            "reg_bias": _around(d["reg_bias"], 10, 4),
            "init_std": _around(d["init_std"], 3, 3),
        },
        fixed={"n_epochs": max(2 * int(d["n_epochs"]), 100), "patience": SELECTION_PATIENCE},
    )


def _timesvdpp_space() -> SearchSpace:
    d = _defaults("timesvdpp")
    return SearchSpace(
        {
            "n_factors": Choice(FACTOR_COUNTS[:-1]),
            "lr": _around(d["lr"], 2, 2),
            "reg": _around(d["reg"], 3, 3),
            "reg_implicit": _around(d["reg_implicit"], 5, 5),
            "init_std": _around(d["init_std"], 3, 3),
            "lr_user": _around(d["lr_user"], 3, 5),
            "lr_item": _around(d["lr_item"], 3, 5),
            "reg_item": _around(d["reg_item"], 10, 3),
            "lr_day": _around(d["lr_day"], 5, 5),
            "min_day_ratings": Choice((1, 2, 3, 5)),
        },
        fixed={"n_epochs": SELECTION_EPOCHS_FACTOR * int(d["n_epochs"]),
               "patience": SELECTION_PATIENCE},
    )


def _knn_space() -> SearchSpace:
    d = _defaults("knn")
    return SearchSpace({"k": IntLogUniform(10, 100),  # the default n_neighbors_kept (200) >= k
                        "shrinkage": _around(d["shrinkage"], 8, 4),
                        "reg_user": _around(d["reg_user"], 10, 5),
                        "reg_item": _around(d["reg_item"], 10, 10)})


def _knnglobal_space() -> SearchSpace:
    d = _defaults("knnglobal")
    return SearchSpace({"k": IntLogUniform(30, 300),
                        "shrinkage": _around(d["shrinkage"], 8, 4),
                        "lr": _around(d["lr"], 3, 3),
                        "reg": _around(d["reg"], 10, 10),
                        "reg_bias": _around(max(d["reg_bias"], 1e-3), 10, 10)},
                       fixed={"n_epochs": SELECTION_EPOCHS_FACTOR * int(d["n_epochs"]),
                              "patience": SELECTION_PATIENCE})


def _timebias_space() -> SearchSpace:
    d = _defaults("timebias")
    return SearchSpace(
        {"lr_user": _around(d["lr_user"], 3, 3), "lr_item": _around(d["lr_item"], 3, 3),
         "lr_day": _around(d["lr_day"], 3, 3), "lr_bin": _around(d["lr_bin"], 3, 10),
         "reg_user": _around(d["reg_user"], 3, 30), "reg_item": _around(d["reg_item"], 3, 30),
         "reg_day": _around(d["reg_day"], 3, 30), "min_day_ratings": Choice((1, 2, 3, 5))},
        fixed={"n_epochs": SELECTION_EPOCHS_FACTOR * int(d["n_epochs"]),
               "patience": SELECTION_PATIENCE},
    )


def _hybrid_space() -> SearchSpace:
    d = _defaults("hybrid")
    mf_reg = d["mf_reg"] if d["mf_reg"] is not None else _defaults("mf")["reg"]
    return SearchSpace(
        {
            "hidden": Choice(((16,), (16, 8), (32, 16))),
            "lr": _around(d["lr"], 4, 4),
            "weight_decay": LogUniform(1e-6, 1e-3),
            "mf_factors": Choice(FACTOR_COUNTS[:-1]),
            "mf_reg": _around(mf_reg, 4, 4),
            "ar_reg": _around(d["ar_reg"], 5, 5),
        },
        # the network's epochs and every base's by early stopping on the trial's carve, as
        # `recsys fit` chooses them (without base_patience the bases would run their default
        # epochs blind, and the refit could not repeat what the trial chose)
        fixed={"n_epochs": max(2 * int(d["n_epochs"]), 20), "patience": 2,
               "base_patience": SELECTION_PATIENCE},
    )


_SPACES = {"mf": _mf_space, "baseline": _baseline_space, "svdpp": _svdpp_space,
           "timesvdpp": _timesvdpp_space, "knn": _knn_space, "knnglobal": _knnglobal_space,
           "timebias": _timebias_space, "hybrid": _hybrid_space}


def default_space(model: str) -> SearchSpace:
    """The search space :func:`recsys.tune` uses for ``model`` when none is given.

    Raises
    ------
    ParameterError
        ``model`` has nothing to tune (``"mean"``) or is unknown.
    """
    if model not in _SPACES:
        from recsys.models.registry import MODELS

        what = "has no settings to tune" if model in MODELS else "is not a known model"
        raise ParameterError(f"model {model!r} {what}; tune one of {', '.join(TUNABLE_MODELS)}")
    return _SPACES[model]()
