"""Reports written from trained runs and exports (EVALUATION.md), on top of the library and its training code."""
