"""A local fuzzing session: every ``@pytest.mark.fuzz`` property test, with many examples.

The property tests (loaders fed random tables and random bytes, the model-file reader fed
mutated files, archive verification fed mutated zips...) run in CI with the ``ci`` Hypothesis
profile (a few dozen examples each). This script runs them with the ``fuzz`` profile (10,000
examples each unless ``--examples`` says otherwise) and prints, per test, how many examples
passed, failed or were rejected, and the total::

    python bench/fuzz.py                       # all fuzz tests, 10,000 examples each
    python bench/fuzz.py --examples 2000 -k loader

A failure prints Hypothesis's minimal failing example and a ``@reproduce_failure`` blob; the
exit code is then non-zero.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_TEST = re.compile(r"^(tests/\S+::\S+):")
# "50 passing, 0 failing, and 4 invalid test cases" (older Hypothesis: "... examples")
_COUNTS = re.compile(r"(\d+) passing(?: examples?)?, (\d+) failing(?: examples?)?,"
                     r"(?: and)? (\d+) invalid")


def parse_statistics(text: str) -> dict[str, list[int]]:
    """``{test id: [passing, failing, invalid]}`` summed over the generate/shrink phases."""
    totals: dict[str, list[int]] = {}
    current = None
    for line in text.splitlines():
        match = _TEST.match(line.strip())
        if match:
            current = match.group(1)
            totals.setdefault(current, [0, 0, 0])
            continue
        counts = _COUNTS.search(line)
        if counts and current is not None:
            for k, value in enumerate(counts.groups()):
                totals[current][k] += int(value)
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000,
                        help="examples per property test (default 10,000)")
    parser.add_argument("-k", default=None, help="pytest -k expression to pick tests")
    args = parser.parse_args(argv)

    env = {**os.environ, "RECSYS_HYPOTHESIS_PROFILE": "fuzz",
           "RECSYS_FUZZ_EXAMPLES": str(args.examples)}
    command = [sys.executable, "-m", "pytest", "-m", "fuzz", "-q", "-p", "no:cacheprovider",
               "--hypothesis-show-statistics", "tests"]
    if args.k:
        command += ["-k", args.k]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    stats = parse_statistics(done.stdout)
    width = max((len(name) for name in stats), default=10)
    print(f"{'property test':<{width}}  {'passing':>8} {'failing':>8} {'invalid':>8}")
    for name, (passing, failing, invalid) in sorted(stats.items()):
        print(f"{name:<{width}}  {passing:>8,} {failing:>8,} {invalid:>8,}")
    total = sum(counts[0] for counts in stats.values())
    print(f"\n{len(stats)} property tests, {total:,} passing examples in {seconds:.0f} s; "
          f"pytest exit code {done.returncode}")
    summary = [line for line in done.stdout.splitlines() if " passed" in line or "failed" in line]
    if summary:
        print(summary[-1])
    if done.returncode != 0:
        print(done.stdout[-20_000:])
        print(done.stderr[-5_000:], file=sys.stderr)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
