"""recsys: Netflix-style rating prediction.

Matrix factorisation learned by per-rating stochastic gradient descent, a small tanh network
trained by hand-written backpropagation, and a hybrid of the two, on MovieLens data.
"""

from __future__ import annotations

from recsys._version import __version__

from recsys.data import load, load_predefined_split, make_planted, split
from recsys.data.ratings import Ratings
from recsys.errors import (
    DataError,
    DivergenceError,
    DownloadError,
    ModelFileError,
    NotFittedError,
    ParameterError,
    RecsysError,
    UnknownIdError,
)
from recsys.metrics import mae, rmse, topn_metrics
from recsys.models.base import Estimator
from recsys.models.io import load_model
from recsys.errors import EvaluationError, EvaluationWarning
from recsys.evaluation.experiment import evaluate
from recsys.evaluation.report import Report
from recsys.tuning import TuneResult, tune

__all__ = [
    "__version__",
    "Ratings",
    "load",
    "load_predefined_split",
    "make_planted",
    "split",
    "rmse",
    "mae",
    "topn_metrics",
    "evaluate",
    "Report",
    "tune",
    "TuneResult",
    "Estimator",
    "load_model",
    "RecsysError",
    "ParameterError",
    "DataError",
    "DownloadError",
    "ModelFileError",
    "DivergenceError",
    "NotFittedError",
    "UnknownIdError",
    "EvaluationError",
    "EvaluationWarning",
]
