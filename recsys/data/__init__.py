"""Loading, validating, encoding and splitting ratings."""

from recsys.data.loading import DEFAULT_DATASET, bundled_path, describe, list_datasets, load
from recsys.data.predefined_splits import load_predefined_split
from recsys.data.ratings import DuplicateRatingsWarning, Ratings, lookup_ids
from recsys.data.releases import REGISTRY
from recsys.data.splits import (
    holdout_split,
    kfold_splits,
    split,
    temporal_split,
    user_holdout_split,
    validation_split,
)
from recsys.data.synthetic import PlantedTruth, make_planted, make_planted_with_truth

__all__ = [
    "DEFAULT_DATASET",
    "DuplicateRatingsWarning",
    "REGISTRY",
    "load_predefined_split",
    "PlantedTruth",
    "Ratings",
    "bundled_path",
    "describe",
    "holdout_split",
    "kfold_splits",
    "list_datasets",
    "load",
    "lookup_ids",
    "make_planted",
    "make_planted_with_truth",
    "split",
    "temporal_split",
    "user_holdout_split",
    "validation_split",
]
