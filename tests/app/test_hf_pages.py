"""The studio on an `hf:` source (a save_to_disk folder): pages render, the gallery shows the
dataset's own images, and a Hub name or a folder outside CORESET_STUDIO_ROOTS is refused."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from studio_helpers import goto, started_studio

datasets = pytest.importorskip("datasets")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_hf_source import _split  # noqa: E402

pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]


@pytest.fixture(scope="module")
def hf_app(tmp_path_factory, session_cache_dir):
    root = tmp_path_factory.mktemp("hf_root")
    datasets.DatasetDict(train=_split(90, 0), test=_split(30, 1)).save_to_disk(str(root / "animals"))
    env = {"CORESET_STUDIO_DATASET": f"hf:{root / 'animals'}", "CORESET_STUDIO_RESOLUTION": "32",
           "CORESET_STUDIO_SCORE_EPOCHS": "2", "CORESET_STUDIO_AUTO_UMAP": "0", "CORESET_STUDIO_LIMIT": "all",
           "CORESET_STUDIO_TEST_LIMIT": "all", "CORESET_CACHE_DIR": str(session_cache_dir),
           "CORESET_STUDIO_ROOTS": str(root)}
    with started_studio(env) as at:
        yield root, at


@pytest.mark.parametrize("page", ["data", "difficulty", "budgets", "accuracy", "gallery"])
def test_pages_render_on_an_hf_folder(hf_app, page):
    goto(hf_app[1], page)


def test_only_allowed_folders_pass(hf_app, tmp_path):
    from coreset_studio.settings import checked_dataset

    root = hf_app[0]
    assert checked_dataset(f"hf:{root / 'animals'}?label=animal") == f"hf:{root / 'animals'}?label=animal"
    with pytest.raises(ValueError, match="outside the folders the studio may open"):
        checked_dataset(f"hf:{tmp_path}")
    with pytest.raises(ValueError, match="outside the folders the studio may open"):
        checked_dataset("hf:cifar10")  # a Hub name resolves to a path under the working folder, not allowed
