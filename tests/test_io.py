"""kbert.io: files are written whole or not at all, and a JSON error says where it is."""

import stat

import pytest

from kbert.io import read_json, replacing, write_bytes, write_json, write_text


def test_files_are_written_whole_and_readable_by_all(tmp_path):
    """The atomic writer leaves no temporary file and gives the mode a plain write would (not the temporary
    file's owner-only 0600), so a model server under another user can read what a run wrote."""
    write_text(tmp_path / "settings.json", "{}\n")
    write_bytes(tmp_path / "curve.png", b"\x89PNG")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curve.png", "settings.json"]
    for name in ("settings.json", "curve.png"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name
    assert (tmp_path / "settings.json").read_text() == "{}\n"


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "labels.json"
    write_json(path, ["negative", "positive"])
    with pytest.raises(RuntimeError), replacing(path) as temporary:
        temporary.write_text("[\"half")
        raise RuntimeError("killed mid-write")
    assert [p.name for p in tmp_path.iterdir()] == ["labels.json"]
    assert read_json(path) == ["negative", "positive"]


def test_json_is_written_indented_with_its_characters_as_they_are(tmp_path):
    write_json(tmp_path / "nested" / "labels.json", ["负面", "正面"])  # the folder is made
    assert (tmp_path / "nested" / "labels.json").read_text(encoding="utf-8") == '[\n  "负面",\n  "正面"\n]\n'


def test_a_json_syntax_error_names_the_file_line_and_column(tmp_path):
    path = tmp_path / "kbert.json"
    path.write_text('{\n  "name": "zh",\n  "seq_length": 128,\n}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"kbert\.json: not valid JSON \(line 4, column 1\): "):
        read_json(path)
