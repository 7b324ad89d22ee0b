"""Load on the app, loopback only: concurrent gradio_client clients, each sending requests back to back for a fixed
time, must all be answered. Prints median and 95th-percentile latency.

    UI_LOAD_CLIENTS=20 UI_LOAD_SECONDS=30 pytest tests/test_ui_load.py -s     # the full run (CI uses fewer seconds)
"""

import collections
import itertools
import os
import statistics
import threading
import time

import numpy as np
import pytest
from gradio_client import Client

from tests.ui_support import LABELS, export_tiny_models, running_app

CLIENTS = int(os.environ.get("UI_LOAD_CLIENTS", "20"))
SECONDS = float(os.environ.get("UI_LOAD_SECONDS", "8"))


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    models = export_tiny_models(tmp_path_factory.getbasetemp() / "ui_models")
    log = tmp_path_factory.mktemp("ui_load") / "server.log"
    with running_app(models["zh-tiny"].parent.parent, log) as url:
        yield url, str(models["zh-tiny"]), str(models["sentiment-tiny"])


def _requests(pretrainer: str, classifier: str) -> list[tuple[str, tuple, callable]]:
    """(endpoint, inputs, check of the outputs) for each tab's main button, cycled through by every client."""
    def fill_ok(outputs) -> bool:
        predictions, tokens, status = outputs
        return predictions.count('class="kb-cand"') == 5 and "[MASK]" in tokens and "Problem" not in status

    def pair_ok(outputs) -> bool:
        nsp, labels, _, tokens, status = outputs
        return (abs(sum(c["confidence"] for c in nsp["confidences"]) - 1) < 1e-3 and 'data-segment="1"' in tokens
                and {c["label"] for c in labels["confidences"]} == set(LABELS) and "Problem" not in status)

    def classify_ok(outputs) -> bool:
        scores, summary, gradient, integrated, status = outputs
        return ({c["label"] for c in scores["confidences"]} == set(LABELS) and len(gradient) > 0
                and len(integrated) == len(gradient) and "add up to" in summary and "Problem" not in status)

    # The page's language is the last input of every endpoint; English here, so the checks read English.
    return [("/fill_mask", (pretrainer, "今天天气很[MASK]。", 5, "en"), fill_ok),
            ("/sentence_pair", (pretrainer, classifier, "北京是中国的首都。", "它有三千多年的历史。", "en"), pair_ok),
            ("/classify", (classifier, "这本书写得非常好，值得一读。", "", "en"), classify_ok)]


def test_concurrent_clients_all_get_answers(served, record_property):
    url, pretrainer, classifier = served
    requests = _requests(pretrainer, classifier)
    clients = [Client(url, verbose=False, analytics_enabled=False, download_files=False) for _ in range(CLIENTS)]
    latencies, failures, lock = collections.defaultdict(list), [], threading.Lock()
    deadline = time.monotonic() + SECONDS

    def run(client: Client, offset: int) -> None:
        for api_name, inputs, ok in itertools.islice(itertools.cycle(requests), offset, None):
            if time.monotonic() >= deadline:
                return
            start = time.perf_counter()
            try:
                outputs = client.predict(*inputs, api_name=api_name)
                problem = None if ok(outputs) else f"{api_name}: unexpected outputs {outputs!r:.300}"
            except Exception as error:  # every failure is counted, whatever raised it
                problem = f"{api_name}: {type(error).__name__}: {error}"
            with lock:
                latencies[api_name].append(time.perf_counter() - start)
                if problem:
                    failures.append(problem)

    threads = [threading.Thread(target=run, args=(client, i)) for i, client in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    every = [latency for values in latencies.values() for latency in values]
    report = "\n".join([f"{CLIENTS} clients for {SECONDS:.0f} s: {len(every)} requests ({len(every) / SECONDS:.1f}/s), "
                        f"{len(failures)} failed; latency {_summary(every)}",
                        *(f"  {api_name}: {len(values)} requests, {_summary(values)}"
                          for api_name, values in sorted(latencies.items()))])
    print(report)
    record_property("load", report)
    assert failures == [], failures[:5]
    assert len(every) >= CLIENTS  # every client was answered at least once


def _summary(latencies: list[float]) -> str:
    return (f"median {statistics.median(latencies) * 1000:.0f} ms, "
            f"95th percentile {np.percentile(latencies, 95) * 1000:.0f} ms")
