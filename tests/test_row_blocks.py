"""`coreset_core.row_blocks`: rows of memory-mapped arrays read with pread equal numpy's own indexing."""
from __future__ import annotations

import numpy as np
import pytest

from coreset_core.row_blocks import file_rows, gather_rows, is_mapped, read_rows, row_blocks


@pytest.fixture(params=["<f4", ">f8", "<i2"])
def mapped(request, tmp_path):
    rng = np.random.default_rng(3)
    arr = (rng.standard_normal((97, 7)) * 100).astype(request.param)
    np.save(tmp_path / "x.npy", arr)
    return arr, np.load(tmp_path / "x.npy", mmap_mode="r")


def test_blocks_and_ranges_equal_slices(mapped):
    arr, mm = mapped
    assert is_mapped(mm) and is_mapped(np.asarray(mm)) and not is_mapped(arr)
    for rows in (1, 5, 16, 97, 500):
        blocks = list(row_blocks(mm, rows))
        assert [s for s, _ in blocks] == list(range(0, 97, rows))
        for s, block in blocks:
            assert block.dtype == arr.dtype and np.array_equal(block, arr[s:s + rows])
            assert not np.shares_memory(block, mm)  # a copy, not a view of the mapping
    for a, b in ((0, 0), (3, 4), (10, 96), (90, 200), (96, 97)):
        assert np.array_equal(read_rows(mm, a, b), arr[a:b])


def test_gather_equals_fancy_indexing_for_any_order_and_repeats(mapped):
    arr, mm = mapped
    rng = np.random.default_rng(0)
    for idx in (np.arange(97), np.array([5]), np.array([], dtype=np.int64), np.array([96, 0, 96, 3, 3, 50]),
                rng.integers(0, 97, 400), np.sort(rng.choice(97, 40, replace=False))):
        assert np.array_equal(gather_rows(mm, idx), arr[idx])
    with pytest.raises(IndexError):
        gather_rows(mm, np.array([97]))


def test_views_of_a_mapping_are_read_at_their_own_offset(mapped):
    arr, mm = mapped
    view = mm[13:60]
    where = file_rows(view)
    assert where is not None and where.offset == file_rows(mm).offset + 13 * where.row_bytes
    assert np.array_equal(gather_rows(view, np.array([0, 46, 2])), arr[13:60][[0, 46, 2]])
    assert np.array_equal(read_rows(view, 40, 50), arr[53:60])
    columns = mm[:, 2:5]  # not C-contiguous: read through the mapping, still correct
    assert not is_mapped(columns)
    assert np.array_equal(gather_rows(columns, np.array([4, 1])), arr[[4, 1], 2:5])


def test_in_memory_arrays_are_sliced_without_copies():
    arr = np.arange(40, dtype=np.float32).reshape(10, 4)
    for s, block in row_blocks(arr, 3):
        assert np.shares_memory(block, arr) and np.array_equal(block, arr[s:s + 3])
    assert np.shares_memory(read_rows(arr, 2, 5), arr)


def test_unflushed_writes_to_a_shared_mapping_are_read_and_copy_on_write_maps_are_not_preaded(tmp_path):
    mm = np.lib.format.open_memmap(tmp_path / "w.npy", mode="w+", dtype=np.float32, shape=(20, 3))
    mm[:] = np.arange(60, dtype=np.float32).reshape(20, 3)
    assert is_mapped(mm) and np.array_equal(gather_rows(mm, np.array([19, 0])), mm[[19, 0]])
    del mm
    cow = np.load(tmp_path / "w.npy", mmap_mode="c")
    cow[0] = -1.0  # private to this mapping: a pread of the file would not see it
    assert not is_mapped(cow) and np.array_equal(read_rows(cow, 0, 2)[0], [-1.0, -1.0, -1.0])
