"""A bad request as an HTTP status, a one-line message and the field it concerns."""

from __future__ import annotations

__all__ = ["RequestError", "BAD_REQUEST", "NOT_FOUND", "TOO_LARGE", "UNPROCESSABLE"]

BAD_REQUEST = 400
"""The body is not JSON (or not UTF-8)."""
NOT_FOUND = 404
"""An unknown user or item (or path)."""
TOO_LARGE = 413
"""A body over the size limit."""
UNPROCESSABLE = 422
"""A missing or malformed field, a value out of range, or a request the model cannot answer
(fold-in or similar items with a model that has neither)."""


class RequestError(Exception):
    """A request the server refuses: answered with ``status`` and the JSON body
    ``{"error": message, "field": field}`` (``field`` is None when no single field is at
    fault).

    Parameters
    ----------
    status : int
        A 4xx HTTP status.
    message : str
        One line saying what was wrong and what to do.
    field : str or None
        The query parameter or body field at fault (``"ratings.Toy Story"`` for one rating).
    """

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = int(status)
        self.message = " ".join(str(message).split())
        self.field = field

    def body(self) -> dict[str, str | None]:
        """The JSON body of the answer."""
        return {"error": self.message, "field": self.field}
