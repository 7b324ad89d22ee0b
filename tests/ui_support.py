"""Shared by the app's tests: two tiny exported models (a pretrainer and a sentiment classifier, random weights) and
the app served from them in a process of its own, as `python -m ui` starts it."""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import keras
import numpy as np

from kbert.config import BertConfig
from kbert.export import export_model
from kbert.models import BertBackbone, BertClassifier, BertPretrainer
from kbert.text.tokenizer import BertTokenizer
from kbert.text.vocab import train_vocabulary

ROOT = Path(__file__).resolve().parent.parent
SEQ_LENGTH = 32
LABELS = ["negative", "positive"]
CORPUS = [
    "今天天气很好，我们去公园散步吧。", "北京是中国的首都，有三千多年的历史。", "这本书写得非常好，值得一读。",
    "质量太差了，用了两天就坏了。", "我今天去超市买了很多水果，苹果和香蕉都很新鲜。", "股市昨天大幅下跌。",
    "物流很快，包装也很好，满意！", "服务态度很差，再也不来了。", "The weather is nice today.",
]


@functools.cache
def export_tiny_models(root: Path) -> dict[str, Path]:
    """Exports a tiny pretrainer (`zh-tiny`) and classifier (`sentiment-tiny`) under `root`, once per process and
    root; returns their version directories by name."""
    keras.utils.set_random_seed(7)
    tokenizer = BertTokenizer(train_vocabulary(CORPUS, vocab_size=200), lowercase=True)
    config = BertConfig.from_preset("tiny", vocab_size=tokenizer.vocab_size, hidden_size=32, num_attention_heads=2,
                                    intermediate_size=64, max_position_embeddings=SEQ_LENGTH)
    ids = np.array([[tokenizer.cls_id, 10, tokenizer.mask_id, tokenizer.sep_id]], "int32")
    inputs = {"token_ids": ids, "segment_ids": 0 * ids, "padding_mask": np.ones_like(ids)}
    pretrainer = BertPretrainer(BertBackbone(config))
    pretrainer({**inputs, "mask_positions": np.array([[2]], "int32")})
    classifier = BertClassifier(BertBackbone(config), num_labels=len(LABELS))
    classifier(inputs)
    return {
        "zh-tiny": export_model(pretrainer, tokenizer, root, name="zh-tiny", seq_length=SEQ_LENGTH,
                                model_card={"data": "nine sentences (tests)", "metrics": {"mlm_accuracy": 0.0}}),
        "sentiment-tiny": export_model(classifier, tokenizer, root, name="sentiment-tiny", label_names=LABELS,
                                       seq_length=SEQ_LENGTH, model_card={"data": "none: random weights (tests)"}),
    }


def screenshot_dir(tmp_path_factory) -> Path:
    """Where the UI tests save their screenshots: $KBERT_SCREENSHOTS (created, and kept after the run) when it is
    set, else a temporary folder of the test session."""
    chosen = os.environ.get("KBERT_SCREENSHOTS")
    if not chosen:
        return tmp_path_factory.mktemp("screenshots")
    path = Path(chosen)
    path.mkdir(parents=True, exist_ok=True)
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_app(models_dir: Path, log_path: Path, timeout: float = 180.0) -> Iterator[str]:
    """Runs `python -m ui --models-dir models_dir --no-browser` on a free loopback port until the block ends; yields
    its URL once the page answers. The server's output goes to `log_path`."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "GRADIO_ANALYTICS_ENABLED": "False"}
    with open(log_path, "wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "ui", "--models-dir", str(models_dir), "--port", str(port),
                                   "--no-browser"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_until_serving(url, server, log_path, timeout)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=30)


def _wait_until_serving(url: str, server: subprocess.Popen, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the app exited with code {server.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)  # poll interval while the server starts, not a wait for a result
    raise RuntimeError(f"the app did not answer at {url} within {timeout:.0f} s:\n{log_path.read_text()[-3000:]}")
