"""What a run was trained on and how it was started, in words, for settings.json and the exported model cards."""

from __future__ import annotations

import os
import platform
import shlex
import sys

import tensorflow as tf


def describe_hardware() -> str:
    """The CPU model and core count, and each GPU or TPU TensorFlow sees, e.g. "AMD EPYC 9B14 (2 cores), no GPU"."""
    parts = [f"{_cpu_name()} ({os.cpu_count()} cores)"]
    accelerators = []
    for kind in ("GPU", "TPU"):
        for device in tf.config.list_physical_devices(kind):
            details = tf.config.experimental.get_device_details(device) if kind == "GPU" else {}
            accelerators.append(details.get("device_name") or f"{kind} {device.name}")
    parts.append(", ".join(accelerators) if accelerators else "no GPU")
    return ", ".join(parts)


_command: list[str] | None = None  # set by `record_command` (train.main), else sys.argv is used


def record_command(program: str, arguments: list[str]) -> None:
    """Remembers the command a run is started with, for callers (such as `train.main(argv)`) whose arguments are
    not the process's own."""
    global _command
    _command = [os.path.basename(program), *arguments]


def command_line() -> str:
    """How this run was started, as a shell command (`python train.py pretrain --preset mini ...`)."""
    command = _command or [os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "", *sys.argv[1:]]
    return shlex.join(["python", *command])


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            return set(file.read().split())
    except OSError:
        return set()


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"
