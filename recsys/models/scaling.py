r"""Scale-free learning: every model learns on ratings mapped to one standard scale.

A model's settings (learning rates, regularisation, initial scale, the network's step size)
are tuned on 1-5 stars; on a 1-100 scale the same numbers would mean steps twenty times too
large. So :meth:`recsys.models.base.Estimator.fit` maps the training ratings to *model units*
before the model sees them, and predictions back::

    z = (r - c) / s,     r_hat = c + s * z_hat

with ``c`` the mean training rating and ``s`` a quarter of the rating scale's range (1 on the
1-5 scale the defaults were tuned on, 1.125 on 0.5-5, 24.75 on 1-100). Under any change of
units ``r -> a + b r`` (``b > 0``) the model sees the same ``z``, so it learns the same thing
and its predictions follow the same map: the settings mean the same on every scale.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from recsys.data.ratings import Ratings

__all__ = ["RatingMap"]


@dataclass(frozen=True)
class RatingMap:
    """``z = (r - center) / spread`` and back.

    Parameters
    ----------
    center : float
        ``c``, the mean training rating.
    spread : float
        ``s > 0``, a quarter of the rating scale's range (1 when the scale is a single value).
    """

    center: float = 0.0
    spread: float = 1.0

    @classmethod
    def of(cls, ratings: Ratings) -> "RatingMap":
        """The map of a training set: its mean, and a quarter of its rating scale's range."""
        low, high = (float(x) for x in ratings.rating_scale)
        spread = (high - low) / 4.0
        if not (math.isfinite(spread) and spread > 0.0):
            spread = 1.0
        return cls(center=float(ratings.global_mean), spread=spread)

    def to_model(self, values: np.ndarray | float) -> np.ndarray | float:
        """Ratings in model units: ``(r - c) / s``."""
        return (values - self.center) / self.spread

    def to_ratings(self, values: np.ndarray | float) -> np.ndarray | float:
        """Model units back to ratings: ``c + s z``."""
        return self.center + self.spread * values

    def apply(self, ratings: Ratings) -> Ratings:
        """The same container (indices, id maps, side information shared) with its ratings
        and rating scale in model units."""
        from recsys.models._grouping import to_model_units  # numba: not at `import recsys`

        # float32((r - c) / s) computed in float64 per rating, without a float64 copy
        z = to_model_units(ratings.ratings, self.center, self.spread)
        low, high = ratings.rating_scale
        return dataclasses.replace(
            ratings, ratings=z,
            rating_scale=(float(self.to_model(float(low))), float(self.to_model(float(high)))))
