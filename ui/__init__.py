"""The kbert app: explore exported BERT models in the browser (`python -m ui`)."""
