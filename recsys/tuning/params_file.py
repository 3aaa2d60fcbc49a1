"""Reading a settings file (what ``recsys tune`` writes) back into a model, every setting
checked before any data is read.

The file is a JSON object, either as :meth:`recsys.tuning.result.TuneResult.save_params` writes
it (``{"model": "mf", "params": {...}, ...}``) or just the settings (``{"lr": 0.01, ...}``).
Every problem is one line naming the file and the setting:

* not JSON, not an object: ``best.json is not a settings file (not JSON: ...)``;
* an unknown setting: ``best.json: MatrixFactorization has no setting 'lrr' (it takes ...)``;
* a value of the wrong type or range: the model's own check, e.g.
  ``best.json: MatrixFactorization: lr must be a number > 0, got -1``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recsys.errors import ParameterError, RecsysError

__all__ = ["SavedParams", "read_params", "build_model"]


@dataclass(frozen=True)
class SavedParams:
    """A settings file's content: the model it is for (None when the file does not say) and
    the settings."""

    model: str | None
    params: dict[str, Any]


def read_params(path: str | os.PathLike) -> SavedParams:
    """Read a settings file.

    Raises
    ------
    ParameterError
        The file cannot be read, is not JSON, or is not an object of settings.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise ParameterError(f"settings file {path} not found: check the path (write one with "
                             f"`recsys tune -o {path}`)") from None
    except IsADirectoryError:
        raise ParameterError(f"settings file {path} is a folder; give the JSON file") from None
    except UnicodeDecodeError:
        raise ParameterError(f"{path} is not a settings file (not UTF-8 text); give the JSON "
                             "file `recsys tune` wrote") from None
    except OSError as exc:
        raise ParameterError(f"cannot read the settings file {path}: "
                             f"{exc.strerror or exc}") from None
    try:
        content = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParameterError(
            f"{path} is not a settings file (not JSON: {exc.msg} at line {exc.lineno}, column "
            f"{exc.colno}); give the JSON file `recsys tune` wrote") from None
    if not isinstance(content, dict):
        raise ParameterError(f"{path} is not a settings file (a JSON {type(content).__name__},"
                             " not an object of settings such as {\"lr\": 0.01})")
    model = content.get("model") if "params" in content else None
    params = content["params"] if "params" in content else content
    if not isinstance(params, dict):
        raise ParameterError(f"{path}: 'params' must be an object of settings such as "
                             f"{{\"lr\": 0.01}}, got a JSON {type(params).__name__}")
    if model is not None and not isinstance(model, str):
        raise ParameterError(f"{path}: 'model' must be a model name such as \"mf\", got "
                             f"{model!r}")
    return SavedParams(model, dict(params))


def _probe_ratings():
    """Nine ratings of three users and three items: enough for any model's first epoch."""
    from recsys.data.ratings import Ratings

    users, items = np.meshgrid(np.arange(1, 4), np.arange(1, 4))
    frame = pd.DataFrame({"user": users.ravel(), "item": items.ravel(),
                          "rating": (np.arange(9) % 5 + 1).astype(float)})
    return Ratings.from_dataframe(frame, timestamp=None, rating_scale=(1.0, 5.0))


def build_model(model_name: str, params: dict[str, Any], source: str = "settings"):
    """A new, unfitted ``model_name`` with ``params``, every setting checked now.

    The check is the model's own (what ``fit`` would raise), run by starting a fit on nine
    made-up ratings and stopping it after its first epoch.

    Raises
    ------
    ParameterError
        An unknown setting, or a value of the wrong type or range; the line starts with
        ``source`` and names the setting.
    """
    from recsys.models.progress import FitStopped
    from recsys.models.registry import model_class

    cls = model_class(model_name)
    accepted = set(cls.param_names())
    wrong = sorted(set(params) - accepted)
    if wrong:
        raise ParameterError(
            f"{source}: {cls.__name__} has no setting {', '.join(repr(w) for w in wrong)} "
            f"(it takes: {', '.join(sorted(accepted))})")
    model = cls(**params)
    probe = cls(**params)
    try:
        probe.fit(_probe_ratings(), should_stop=lambda: True)
    except ParameterError as exc:
        raise ParameterError(f"{source}: {exc}") from None
    except (FitStopped, RecsysError):
        pass  # the settings passed their checks; the rest is about the made-up data
    except (TypeError, ValueError, OverflowError) as exc:
        raise ParameterError(f"{source}: a setting of {cls.__name__} has a value it cannot "
                             f"use ({type(exc).__name__}: {exc})") from None
    return model
