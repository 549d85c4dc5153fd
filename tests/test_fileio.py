"""aichoreo.fileio: atomic writes and staging folders under names and places a user can give."""

from __future__ import annotations

import os

import pytest

from aichoreo.errors import InputError
from aichoreo.fileio import atomic_path, check_writable, clean_stale_staging, staging_folder


def test_a_file_with_the_longest_legal_name_is_written(tmp_path):
    """Its hidden temporary name is made of a shortened name: the whole one and mkstemp's additions
    went over the 255 bytes a name may have."""
    target = tmp_path / ("ü" * 125 + ".mp4")  # 254 bytes
    with atomic_path(target) as tmp:
        assert len(tmp.name.encode()) <= 255 and tmp.name.startswith(".") and tmp.suffix == ".mp4"
        tmp.write_bytes(b"video")
    assert [p.name for p in tmp_path.iterdir()] == [target.name] and target.read_bytes() == b"video"


def test_a_staging_folder_of_a_long_name_is_found_again_by_the_cleaner(tmp_path):
    prefix = "ß" * 120 + ".staging"
    with staging_folder(tmp_path, prefix) as folder:
        assert len(folder.name.encode()) <= 255
        killed = folder.with_name(folder.name[:-1] + "~")  # another run's of the same song, its lock free
        killed.mkdir()
        (killed / ".aichoreo-staging.lock").touch()
        assert clean_stale_staging(tmp_path, prefix) == [killed]  # and not the live one
        assert folder.is_dir()
    assert list(tmp_path.iterdir()) == []


def test_a_song_whose_name_holds_the_staging_marker_is_staged_and_cleaned(tmp_path):
    prefix = "a~init-b.staging"
    with staging_folder(tmp_path, prefix) as folder:
        assert folder.name.startswith(".a~init-b.staging-")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_where_a_file_is_to_be_written_is_refused_before_the_writer_runs(tmp_path):
    (tmp_path / "dance.mp4").mkdir()
    ran = []
    with pytest.raises(InputError, match="dance.mp4: is a folder; a file is to be written there"):
        with atomic_path(tmp_path / "dance.mp4"):
            ran.append(True)
    assert not ran and [p.name for p in tmp_path.iterdir()] == ["dance.mp4"]


def test_a_place_that_cannot_be_written_is_named_in_the_error(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(InputError) as info:
        with atomic_path(tmp_path / "afile" / "sub" / "out.json"):
            pass
    assert str(info.value) == f"{tmp_path / 'afile' / 'sub' / 'out.json'}: cannot be written: Not a directory"
    with pytest.raises(InputError, match=f"{tmp_path / 'afile'} is a file, not a folder"):
        check_writable(tmp_path / "afile" / "out")
    check_writable(tmp_path / "new" / "deeper")  # made later, in a place that can be written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]
