"""Loading, validating, encoding and splitting ratings."""

from recsys.data.ratings import DuplicateRatingsWarning, Ratings, lookup_ids

__all__ = ["Ratings", "DuplicateRatingsWarning", "lookup_ids"]
