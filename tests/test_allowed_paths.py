"""The studio's allowed folders (issue 16): paths outside the roots are refused, also through
symlinks and `..`, and the refusal names CORESET_STUDIO_ROOTS."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from coreset_studio.allowed_paths import (ROOTS_ENV, allowed_roots, check_allowed, check_dataset,
                                        check_folder_tree, is_allowed)


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    """root/ (allowed) with images/ inside; outside/ next to it with a secret file."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "images" / "cat").mkdir(parents=True)
    (root / "images" / "cat" / "a.png").write_bytes(b"png")
    outside.mkdir()
    (outside / "secret.txt").write_text("not for the studio")
    return {"root": root, "outside": outside, "tmp": tmp_path}


def test_path_inside_a_root_is_accepted_and_resolved(tree):
    inside = tree["root"] / "images" / "cat" / "a.png"
    assert check_allowed(inside, [tree["root"]]) == inside.resolve()
    assert check_allowed(tree["root"], [tree["root"]]) == tree["root"].resolve()  # the root itself
    # a not-yet-existing export destination inside the root is fine too
    assert check_allowed(tree["root"] / "exports" / "new", [tree["root"]]) == (tree["root"] / "exports" / "new").resolve()
    # `..` that stays inside is fine
    assert check_allowed(tree["root"] / "images" / ".." / "images", [tree["root"]]) == (tree["root"] / "images").resolve()
    assert is_allowed(inside, [tree["root"]])


def test_path_outside_is_refused_naming_the_setting(tree):
    with pytest.raises(ValueError, match=ROOTS_ENV) as err:
        check_allowed(tree["outside"] / "secret.txt", [tree["root"]])
    assert str(tree["root"].resolve()) in str(err.value)  # says which folders are allowed
    assert not is_allowed(tree["outside"], [tree["root"]])
    with pytest.raises(ValueError, match=ROOTS_ENV):
        check_allowed("/etc/passwd", [tree["root"]])


def test_dotdot_escape_is_refused(tree):
    escape = tree["root"] / "images" / ".." / ".." / "outside" / "secret.txt"
    with pytest.raises(ValueError, match="resolves to .*outside"):
        check_allowed(escape, [tree["root"]])
    # through a folder that does not exist yet (an export destination)
    with pytest.raises(ValueError, match=ROOTS_ENV):
        check_allowed(tree["root"] / "new" / ".." / ".." / "outside", [tree["root"]])


def test_a_sibling_with_the_root_as_name_prefix_is_outside(tree):
    sibling = tree["tmp"] / "root-evil"
    sibling.mkdir()
    with pytest.raises(ValueError, match=ROOTS_ENV):
        check_allowed(sibling, [tree["root"]])


def test_symlink_inside_a_root_pointing_outside_is_refused(tree):
    link = tree["root"] / "shortcut"
    link.symlink_to(tree["outside"], target_is_directory=True)
    with pytest.raises(ValueError, match=ROOTS_ENV):
        check_allowed(link, [tree["root"]])
    with pytest.raises(ValueError, match=ROOTS_ENV):
        check_allowed(link / "secret.txt", [tree["root"]])
    file_link = tree["root"] / "images" / "cat" / "b.png"
    file_link.symlink_to(tree["outside"] / "secret.txt")
    with pytest.raises(ValueError, match=ROOTS_ENV):
        check_allowed(file_link, [tree["root"]])


def test_symlink_to_a_place_inside_is_fine_and_a_symlinked_root_works(tree):
    inner = tree["root"] / "alias"
    inner.symlink_to(tree["root"] / "images", target_is_directory=True)
    assert check_allowed(inner, [tree["root"]]) == (tree["root"] / "images").resolve()
    # a root given through a symlink covers the real folder
    root_link = tree["tmp"] / "root-link"
    root_link.symlink_to(tree["root"], target_is_directory=True)
    assert check_allowed(tree["root"] / "images", [root_link]) == (tree["root"] / "images").resolve()


def test_folder_tree_refuses_an_escaping_link_deep_inside(tree):
    images = tree["root"] / "images"
    assert check_folder_tree(images, [tree["root"]]) == images.resolve()
    (images / "cat" / "c.png").symlink_to(tree["outside"] / "secret.txt")
    with pytest.raises(ValueError, match="c.png"):
        check_folder_tree(images, [tree["root"]])


def test_check_dataset_only_restricts_image_folders(tree):
    assert check_dataset("cifar10-lt", [tree["root"]]) == "cifar10-lt"
    images = tree["root"] / "images"
    assert check_dataset(f"imagefolder:{images}", [tree["root"]]) == f"imagefolder:{images.resolve()}"
    with pytest.raises(ValueError, match=ROOTS_ENV):
        check_dataset(f"imagefolder:{tree['outside']}", [tree["root"]])


def test_empty_path_is_refused():
    with pytest.raises(ValueError, match="no path"):
        check_allowed("  ", ["/"])


def test_default_roots_are_data_cache_and_the_setting(tree, monkeypatch):
    monkeypatch.setenv("CORESET_DATA_DIR", str(tree["tmp"] / "data"))
    monkeypatch.setenv("CORESET_CACHE_DIR", str(tree["tmp"] / "cache"))
    monkeypatch.setenv(ROOTS_ENV, os.pathsep.join([str(tree["root"]), "", str(tree["root"])]))
    roots = allowed_roots()
    assert roots == ((tree["tmp"] / "data").resolve(), (tree["tmp"] / "cache").resolve(), tree["root"].resolve())
    assert check_allowed(tree["tmp"] / "cache" / "emb.npz") == (tree["tmp"] / "cache" / "emb.npz").resolve()
    assert check_allowed(tree["root"] / "images") == (tree["root"] / "images").resolve()
    with pytest.raises(ValueError, match=ROOTS_ENV):
        check_allowed(tree["outside"])
    monkeypatch.delenv(ROOTS_ENV)
    with pytest.raises(ValueError, match=ROOTS_ENV):  # no longer listed -> refused
        check_allowed(tree["root"] / "images")


def test_check_dataset_restricts_embeddings_files_too(tree):
    inside = tree["root"] / "emb.npz"
    inside.write_bytes(b"")
    assert check_dataset(f"embeddings:{inside}", [tree["root"]]) == f"embeddings:{inside.resolve()}"
    with pytest.raises(ValueError, match=ROOTS_ENV):
        check_dataset(f"embeddings:{tree['outside'] / 'emb.npz'}", [tree["root"]])
    link = tree["root"] / "link.npz"  # a symlink inside a root that points outside is refused
    link.symlink_to(tree["outside"] / "secret.txt")
    with pytest.raises(ValueError, match=ROOTS_ENV):
        check_dataset(f"embeddings:{link}", [tree["root"]])
