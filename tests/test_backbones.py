"""The offline pretrained weights are real: they classify real photos correctly."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from coreset_core.backbones import OFFLINE_BACKBONES, list_backbones, load_backbone, map_efficientnet_pytorch_keys
from coreset_core.features import prepare_image, to_model_input

CAT_CLASSES = {281, 282, 285}  # tabby, tiger cat, Egyptian cat
ESPRESSO = 967


def _probabilities(backbone, photo: np.ndarray) -> torch.Tensor:
    prep = backbone.preprocessing
    x = to_model_input(prepare_image(Image.fromarray(photo), prep.input_size, prep.interpolation,
                                     prep.crop_pct)[None], backbone, "cpu")
    with torch.inference_mode():
        return backbone.model(x).softmax(-1)[0]


@pytest.mark.parametrize("name", list_backbones())
def test_offline_weights_classify_real_photos(name):
    from skimage import data

    backbone = load_backbone(name)
    assert backbone.num_features == 1280
    assert backbone.preprocessing.mean == (0.5, 0.5, 0.5)
    assert backbone.preprocessing.interpolation == "bicubic"
    cat = _probabilities(backbone, data.chelsea())
    assert CAT_CLASSES & set(cat.topk(3).indices.tolist())
    coffee = _probabilities(backbone, data.coffee())
    assert int(coffee.argmax()) == ESPRESSO


def test_preprocessing_comes_from_the_model():
    sizes = {name: load_backbone(name).preprocessing for name in ("efficientnet_lite0", "efficientnet_lite2")}
    assert sizes["efficientnet_lite0"].input_size == 224 and sizes["efficientnet_lite0"].crop_pct == 0.875
    assert sizes["efficientnet_lite2"].input_size == 260


def test_key_map_is_complete_and_strict():
    import timm

    from coreset_core.backbones import offline_weights_path

    state = torch.load(offline_weights_path("efficientnet_lite0"), map_location="cpu", weights_only=True)
    model = timm.create_model(OFFLINE_BACKBONES["efficientnet_lite0"]["timm"])
    mapped = map_efficientnet_pytorch_keys(state, model)
    assert set(mapped) == set(model.state_dict())
    with pytest.raises(KeyError, match="no counterpart"):
        map_efficientnet_pytorch_keys({"_mystery.weight": torch.zeros(1)}, model)


def test_unknown_backbone_and_missing_checkpoint(tmp_path):
    with pytest.raises(ValueError, match="unknown backbone"):
        load_backbone("not_a_model_at_all")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_backbone("resnet18", checkpoint=tmp_path / "nope.pth")
    with pytest.raises(ValueError, match="no offline weights"):
        load_backbone("resnet18")


def test_timm_model_from_local_checkpoint(tmp_path):
    import timm

    ref = timm.create_model("resnet10t", num_classes=10)
    path = tmp_path / "r10.pth"
    torch.save(ref.state_dict(), path)
    backbone = load_backbone("resnet10t", checkpoint=path)
    for k, v in ref.state_dict().items():
        if k in backbone.model.state_dict() and not k.startswith("fc"):
            assert torch.equal(backbone.model.state_dict()[k], v)
