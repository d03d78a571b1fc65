"""Food-101, iNaturalist 2021 mini and ImageNet in torchvision's on-disk layouts.

Each split keeps torchvision's own enumeration: the id of a sample is its index in the
torchvision dataset object of that split (`Food101(root, split)`, `INaturalist(root,
version)`, `ImageNet(root, split)`), so `torch.utils.data.Subset(tv_dataset, ids)` yields
exactly the selected images. Paths are the image files; splits are presented in the fixed
shuffled order like every other source.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from .base import SPLIT_ORDER_SEED, Dataset, ImageSplit, decode_path, fixed_shuffle
from .download import guarded_download

INAT_TRAIN, INAT_TEST = "2021_train_mini", "2021_valid"


def _file_split(name: str, kind: str, paths: list[str], labels: list[int] | np.ndarray, where: Path) -> ImageSplit:
    """A split over image files listed in torchvision's order (id = index in that list)."""
    order = fixed_shuffle(np.arange(len(paths)))
    shuffled = np.asarray(paths, dtype=str)[order]  # one array serves decoding and `paths`
    return ImageSplit(np.asarray(labels, dtype=np.int64)[order], decode_path(shuffled), f"{name} {kind} ({where})",
                      ids=order, paths=shuffled)


def _listing_identity(name: str, root: Path, *splits: tuple[list[str], np.ndarray]) -> str:
    """Identity from the file listing and labels (cheap: no stat of a million files)."""
    h = hashlib.sha1()
    for paths, labels in splits:
        h.update("\n".join(str(Path(p).relative_to(root)) for p in paths).encode())
        h.update(np.asarray(labels, dtype=np.int64).tobytes())
    return f"{name}@{h.hexdigest()[:12]}-shuffled{SPLIT_ORDER_SEED}"


# -- Food-101 ------------------------------------------------------------------------------------------------

