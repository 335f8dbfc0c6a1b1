"""Markdown tables and the machine line that heads every benchmark printout."""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Sequence

from . import procstat


def fmt(value: object, digits: int = 1) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def markdown(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured table; numbers right-aligned."""
    cells = [[fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    numeric = [bool(rows) and all(isinstance(row[i], int | float) for row in rows)
               for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.rjust(w) if n else v.ljust(w)
                                 for v, w, n in zip(values, widths, numeric, strict=True)) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if n else ("-" * (w + 2))
                          for w, n in zip(widths, numeric, strict=True)) + "|"
    return "\n".join([line(headers), rule, *(line(r) for r in cells)])


def machine() -> str:
    """nproc, CPU model, Python, and the load average (other work skews every figure)."""
    omp = {k: v for k, v in os.environ.items() if k.startswith(("OMP_", "OPENBLAS_", "GOMP_"))}
    env = ", ".join(f"{k}={v}" for k, v in sorted(omp.items())) or "none"
    return (f"{os.cpu_count()} CPUs ({procstat.cpu_model()}), Python {platform.python_version()}, "
            f"load average {procstat.loadavg():.2f}; OMP/BLAS env: {env}")
