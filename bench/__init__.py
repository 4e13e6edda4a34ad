"""Load benchmarks: they print figures and ratios measured in the same run; they assert nothing."""
