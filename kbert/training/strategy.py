"""Chooses the tf.distribute strategy (TPU, several GPUs, several workers, or none) and says who writes files."""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import tensorflow as tf

from kbert.training.machine import cpu_flags

STRATEGIES = ("auto", "default", "mirrored", "multi_worker", "tpu")


def make_strategy(kind: str = "auto", tpu: str | None = None) -> tf.distribute.Strategy:
    """The strategy for `kind`; `auto` picks TPU when `tpu` names one, multi-worker when TF_CONFIG lists several
    workers, mirrored when this machine has several GPUs, and the default (one device) otherwise.

    Call it before any other TensorFlow work: multi-worker and TPU set-up must come first in the process.
    """
    if kind not in STRATEGIES:
        raise ValueError(f"Unknown strategy {kind!r}; choose one of {', '.join(STRATEGIES)}")
    if kind == "auto":
        kind = _auto_kind(tpu)
    if kind == "tpu":
        if not tpu:
            raise ValueError("The TPU strategy needs a TPU address: pass --tpu (a name, grpc:// address or 'local').")
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    if kind == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def _auto_kind(tpu: str | None) -> str:
    if tpu:
        return "tpu"
    if cluster_worker_count() > 1:
        return "multi_worker"
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return "mirrored"
    return "default"


def _tf_config() -> dict:
    """TF_CONFIG's cluster and task ({} when it is unset)."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return {}
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not a JSON object with a 'cluster' field: {error}") from None
    if not isinstance(config, dict):
        raise ValueError(f"TF_CONFIG is not a JSON object with a 'cluster' field: {raw[:100]}")
    return config


def cluster_worker_count() -> int:
    """How many chief and worker tasks TF_CONFIG names (0 when it is unset)."""
    cluster = _tf_config().get("cluster", {})
    return len(cluster.get("chief", [])) + len(cluster.get("worker", []))


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True on the one worker that writes checkpoints, logs and exports (every worker when there is one)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or isinstance(resolver, tf.distribute.cluster_resolver.TPUClusterResolver):
        return True
    return _is_chief_task(resolver.task_type, resolver.task_id, "chief" in resolver.cluster_spec().as_dict())


def is_chief_process() -> bool:
    """Whether this process is the chief of TF_CONFIG's cluster (every process when TF_CONFIG is unset), known
    before any strategy is built: the one that holds a run directory's lock."""
    config = _tf_config()
    task = config.get("task", {})
    return _is_chief_task(task.get("type"), task.get("index", 0), "chief" in config.get("cluster", {}))


def _is_chief_task(task_type: str | None, task_id: int, has_chief: bool) -> bool:
    if task_type in (None, "chief"):
        return True
    return task_type == "worker" and task_id == 0 and not has_chief


@contextmanager
def writable_dir(directory: str, strategy: tf.distribute.Strategy) -> Iterator[str]:
    """`directory` on the chief; on other workers a private temporary folder, removed afterwards.

    Every worker must take part in saving (a save may all-reduce), but only the chief's files may land in the run
    directory, as TensorFlow's multi-worker guide prescribes.
    """
    if is_chief(strategy):
        os.makedirs(directory, exist_ok=True)
        yield directory
        return
    temporary = tempfile.mkdtemp(prefix=f"kbert-worker{strategy.cluster_resolver.task_id}-")
    try:
        yield temporary
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def auto_precision(strategy: tf.distribute.Strategy) -> str:
    """The fastest safe dtype policy here: bfloat16 mixed precision on TPUs, on GPUs from Ampere on and on CPUs
    whose bfloat16 matmuls (AVX512-BF16 or AMX) outrun their float32 ones; float32 elsewhere. float16 (with loss
    scaling) is never chosen for you: ask for it with `mixed_float16`."""
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return "mixed_bfloat16"
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        major, _ = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability", (0, 0))
        return "mixed_bfloat16" if major >= 8 else "float32"
    if not cpu_flags() & {"avx512_bf16", "amx_bf16"}:
        return "float32"
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return "mixed_bfloat16"  # every worker must choose alike, and timings may differ between them
    return "mixed_bfloat16" if bf16_matmuls_pay() else "float32"


@functools.cache
def bf16_matmuls_pay() -> bool:
    """Whether this CPU multiplies 1024 x 1024 bfloat16 matrices at least 1.2x as fast as float32 ones, timed once
    (a fraction of a second). The instructions alone do not say: some CPUs that have them run bfloat16 slower
    (bench/README.md)."""
    def best_seconds(dtype: tf.DType) -> float:
        a = tf.cast(tf.random.stateless_normal([1024, 1024], [1, 2]), dtype)
        tf.matmul(a, a).numpy()  # the first call sets oneDNN up
        times = []
        for _ in range(5):
            start = time.perf_counter()
            tf.matmul(a, a).numpy()
            times.append(time.perf_counter() - start)
        return min(times)

    return best_seconds(tf.float32) >= 1.2 * best_seconds(tf.bfloat16)
