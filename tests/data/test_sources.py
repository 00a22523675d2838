"""Sources: each kind yields its documents in a fixed order; bad specs fail with one line naming the path."""

from __future__ import annotations

import itertools
import os
import sysconfig
from pathlib import Path

import numpy as np
import pytest

from scalinglab.config import ConfigError
from scalinglab.data import sources

from .helpers import DOCS, write_jsonl


def test_stdlib_is_sorted_python_sources_without_site_packages():
    files = sources._stdlib_files()
    root = Path(sysconfig.get_paths()["stdlib"])
    rel = [p.relative_to(root).as_posix() for p in files]
    assert len(files) > 500 and rel == sorted(rel)
    assert all(r.endswith(".py") for r in rel)
    assert not any("site-packages" in r or "dist-packages" in r for r in rel)
    assert "os.py" in rel


def test_stdlib_documents_are_deterministic_file_contents():
    first = list(itertools.islice(sources.iter_documents("stdlib"), 3))
    again = list(itertools.islice(sources.iter_documents("stdlib"), 3))
    assert first == again
    expected = [p.read_text(encoding="utf-8", errors="replace") for p in sources._stdlib_files()[:10]]
    assert first == [t for t in expected if t][:3]


def test_txt_files_one_document_each_in_sorted_order(tmp_path):
    (tmp_path / "b.txt").write_text("second")
    (tmp_path / "a.txt").write_text("first")
    (tmp_path / "empty.txt").write_text("")  # empty documents are skipped
    assert list(sources.iter_documents(f"files:{tmp_path}/*.txt")) == ["first", "second"]


def test_jsonl_one_document_per_line(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", DOCS[:3])
    path.write_text(path.read_text() + "\n\n")  # blank lines are not documents
    assert list(sources.iter_documents(f"files:{path}")) == DOCS[:3]


def test_c4_json_gz_shards(tmp_path):
    write_jsonl(tmp_path / "c4-train.00000-of-01024.json.gz", DOCS[:2], gz=True)
    write_jsonl(tmp_path / "c4-train.00001-of-01024.json.gz", DOCS[2:5], gz=True)
    assert list(sources.iter_documents(f"files:{tmp_path}/c4-train.*.json.gz")) == DOCS[:5]


def test_recursive_glob(tmp_path):
    (tmp_path / "x" / "y").mkdir(parents=True)
    (tmp_path / "x" / "y" / "deep.txt").write_text("deep")
    assert list(sources.iter_documents(f"files:{tmp_path}/**/*.txt")) == ["deep"]


def test_no_matching_files_names_the_glob(tmp_path):
    pattern = f"{tmp_path}/nothing-*.jsonl"
    with pytest.raises(ConfigError, match="no files match") as err:
        list(sources.iter_documents(f"files:{pattern}"))
    assert pattern in str(err.value) and "\n" not in str(err.value)


def test_unreadable_file_names_the_path(tmp_path):
    bad = tmp_path / "broken.json.gz"
    bad.write_bytes(b"this is not gzip")
    with pytest.raises(ConfigError, match="cannot read") as err:
        list(sources.iter_documents(f"files:{bad}"))
    assert str(bad) in str(err.value)


def test_json_line_without_text_names_path_and_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "ok"}\n{"body": "no text"}\n')
    with pytest.raises(ConfigError, match=f"{path}:2"):
        list(sources.iter_documents(f"files:{path}"))


def test_unsupported_file_type(tmp_path):
    (tmp_path / "d.csv").write_text("a,b")
    with pytest.raises(ConfigError, match="unsupported file type"):
        list(sources.iter_documents(f"files:{tmp_path}/d.csv"))


def test_fingerprint_tracks_file_changes_without_reading(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("one")
    before = sources.source_fingerprint(f"files:{path}")
    assert sources.source_fingerprint(f"files:{path}") == before
    path.write_text("two!")
    os.utime(path, ns=(1, 1))
    assert sources.source_fingerprint(f"files:{path}") != before


def test_eval_mask_is_stable_and_by_content():
    mask = sources.eval_mask(DOCS, 0.3, "test")
    assert 0 < mask.sum() < len(DOCS)
    # The choice depends on the text alone: reversing the order reverses the mask.
    assert np.array_equal(sources.eval_mask(DOCS[::-1], 0.3, "test"), mask[::-1])
    # Duplicates land on the same side, so eval never holds a copy of a training document.
    dup = sources.eval_mask(DOCS + DOCS, 0.3, "test")
    assert np.array_equal(dup[: len(DOCS)], dup[len(DOCS):])


def test_eval_mask_keeps_both_splits_non_empty():
    assert sources.eval_mask(["a", "b", "c"], 1e-9, "test").sum() == 1
    assert sources.eval_mask(["a", "b", "c"], 1 - 1e-9, "test").sum() == 2
    with pytest.raises(ConfigError, match="only one document"):
        sources.eval_mask(["a"], 0.5, "src")
    with pytest.raises(ConfigError, match="no .*documents"):
        sources.eval_mask([], 0.5, "src")


def test_hf_json_on_a_local_file(tmp_path):
    pytest.importorskip("datasets", reason="the optional 'datasets' package (scalinglab[hf]) is not installed")
    path = write_jsonl(tmp_path / "d.jsonl", DOCS[:4])
    assert list(sources.iter_documents(f"hf:json:{path}")) == DOCS[:4]
    assert sources.source_fingerprint(f"hf:json:{path}")[1] == sources.source_fingerprint(f"files:{path}")[1]


def test_hf_without_files_for_a_file_builder():
    pytest.importorskip("datasets", reason="the optional 'datasets' package (scalinglab[hf]) is not installed")
    with pytest.raises(ConfigError, match="needs files"):
        list(sources.iter_documents("hf:json"))


def test_hf_without_datasets_installed_says_what_to_install(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "datasets", None)  # makes `import datasets` fail
    with pytest.raises(ConfigError, match=r"scalinglab\[hf\]"):
        list(sources.iter_documents("hf:allenai/c4:en"))


def test_hf_json_with_no_matching_files(tmp_path):
    pytest.importorskip("datasets", reason="the optional 'datasets' package (scalinglab[hf]) is not installed")
    with pytest.raises(ConfigError, match="no files match"):
        list(sources.iter_documents(f"hf:json:{tmp_path}/none-*.jsonl"))
