"""Reports written from trained runs and exports (EVALUATION.md); above the library, never imported by it."""
