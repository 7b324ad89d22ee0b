"""Exports write into a locked `.export-*` folder: one left by an export killed mid-write (SIGKILL, a real process)
is removed by the next export into the same model directory, while a running export's folder is left alone."""

import os
import signal
import subprocess
import sys

from kbert.export import export_model
from kbert.export.staging import remove_stale_staging
from kbert.model_card import version_dirs
from tests.export_support import tiny_classifier, tiny_tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STAGE = ("import sys\nfrom pathlib import Path\nfrom kbert.export.staging import staging_dir\n"
         "with staging_dir(Path(sys.argv[1])) as staging:\n"
         "    (staging / 'saved_model.pb').write_bytes(b'half')\n    print(staging.name, flush=True)\n"
         "    sys.stdin.read()\n")


def _exporter(parent):
    """A process inside an export's staging block, with a half-written file in it; returns it and its folder."""
    process = subprocess.Popen([sys.executable, "-c", STAGE, str(parent)], cwd=ROOT, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    return process, parent / process.stdout.readline().strip()


def test_the_staging_folder_of_a_killed_export_is_removed_and_a_running_ones_kept(tmp_path, capsys):
    parent = tmp_path / "models" / "sentiment"
    parent.mkdir(parents=True)
    killed, killed_dir = _exporter(parent)
    running, running_dir = _exporter(parent)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    (parent / ".export-orphan.lock").touch()  # a lock file whose folder is gone
    try:
        assert killed_dir.is_dir() and running_dir.is_dir()
        assert remove_stale_staging(parent) == [killed_dir]
        assert not killed_dir.exists() and running_dir.is_dir() and (parent / f"{running_dir.name}.lock").exists()
        assert not (parent / ".export-orphan.lock").exists()
        assert f"removed {killed_dir}, left by an export that was stopped mid-write" in capsys.readouterr().err
    finally:
        running.stdin.close()
        running.wait()
    assert os.listdir(parent) == []  # the running export, ended, left nothing


def test_an_export_clears_what_a_killed_export_left(tmp_path):
    parent = tmp_path / "models" / "clf"
    parent.mkdir(parents=True)
    killed, killed_dir = _exporter(parent)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    tokenizer = tiny_tokenizer()
    version = export_model(tiny_classifier(tokenizer), tokenizer, tmp_path / "models", name="clf",
                           label_names=["negative", "neutral", "positive"], seq_length=32)
    assert version == parent / "1" and version_dirs(parent) == {1: version}
    assert sorted(os.listdir(parent)) == ["1"]  # no .export-* folder or lock file left
