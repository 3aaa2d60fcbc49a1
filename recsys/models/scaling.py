r"""Scale-free learning: every model learns on ratings mapped to one standard scale.

A model's settings (learning rates, regularisation, initial scale, the network's step size)
are tuned on 1-5 stars; on a 1-100 scale the same numbers would mean steps twenty times too
large. So :meth:`recsys.models.base.Estimator.fit` maps the training ratings to *model units*
before the model sees them, and predictions back::

    z = (r - c) / s,     r_hat = c + s * z_hat

with ``c`` the mean training rating and ``s`` a quarter of the rating scale's range (1 on the
1-5 scale the defaults were tuned on, 1.125 on 0.5-5, 24.75 on 1-100), but never more than
:data:`MAX_SPREAD_SDS` = 1.25 standard deviations of the training ratings. Under any change of
units ``r -> a + b r`` (``b > 0``) the model sees the same ``z``, so it learns the same thing
and its predictions follow the same map: the settings mean the same on every scale.

The cap matters where the range is not a rating scale but the span of a few extreme values:
unbounded scores (planted data from -4.4 to 11.4 with a standard deviation of 1.46) would
otherwise be divided by 3.95 instead of 1.82, so the defaults' steps and penalties would act
as if the data were 2.2 times flatter than it is (MF's test RMSE 1.253 against 0.915, 1M
planted ratings with noise 0.8). A quarter of the range equals 1.25 standard deviations when
the ratings' extremes lie 2.5 standard deviations either side of the mean; every rating
scale in use is narrower than that (MovieLens 1-5: 1 against 1.41; 0.5-5: 1.125 against
1.30; a uniform spread over the scale: 0.25 against 0.36 of the range), so on them the map is
a quarter of the range, as before.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from recsys.data.ratings import Ratings

__all__ = ["RatingMap", "MAX_SPREAD_SDS"]

# The model units' spread is at most this many standard deviations of the training ratings.
MAX_SPREAD_SDS = 1.25


@dataclass(frozen=True)
class RatingMap:
    """``z = (r - center) / spread`` and back.

    Parameters
    ----------
    center : float
        ``c``, the mean training rating.
    spread : float
        ``s > 0``: a quarter of the rating scale's range, at most :data:`MAX_SPREAD_SDS`
        standard deviations of the ratings (1 when both are zero).
    """

    center: float = 0.0
    spread: float = 1.0

    @classmethod
    def of(cls, ratings: Ratings) -> "RatingMap":
        """The map of a training set: its mean, and a quarter of its rating scale's range
        capped at :data:`MAX_SPREAD_SDS` standard deviations (see :meth:`from_summary`)."""
        from recsys.models._grouping import std_of  # numba: not at `import recsys`

        return cls.from_summary(ratings.rating_scale, float(ratings.global_mean),
                                std_of(ratings.ratings))

    @classmethod
    def from_summary(cls, rating_scale: tuple[float, float], mean: float,
                     std: float) -> "RatingMap":
        """The map from a summary of the training ratings: ``c = mean`` and
        ``s = min((high - low) / 4, MAX_SPREAD_SDS * std)``; a zero or non-finite term is
        ignored (the standard deviation of a single rating, say), and 1 is used when both
        are."""
        low, high = (float(x) for x in rating_scale)
        candidates = [x for x in ((high - low) / 4.0, MAX_SPREAD_SDS * float(std))
                      if math.isfinite(x) and x > 0.0]
        return cls(center=float(mean), spread=min(candidates) if candidates else 1.0)

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
