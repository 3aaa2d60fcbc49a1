"""The worst deviation of the scale-equivariance property, over every model and map.

``tests/test_scale_free.py`` asserts that fitting ratings in other units (``r -> a + b r``)
predicts ``a + b`` times the predictions; this prints how far from exact each model is, as a
share of the rating range, on the test's models, maps and toy data::

    python bench/scale_free.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_scale_free import FACTORIES, MAPS, in_other_units, toy, worst_relative_deviation  # noqa: E402,E501


def main() -> None:
    data = toy()
    test = np.random.default_rng(1).random(len(data)) < 0.2
    train, held = data.subset(~test), data.subset(test)
    worst = (0.0, "", None)
    for name, make in FACTORIES:
        base = make().fit(train)
        expected = base.predict_ratings(held)
        row = []
        for a, b in MAPS:
            other = make().fit(in_other_units(train, a, b))
            got = other.predict(held.user_ids[held.users], held.item_ids[held.items])
            gap = worst_relative_deviation(a + b * expected, got, b)
            row.append(f"{gap:.1e}")
            if gap >= worst[0]:
                worst = (gap, name, (a, b))
        print(f"{name:24s} " + "  ".join(row))
    print(f"worst: {worst[0]:.2e} of the rating range ({worst[1]}, a, b = {worst[2]})")


if __name__ == "__main__":
    main()
