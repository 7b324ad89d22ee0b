"""Starts TensorFlow without its start-up noise: on a machine with no GPU it prints, before its own logging is set
up, lines about oneDNN, CPU instructions, a missing CUDA driver and a failed `cuInit`. Those are dropped; any other
line it prints is passed on."""

from __future__ import annotations

import os
import re
import sys
import tempfile

NOISE = re.compile("|".join([
    r"All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"oneDNN custom operations are on",
    r"Could not find cuda drivers on your machine",
    r"failed call to cuInit",
    r"This TensorFlow binary is optimized to use available CPU instructions",
    r"rebuild TensorFlow with the appropriate compiler flags",
    r"Unable to register cu(DNN|FFT|BLAS) factory",
    r"computation placer already registered",
]))


def start_tensorflow() -> None:
    """Imports TensorFlow and tensorflow-text and lets TensorFlow look for devices while the process's stderr is
    captured; then prints the captured lines that are not `NOISE`. Python errors are raised as usual."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf
            import tensorflow_text  # noqa: F401  (loads more kernels, which print the same lines again)

            tf.config.list_physical_devices()
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode("utf-8", "replace").splitlines():
                if line.strip() and not NOISE.search(line):
                    print(line, file=sys.stderr)
