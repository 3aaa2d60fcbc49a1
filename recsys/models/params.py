"""Settings read from the constructor: ``get_params`` / ``set_params`` as scikit-learn has them.

Every model (the rating estimators and the array regressor :class:`~recsys.models.mlp.MLP`)
stores its constructor arguments under the same names and nothing else in ``__init__``; this
mixin derives the list of settings from the constructor's signature, so it is never written
twice.
"""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["Params"]


class Params:
    """``param_names`` / ``get_params`` / ``set_params`` / ``repr`` from ``__init__``."""

    @classmethod
    def param_names(cls) -> list[str]:
        """The constructor's parameter names, in order: what :meth:`get_params` returns."""
        signature = inspect.signature(cls.__init__)
        return [
            name
            for name, p in signature.parameters.items()
            if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor arguments as a dict (``deep`` is accepted for scikit-learn compatibility)."""
        return {name: getattr(self, name) for name in self.param_names()}

    def set_params(self, **params: Any) -> "Params":
        """Set constructor arguments; unknown names raise ``ValueError``."""
        valid = set(self.param_names())
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"{type(self).__name__} has no parameter {name!r} "
                    f"(valid: {', '.join(sorted(valid))})"
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
