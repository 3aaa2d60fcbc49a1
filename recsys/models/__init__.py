"""Rating models: baselines, matrix factorisation, the tanh network and the hybrid."""

from recsys.models.autorec import AutoRec
from recsys.models.base import Estimator, load_model
from recsys.models.baseline import BiasBaseline, GlobalMean
from recsys.models.hybrid import HybridRecommender
from recsys.models.mf import MatrixFactorization
from recsys.models.mlp import MLP
from recsys.models.registry import MODELS, make_model, model_class

__all__ = [
    "AutoRec",
    "BiasBaseline",
    "Estimator",
    "GlobalMean",
    "HybridRecommender",
    "MLP",
    "MODELS",
    "MatrixFactorization",
    "load_model",
    "make_model",
    "model_class",
]
