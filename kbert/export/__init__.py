"""Exporting trained models as SavedModels that take raw strings (see `writer.export_model`)."""

from kbert.export.writer import export_model

__all__ = ["export_model"]