def _food101_listing(base: Path, split: str) -> tuple[list[str], list[int], list[str]]:
    """torchvision Food101's enumeration of `split`: meta/<split>.json in its key order, classes sorted."""
    meta_file = base / "meta" / f"{split}.json"
    try:
        metadata = json.loads(meta_file.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{meta_file} is missing or not valid JSON ({exc}); download Food-101 again") from exc
    if not isinstance(metadata, dict) or not metadata or not all(
            isinstance(k, str) and isinstance(v, list) and all(isinstance(r, str) for r in v)
            for k, v in metadata.items()):
        raise ValueError(f"{meta_file} does not have Food-101's structure: expected a JSON object mapping each "
                         "class name to a list of image names like \"apple_pie/1005649\"; download Food-101 again")
    classes = sorted(metadata)
    index = {c: i for i, c in enumerate(classes)}
    paths, labels = [], []
    for cls, rel_paths in metadata.items():
        paths += [str(base / "images" / Path(*f"{rel}.jpg".split("/"))) for rel in rel_paths]
        labels += [index[cls]] * len(rel_paths)
    return paths, labels, classes


def food101(data_dir: Path) -> Dataset:
    """Food-101 (101 dishes, 75,750 train / 25,250 test) from `<data_dir>/food-101`, torchvision's layout."""
    base = data_dir / "food-101"
    if not ((base / "meta").is_dir() and (base / "images").is_dir()):
        def fetch() -> None:
            from torchvision.datasets import Food101

            Food101(str(data_dir), split="train", download=True)

        guarded_download(data_dir, "Food-101 (food-101/images and food-101/meta)", fetch,
                         "download food-101.tar.gz (about 5 GB, from the ETH Zurich Food-101 page or "
                         "torchvision.datasets.Food101(root, download=True) elsewhere) and unpack it so that "
                         f"{base}/images and {base}/meta exist")
    train_paths, train_y, classes = _food101_listing(base, "train")
    test_paths, test_y, test_classes = _food101_listing(base, "test")
    if test_classes != classes:
        raise ValueError(f"{base}/meta/train.json and test.json list different classes; download Food-101 again")
    return Dataset(
        name="food101",
        identity=_listing_identity("food101", base, (train_paths, train_y), (test_paths, test_y)),
        class_names=classes,
        train=_file_split("food101", "train", train_paths, train_y, base),
        test=_file_split("food101", "test", test_paths, test_y, base),
        description="Food-101: 101 food categories, 750 train / 250 test images each, up to 512 px "
                    "(training labels are deliberately noisy).",
        native_size=512,
        config={"name": "food101", "path": str(base)},
        id_space="index in torchvision.datasets.Food101(root, split='train')",
    )


# -- iNaturalist 2021 mini -----------------------------------------------------------------------------------

def _inat_split(data_dir: Path, version: str):
    from torchvision.datasets import INaturalist

    folder = data_dir / version
    if not (folder.is_dir() and any(folder.iterdir())):
        guarded_download(
            data_dir, f"iNaturalist {version} ({version}/)",
            lambda: INaturalist(str(data_dir), version=version, download=True),
            f"download the iNaturalist 2021 archives train_mini.tar.gz (42 GB) and val.tar.gz (8 GB) and unpack "
            f"them as {data_dir}/{INAT_TRAIN} and {data_dir}/{INAT_TEST} (one folder per species), or use "
            "torchvision.datasets.INaturalist(root, version, download=True) on a machine with internet")
    try:
        return INaturalist(str(data_dir), version=version, download=False)
    except (RuntimeError, OSError, IndexError, ValueError) as exc:
        raise ValueError(f"{folder} is not in iNaturalist 2021 layout ({type(exc).__name__}: {exc}); it must hold "
                         "only species folders numbered from 00000 and named like "
                         "00000_Animalia_Arthropoda_Insecta_Coleoptera_Cleridae_Trichodes_ornatus") from exc


def _species_name(folder_name: str) -> str:
    pieces = folder_name.split("_")
    return f"{pieces[6]} {pieces[7]}" if len(pieces) == 8 else folder_name


def inat2021_mini(data_dir: Path) -> Dataset:
    """iNaturalist 2021 mini (10,000 species; 50 train images each) with the 2021 validation set as test."""
    train_tv, test_tv = _inat_split(data_dir, INAT_TRAIN), _inat_split(data_dir, INAT_TEST)
    if train_tv.all_categories != test_tv.all_categories:
        raise ValueError(f"{data_dir / INAT_TRAIN} and {data_dir / INAT_TEST} hold different species folders; "
                         "unpack both archives of the same release")
    listing = {}
    for kind, tv in (("train", train_tv), ("test", test_tv)):
        listing[kind] = ([str(Path(tv.root) / tv.all_categories[c] / f) for c, f in tv.index],
                         np.array([c for c, _ in tv.index], dtype=np.int64))
    root = data_dir
    return Dataset(
        name="inat2021-mini",
        identity=_listing_identity("inat2021-mini", root, listing["train"], listing["test"]),
        class_names=[_species_name(c) for c in train_tv.all_categories],
        train=_file_split("inat2021-mini", "train", *listing["train"], data_dir / INAT_TRAIN),
        test=_file_split("inat2021-mini", "test", *listing["test"], data_dir / INAT_TEST),
        description="iNaturalist 2021 mini: 10,000 species, 50 training images each (500,000); the 2021 "
                    "validation set (100,000) as test. Fine-grained and natural-world.",
        native_size=500,
        config={"name": "inat2021-mini", "path": str(data_dir), "versions": [INAT_TRAIN, INAT_TEST]},
        id_space=f"index in torchvision.datasets.INaturalist(root, version={INAT_TRAIN!r})",
    )


# -- ImageNet ------------------------------------------------------------------------------------------------

IMAGENET_HINT = ("ImageNet cannot be downloaded automatically: get ILSVRC2012_devkit_t12.tar.gz, "
                 "ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar from image-net.org (account needed) and "
                 "put them in {root} (torchvision unpacks them on first use), or put torchvision's prepared "
                 "layout there: meta.bin, train/<wnid>/*.JPEG and val/<wnid>/*.JPEG")


def _unique_names(names: list[str], wnids: list[str]) -> list[str]:
    """First readable name of each class; a name used twice (e.g. 'crane') gets its WordNet id appended."""
    counts: dict[str, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    return [n if counts[n] == 1 else f"{n} ({w})" for n, w in zip(names, wnids)]


def _check_imagenet_meta(root: Path) -> None:
    """meta.bin, when present, must be torchvision's (wnid -> class names, val wnids): checked before use."""
    meta = root / "meta.bin"
    if not meta.is_file():
        return  # torchvision builds it from the devkit archive (or says the archive is missing)
    import pickle

    import torch

    expected = ("torchvision's pair (dict mapping each WordNet id such as 'n01440764' to a tuple of class names, "
                "list of the validation images' WordNet ids)")
    try:
        content = torch.load(meta, weights_only=True)
    except (OSError, EOFError, RuntimeError, ValueError, pickle.UnpicklingError) as exc:
        raise ValueError(f"{meta} is unreadable ({type(exc).__name__}); expected {expected}. Delete it: "
                         "torchvision rebuilds it from ILSVRC2012_devkit_t12.tar.gz") from exc
    ok = (isinstance(content, (tuple, list)) and len(content) == 2 and isinstance(content[0], dict)
          and isinstance(content[1], list) and content[0]
          and all(isinstance(k, str) and isinstance(v, tuple) and v and all(isinstance(n, str) for n in v)
                  for k, v in content[0].items()))
    if not ok:
        raise ValueError(f"{meta} does not have the expected structure: expected {expected}. Delete it: "
                         "torchvision rebuilds it from ILSVRC2012_devkit_t12.tar.gz")


def imagenet(data_dir: Path) -> Dataset:
    """ImageNet-1k (ILSVRC 2012) from the local root `<data_dir>/imagenet`, read by torchvision's ImageNet."""
    root = data_dir / "imagenet"
    if not root.is_dir():
        raise FileNotFoundError(f"no ImageNet folder at {root}. " + IMAGENET_HINT.format(root=root))
    from torchvision.datasets import ImageNet

    _check_imagenet_meta(root)
    try:
        train_tv, test_tv = ImageNet(str(root), split="train"), ImageNet(str(root), split="val")
    except (RuntimeError, FileNotFoundError) as exc:
        raise FileNotFoundError(f"ImageNet in {root} is incomplete ({exc}). " + IMAGENET_HINT.format(root=root)) from exc
    except KeyError as exc:
        raise ValueError(f"{root / 'meta.bin'} names no class for the folder {exc} of {root}; delete meta.bin "
                         "(torchvision rebuilds it from ILSVRC2012_devkit_t12.tar.gz) or remove that folder") from None
    if train_tv.wnids != test_tv.wnids:
        raise ValueError(f"{root}/train and {root}/val hold different class folders; unpack both archives again")
    listing = {kind: ([p for p, _ in tv.samples], np.asarray(tv.targets, dtype=np.int64))
               for kind, tv in (("train", train_tv), ("test", test_tv))}
    return Dataset(
        name="imagenet",
        identity=_listing_identity("imagenet", root, listing["train"], listing["test"]),
        class_names=_unique_names([c[0] for c in train_tv.classes], list(train_tv.wnids)),
        train=_file_split("imagenet", "train", *listing["train"], root / "train"),
        test=_file_split("imagenet", "test", *listing["test"], root / "val"),
        description="ImageNet-1k (ILSVRC 2012): 1,000 classes, about 1.28 M train / 50,000 val (used as test). "
                    "ImageNet-pretrained backbones were trained on these very images.",
        native_size=500,
        config={"name": "imagenet", "path": str(root)},
        id_space="index in torchvision.datasets.ImageNet(root, split='train')",
    )
