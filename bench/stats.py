"""Latency statistics: nearest-rank percentiles over the recorded samples."""

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(sorted_samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (`fraction` in 0–1) of already sorted samples; NaN if none."""
    if not sorted_samples:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_samples)))
    return sorted_samples[min(rank, len(sorted_samples)) - 1]


@dataclass(frozen=True, slots=True)
class Latencies:
    """Percentiles of one phase's latencies, in milliseconds."""

    p50: float
    p90: float
    p99: float
    max: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> "Latencies":
        ordered = sorted(seconds)
        as_ms = [s * 1000.0 for s in ordered]
        return cls(
            p50=percentile(as_ms, 0.50),
            p90=percentile(as_ms, 0.90),
            p99=percentile(as_ms, 0.99),
            max=as_ms[-1] if as_ms else math.nan,
        )
