"""Paths of import_csv and export_csv stay inside the data root (KAFKAPIPELINE_DATA_ROOT).

Real folders and symlinks under pytest's tmp_path; no services.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from kafkapipeline import settings
from kafkapipeline.csvio.export import default_export_dir, export_day, export_dir_of
from kafkapipeline.csvio.formats import CsvImportError
from kafkapipeline.csvio.load import csv_files, resolve_import_path
from kafkapipeline.csvio.paths import (
    MAX_PATH_LENGTH,
    PATH_PARAM_PATTERN,
    PathOutsideDataRoot,
    check_opened,
    confine,
)


@pytest.fixture
def outside(tmp_path) -> Path:
    """A folder next to the data root, with a CSV the import must never read."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.csv").write_text("not yours\n")
    return folder.resolve()


def refused(match: str):
    return pytest.raises(PathOutsideDataRoot, match=match)


def test_default_data_root_is_under_the_state_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("KAFKAPIPELINE_DATA_ROOT", raising=False)
    monkeypatch.setenv("KAFKAPIPELINE_STATE", str(tmp_path / "state"))
    assert settings.data_root() == tmp_path / "state" / "data"
    monkeypatch.delenv("KAFKAPIPELINE_STATE")
    assert settings.data_root() == Path(settings.__file__).resolve().parents[2] / ".state" / "data"
    monkeypatch.setenv("KAFKAPIPELINE_DATA_ROOT", str(tmp_path / "elsewhere"))
    assert settings.data_root() == tmp_path / "elsewhere"


def test_relative_paths_start_at_the_root_and_absolute_ones_inside_it_are_kept(data_root):
    (data_root / "seed").mkdir()
    (data_root / "seed" / "a.csv").write_text("x\n")

    assert confine("seed/a.csv") == data_root / "seed" / "a.csv"
    assert confine(str(data_root / "seed" / "a.csv")) == data_root / "seed" / "a.csv"
    assert confine("  seed  ") == data_root / "seed"  # Param values are trimmed
    assert confine("not/yet/there") == data_root / "not" / "yet" / "there"  # export dirs may not exist yet
    assert resolve_import_path("seed/a.csv") == data_root / "seed" / "a.csv"


@pytest.mark.parametrize("path", ["../outside/secret.csv", "seed/../../outside", "seed/../a.csv", ".."])
def test_dot_dot_is_refused_even_when_it_would_stay_inside(data_root, path):
    with refused(
        f"contains '..'; paths must stay inside the data root {re.escape(str(data_root))} "
        r"\(set KAFKAPIPELINE_DATA_ROOT to change it\)"
    ):
        confine(path)


def test_absolute_paths_outside_the_root_are_refused(data_root, outside):
    for path in (str(outside / "secret.csv"), "/etc/passwd", "/", str(data_root.parent)):
        root = re.escape(str(data_root))
        with refused(f"is outside the data root; paths must stay inside the data root {root}"):
            confine(path)
    # A sibling whose name starts with the root's name is not inside it.
    sibling = data_root.parent / (data_root.name + "-other")
    sibling.mkdir()
    with refused("is outside the data root"):
        confine(str(sibling))


def test_symlinks_out_of_the_root_are_refused_and_those_inside_followed(data_root, outside):
    (data_root / "to_outside").symlink_to(outside, target_is_directory=True)
    (data_root / "secret.csv").symlink_to(outside / "secret.csv")
    (data_root / "real").mkdir()
    (data_root / "real" / "a.csv").write_text("x\n")
    (data_root / "alias").symlink_to(data_root / "real", target_is_directory=True)

    for path in ("to_outside", "to_outside/secret.csv", "secret.csv", str(data_root / "secret.csv")):
        with refused(f"through a symlink, to {re.escape(str(outside))}.*KAFKAPIPELINE_DATA_ROOT"):
            confine(path)
    # Resolved: the file opened is the one checked.
    assert confine("alias/a.csv") == data_root / "real" / "a.csv"


def test_a_folder_import_refuses_a_symlink_out_before_reading_any_file(data_root, outside):
    folder = data_root / "batch"
    folder.mkdir()
    (folder / "fine.csv").write_text("x\n")
    (folder / "zz.csv").symlink_to(outside / "secret.csv")

    with refused(r"file '.*zz\.csv' is outside the data root \(through a symlink"):
        csv_files("batch")
    (folder / "zz.csv").unlink()
    (folder / ".hidden.csv").write_text("temporary\n")
    assert csv_files("batch") == [folder / "fine.csv"]


def test_missing_path_names_the_root(data_root):
    root = re.escape(str(data_root))
    with pytest.raises(CsvImportError, match=f"nothing.csv does not exist .*data root {root}"):
        csv_files("nothing.csv")


def test_empty_long_and_control_character_paths_are_refused(data_root):
    with refused("path is empty"):
        confine("  ")
    with refused(f"more than {MAX_PATH_LENGTH}"):
        confine("a" * (MAX_PATH_LENGTH + 1))
    with refused("control characters"):
        confine("a\x00b")
    with refused("control characters"):
        confine("a\nb")


def test_a_relative_data_root_is_refused(monkeypatch):
    monkeypatch.setenv("KAFKAPIPELINE_DATA_ROOT", "relative/data")
    with refused("KAFKAPIPELINE_DATA_ROOT must be an absolute path, got 'relative/data'"):
        confine("a.csv")


def test_export_dir_defaults_to_exports_in_the_root_and_is_confined(data_root, outside, monkeypatch):
    assert default_export_dir() == data_root / "exports"
    assert export_dir_of(None) == export_dir_of("") == data_root / "exports"
    assert export_dir_of("daily") == data_root / "daily"
    monkeypatch.setenv("KAFKAPIPELINE_EXPORT_DIR", "nightly")
    assert export_dir_of(None) == data_root / "nightly"
    monkeypatch.setenv("KAFKAPIPELINE_EXPORT_DIR", str(outside))
    with refused("KAFKAPIPELINE_EXPORT_DIR .* is outside the data root"):
        export_dir_of(None)
    with refused("export_dir '/tmp' is outside the data root"):
        export_dir_of("/tmp")
    with refused("export_dir '../outside' contains '..'"):
        export_dir_of("../outside")


def test_export_refuses_a_table_folder_that_is_a_symlink_out(data_root, outside):
    exports = data_root / "exports"
    exports.mkdir()
    (exports / "tweets").symlink_to(outside, target_is_directory=True)

    with refused("export file .* is outside the data root"):
        export_day(None, "ks", exports, date(2026, 11, 22), cities=["Vancouver"], tables=["tweets"])
    assert sorted(p.name for p in outside.iterdir()) == ["secret.csv"]  # nothing written there


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("exports/tweets/2026-11-22.csv", True),
        ("/srv/data/seed.csv", True),  # absolute: the task checks it against the root
        ("dots..in..names.csv", True),
        ("../etc/passwd", False),
        ("a/../../b", False),
        ("a/..", False),
        ("..", False),
        ("a\x00b", False),
        ("a\tb", False),
        ("", False),
    ],
)
def test_path_param_pattern(value, ok):
    assert (re.search(PATH_PARAM_PATTERN, value) is not None) is ok


def test_an_open_file_is_checked_again_where_proc_tells_what_it_is(data_root, outside):
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("no /proc/self/fd on this system: check_opened is a no-op there")
    (data_root / "a.csv").write_text("x\n")
    with (data_root / "a.csv").open("rb") as inside:
        check_opened(inside.fileno())
    with (outside / "secret.csv").open("rb") as stream, refused("secret.csv' is outside the data root"):
        check_opened(stream.fileno())
