"""Hyperparameter search: :func:`recsys.tune` and ``recsys tune``.

Where things live (one job a module):

* ``search``: the loop, :func:`~recsys.tuning.search.tune` (also ``recsys.tune``): the
  validation carve of the training data, the trials, the choice of the best, the refit;
* ``space``: ranges of settings (``LogUniform``, ``IntLogUniform``, ``Uniform``, ``Choice``),
  :class:`~recsys.tuning.space.SearchSpace` and its seeded quasi-random (Halton) points;
* ``spaces``: each model's default search space, set around the model's defaults;
* ``pruning``: the median rule that stops a trial early from its validation curve;
* ``trial``: one trial's fit, watched epoch by epoch, and its record;
* ``result``: :class:`~recsys.tuning.result.TuneResult`: the best settings, the table of
  trials, the refitted model, the settings file (``save_params``);
* ``params_file``: reading a settings file back for ``recsys fit --params``, with every
  setting checked before any data is read.
"""

from __future__ import annotations

from recsys.tuning.pruning import MedianPruner
from recsys.tuning.result import TuneResult
from recsys.tuning.search import tune
from recsys.tuning.space import Choice, IntLogUniform, LogUniform, SearchSpace, Uniform
from recsys.tuning.spaces import default_space

__all__ = ["tune", "TuneResult", "SearchSpace", "LogUniform", "IntLogUniform", "Uniform",
           "Choice", "MedianPruner", "default_space"]
