"""A run's learning curves: TensorBoard scalars, a `metrics.jsonl` record that survives resumes, and a PNG plot."""

from __future__ import annotations

import glob
import io
import json
import os
from collections.abc import Mapping

import tensorflow as tf
from tensorflow.core.framework import summary_pb2
from tensorflow.core.util import event_pb2

from kbert.io import replacing, write_bytes, write_text

METRICS_FILE = "metrics.jsonl"
# What TensorBoard's scalar plugin writes with each value; `tf.summary.scalar` itself needs the tensorboard package.
_SCALAR_METADATA = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))


class History:
    """Records metrics by step and split ("train", "eval") in `directory`; does nothing where `enabled` is False
    (workers other than the chief).

    On a resumed run the records after `resume_step` are dropped, in metrics.jsonl and in the TensorBoard event
    files, since those steps are trained again.
    """

    def __init__(self, directory: str, enabled: bool = True, resume_step: int = 0):
        self.enabled = enabled
        self.path = os.path.join(directory, METRICS_FILE)
        self.records: list[dict] = []
        self._writers: dict[str, tf.summary.SummaryWriter] = {}
        if not enabled:
            return
        self.records = [r for r in read_records(self.path) if r["step"] <= resume_step]
        write_text(self.path, "".join(json.dumps(r) + "\n" for r in self.records))
        self._logdir = os.path.join(directory, "logs")
        for path in glob.glob(os.path.join(glob.escape(self._logdir), "*", "*tfevents*")):
            trim_events(path, resume_step)

    def has(self, step: int, split: str) -> bool:
        """Whether a `split` record of `step` is logged."""
        return any(r["step"] == step and r["split"] == split for r in self.records)

    def record(self, step: int, split: str, metrics: Mapping[str, float]) -> None:
        """Appends one record and writes the same scalars for TensorBoard (`logs/<split>`)."""
        if not self.enabled:
            return
        record = {"step": int(step), "split": split, **{k: float(v) for k, v in metrics.items()}}
        self.records.append(record)
        with open(self.path, "a", encoding="utf-8") as file:
            file.write(json.dumps(record) + "\n")
        if split not in self._writers:
            self._writers[split] = tf.summary.create_file_writer(os.path.join(self._logdir, split))
        with self._writers[split].as_default(step=int(step)):
            for key, value in metrics.items():
                tf.summary.write(key, tf.constant(float(value), tf.float32), metadata=_SCALAR_METADATA)

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()

    def plot(self, path: str, title: str = "") -> None:
        """Draws each metric against step, one panel per metric, train and eval in one panel; writes a PNG."""
        if not self.enabled or not self.records:
            return
        plot_records(self.records, path, title)


def trim_events(path: str, last_step: int) -> None:
    """Drops the summaries after `last_step` from a TensorBoard event file (rewritten atomically; removed when no
    summary is left), so a resumed run's curves do not overlap; a last record cut short by a crash goes too."""
    kept, dropped = [], False
    try:
        for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
            event = event_pb2.Event.FromString(record)
            if event.step <= last_step or not event.HasField("summary"):
                kept.append((record, event.HasField("summary")))
            else:
                dropped = True
    except tf.errors.DataLossError:
        dropped = True
    if not dropped:
        return
    if not any(has_summary for _, has_summary in kept):
        os.remove(path)
        return
    with replacing(path) as temporary, tf.io.TFRecordWriter(str(temporary)) as writer:
        for record, _ in kept:
            writer.write(record)


def read_records(path: str) -> list[dict]:
    """The records in a metrics.jsonl; a last line cut short by a crash is ignored."""
    if not os.path.exists(path):
        return []
    records = []
    with open(path, encoding="utf-8") as file:
        for line in file:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                break
    return records


def plot_records(records: list[dict], path: str, title: str = "") -> None:
    """Writes the learning curves of `records` (see `History.record`) as a PNG, atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in dict.fromkeys(k for r in records for k in r) if k not in ("step", "split")]
    columns = min(3, len(keys))
    rows = -(-len(keys) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.5 * columns, 3.2 * rows), squeeze=False)
    for axis, key in zip(axes.flat, keys, strict=False):
        for split, style in (("train", "-"), ("eval", "o-")):
            points = [(r["step"], r[key]) for r in records if r["split"] == split and key in r]
            if points:
                axis.plot(*zip(*points, strict=True), style, label=split, markersize=4)
        axis.set_title(key)
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small")
    for axis in list(axes.flat)[len(keys):]:
        axis.axis("off")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=100)
    finally:
        plt.close(figure)
    write_bytes(path, buffer.getvalue())

