"""What a model file holds: a fitted estimator as named arrays and a JSON header, and back.

:class:`Persistent` is a mixin of :class:`recsys.models.base.Estimator`. ``to_arrays`` gathers
the header (format, class, settings, rating scale and map, history, the validation's choice),
the record of the training data every model keeps (id maps, counts, seen items, item
metadata) and the model's own learned arrays (its ``_state`` hook); ``save`` writes them with
:func:`recsys.models.io.write_model_file`, and :func:`recsys.models.io.model_from_arrays` checks
a file's arrays and hands the model its state back through ``_restore_state``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from recsys._version import __version__
from recsys.errors import ModelFileError

__all__ = ["Persistent"]


class Persistent:
    """``to_arrays`` / ``save`` / ``load`` and the hooks a model implements for them."""

    def _state(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    @classmethod
    def _upgrade_params(cls, params: dict[str, Any], format_version: int) -> dict[str, Any]:
        """The settings a file of an older ``format_version`` stored, under today's names
        (a subclass that renamed a setting maps the old name here)."""
        return params

    def _header_extra(self) -> dict[str, Any]:
        """Extra JSON-serialisable facts a subclass wants in the header."""
        return {}

    def _load_header_extra(self, extra: dict[str, Any]) -> None:
        """Restore what :meth:`_header_extra` saved."""

    _COMMON_ARRAYS = (
        "user_ids_", "item_ids_", "user_counts_", "item_counts_", "seen_indptr_",
        "seen_items_", "item_titles_", "item_genres_", "item_years_",
    )

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Everything a model file holds, as named arrays: ``"header"`` (JSON text: format,
        class, parameters, rating scale, global mean, history, package version), the record
        of the training data (``"common/..."``: id maps, counts, seen items, item metadata)
        and the learned state (``"state/..."``). :func:`recsys.models.io.model_from_arrays`
        turns them back into the model, checking every array."""
        from recsys.models import io

        self._check_fitted()
        header = {
            "format": io.FORMAT_NAME,
            "format_version": io.FORMAT_VERSION,
            "class": type(self).__name__,
            "params": self.get_params(),
            "package_version": __version__,
            "data_fingerprint": self.data_fingerprint_,
            "data_name": self.data_name_,
            "rating_scale": list(self.rating_scale_),
            "global_mean": self.global_mean_,
            "rating_map": [self.rating_map_.center, self.rating_map_.spread],
            "history": self.history_,
            "selection": getattr(self, "selection_", None),
            "extra": self._header_extra(),
        }
        arrays = {f"common/{name}": getattr(self, name) for name in self._COMMON_ARRAYS}
        for key, value in self._state().items():
            arrays[f"state/{key}"] = np.asarray(value)
        arrays["header"] = io.header_json(header)
        return arrays

    def _restore_state(self, extra: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Install the learned state of a file (after its id maps and header facts): the
        header's ``extra`` facts, then the ``state/`` arrays (their prefix removed)."""
        self._user_index_cache = None
        self._item_index_cache = None
        self._load_header_extra(extra)
        self._set_state(arrays)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the fitted model to one ``.npz`` file, atomically (temporary name, then
        rename): an interrupted or failed save leaves any earlier file at ``path`` untouched
        and no temporary file behind. A missing folder is created. Returns the path written.

        Raises
        ------
        NotFittedError
            The model is not fitted (or its last fit failed).
        ModelFileError
            The file cannot be written (a folder, no permission, disk full...).
        """
        from recsys.models import io

        self._check_fitted()
        path = Path(path)
        if path.is_dir():  # before the arrays are built
            raise ModelFileError(
                f"cannot write the model to {path}: it is a folder; give a file name such as "
                f"{path / 'model.npz'}"
            )
        return io.write_model_file(path, self.to_arrays())

    @classmethod
    def load(cls, path: str | os.PathLike) -> Any:
        """Load a model saved by :meth:`save` (never unpickles; see
        :func:`recsys.models.io.load_model`)."""
        from recsys.models import io

        model = io.load_model(path)
        if not isinstance(model, cls):
            raise ModelFileError(
                f"{path} holds a {type(model).__name__}, not a {cls.__name__}"
            )
        return model
