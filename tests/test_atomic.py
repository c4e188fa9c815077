"""zoo.atomic: the one writer every file in the zoo goes through."""

from __future__ import annotations

import os
import stat

import pytest

from zoo import atomic


def test_a_write_replaces_the_file_whole_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "sub" / "table.jsonl"
    atomic.atomic_write_text(target, "old\n")
    atomic.atomic_write_text(target, "new\n")
    assert target.read_text() == "new\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["table.jsonl"]


def test_a_failed_write_keeps_the_old_file_and_cleans_up(tmp_path):
    target = tmp_path / "model.safetensors"
    atomic.atomic_write_bytes(target, b"old")
    with pytest.raises(RuntimeError), atomic.atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


def test_the_file_and_its_folder_are_fsynced_before_and_after_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", stat.S_ISDIR(os.fstat(fd).st_mode)))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", None))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    atomic.atomic_write_text(tmp_path / "config.json", "{}")
    assert events == [("fsync", False), ("replace", None), ("fsync", True)]


def test_the_temp_name_keeps_the_suffix_and_the_file_gets_umask_permissions(tmp_path):
    with atomic.atomic_path(tmp_path / "curves.png") as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".png"
        tmp.write_bytes(b"png")
    mode = stat.S_IMODE((tmp_path / "curves.png").stat().st_mode)
    assert mode == 0o666 & ~atomic.current_umask()
