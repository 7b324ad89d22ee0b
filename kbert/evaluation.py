"""Moved to `kbert.reports.evaluation`; this name stays only for bench/time_to_quality.py's import until it changes."""

from kbert.reports.evaluation import checkpoint_prefixes

__all__ = ["checkpoint_prefixes"]
