"""Rating models: baselines, matrix factorisation, the tanh network and the hybrid."""

from recsys.models.base import Estimator, load_model

__all__ = ["Estimator", "load_model"]
