"""Shared test configuration: Hypothesis profiles.

``ci`` (the default) keeps property tests quick; ``fuzz`` runs many more examples for a local
fuzzing session (see ``bench/fuzz.py``)::

    RECSYS_HYPOTHESIS_PROFILE=fuzz python -m pytest -m fuzz --hypothesis-show-statistics

Property tests that should take part in fuzzing carry ``@pytest.mark.fuzz`` and do **not** set
``max_examples`` themselves, so that the profile decides.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=_QUIET)
settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("RECSYS_FUZZ_EXAMPLES", "10000")),
    deadline=None,
    suppress_health_check=_QUIET,
    print_blob=True,
)
settings.load_profile(os.environ.get("RECSYS_HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "fuzz: a Hypothesis property test that bench/fuzz.py runs with many examples"
    )
