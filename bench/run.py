"""`make bench`: qsession's result core against Qiskit, measured in the same run.

Two tables. The first (``bench/kernels.py``) times our BitArray kernels and an end-to-end
Sampler job against Qiskit's BitArray and Aer's SamplerV2. The second, "Runtime"
(``bench/scenarios/``), measures the runtime core under load, each figure against a reference
measured in the same run; the scenarios share ``bench/harness.py``.

``--only kernels`` or ``--only runtime`` runs one of the two; ``--scenario NAME`` (repeatable)
runs only those runtime scenarios.
"""

from __future__ import annotations

import argparse
import os
import sys

# numpy's idle OpenBLAS threads spin on the shared cores and slow both contenders; no section
# here uses BLAS.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import harness  # noqa: E402  (bench/harness.py)
import kernels  # noqa: E402  (bench/kernels.py)
import numpy as np  # noqa: E402
import scenarios  # noqa: E402  (bench/scenarios/)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("kernels", "runtime"), help="run one table")
    parser.add_argument(
        "--scenario",
        action="append",
        choices=list(scenarios.SCENARIOS),
        help="run only these runtime scenarios (repeat; implies --only runtime)",
    )
    args = parser.parse_args()
    only = "runtime" if args.scenario else args.only
    if only != "runtime":
        rng = np.random.default_rng(kernels.SEED)
        rows: list[kernels.Row] = []
        for section in kernels.SECTIONS:
            rows.extend(section(rng))
        print(kernels.format_table(rows))
        for note in kernels.NOTES:
            print(f"note: {note}")
    if only != "kernels":
        if only is None:
            print()
        print("Runtime")
        print(harness.format_table(scenarios.run(args.scenario or scenarios.SCENARIOS)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
