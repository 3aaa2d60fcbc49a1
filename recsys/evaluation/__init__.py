"""Evaluation: fit models on the training side of each fold, score the test side once, report.

Where things live (one job a module):

* ``experiment``: the runner, :func:`~recsys.evaluation.experiment.evaluate` (also
  ``recsys.evaluate``): settings checks, the fold loop, assembling the report;
* ``nested``: every setting chosen inside a fold's training side (epochs by validation, or
  :func:`recsys.tune` per fold with ``tune=``), then a refit on the whole training side;
* ``folds``: the data preparation (random splits, the official ML-100k folds);
* ``scoring``: one fitted model scored once on one fold (RMSE, MAE, top-N figures);
* ``report``: :class:`~recsys.evaluation.report.Report`, its table, markdown, JSON and files;
* ``plots``: the figures the report saves (matplotlib, imported only when saving).

A new figure of the report: draw it in ``plots``, save it from ``Report`` in ``report``. A new
metric: compute it in :mod:`recsys.metrics`, score it in ``scoring``, show it in ``report``.
"""
