"""The atomic writers and the JSON reader under the names some training modules still import them by; they live in
`kbert.io`."""

from kbert.io import read_json, write_bytes, write_json, write_text

__all__ = ["read_json", "write_bytes", "write_json", "write_text"]
