"""Loaders for each dataset source: offline archives, torchvision, Debian idx files, scikit-learn, image folders."""
from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
from PIL import Image

from .base import Dataset, ImageSplit, decode_uint8_array, fixed_shuffle
from .npz import load_npz_dataset

FASHION_MNIST_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                         "Bag", "Ankle boot"]
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}

CIFAR10_DESCRIPTION = "CIFAR-10: 60,000 32x32 colour images in 10 classes (50,000 train / 10,000 test)."
IMAGEWOOF_DESCRIPTION = (
    "Imagewoof2: 12,954 128x128 images of 10 dog breeds (9,025 train / 3,929 val as test), fine-grained. "
    "Caveat: these are ImageNet images of ImageNet classes, so ImageNet-pretrained backbones have seen the "
    "training images with these labels and their features are unrealistically good for transfer learning. "
    "Use it for fine-grained demos and the RAM-APL setting, not as evidence of transfer accuracy."
)


def _arrays_dataset(name: str, identity: str, class_names: list[str], train_x: np.ndarray, train_y: np.ndarray,
                    test_x: np.ndarray, test_y: np.ndarray, description: str, source: str) -> Dataset:
    return Dataset(
        name=name,
        identity=identity,
        class_names=class_names,
        train=ImageSplit(np.asarray(train_y, dtype=np.int64), decode_uint8_array(train_x), f"{name} train ({source})"),
        test=ImageSplit(np.asarray(test_y, dtype=np.int64), decode_uint8_array(test_x), f"{name} test ({source})"),
        description=description,
        native_size=int(train_x.shape[1]),
        config={"name": name, "source": source},
    )


def _torchvision_download(cls_name: str, root: Path):
    try:
        import torchvision.datasets as tvd

        cls = getattr(tvd, cls_name)
        train = cls(str(root), train=True, download=True)
        test = cls(str(root), train=False, download=True)
    except Exception as exc:  # no internet, no torchvision, broken download
        raise FileNotFoundError(
            f"could not download {cls_name} with torchvision into {root} ({type(exc).__name__}: {exc}); "
            "without internet, point --data-dir (or CORESET_DATA_DIR) at a folder holding the offline archive"
        ) from exc
    return train, test


def cifar10(data_dir: Path) -> Dataset:
    """CIFAR-10 from `cifar10_jpeg.npz` in the data dir, else torchvision's download."""
    archive = data_dir / "cifar10_jpeg.npz"
    if archive.is_file():
        return load_npz_dataset("cifar10", archive, description=CIFAR10_DESCRIPTION, native_size=32)
    train, test = _torchvision_download("CIFAR10", data_dir)
    return _arrays_dataset("cifar10", "cifar10@torchvision", list(train.classes), train.data,
                           np.array(train.targets), test.data, np.array(test.targets),
                           CIFAR10_DESCRIPTION, f"torchvision, {data_dir}")


def imagewoof(data_dir: Path) -> Dataset:
    """Imagewoof2 at 128 px from `imagewoof_128_jpeg.npz` (readable breed names)."""
    return load_npz_dataset("imagewoof", data_dir / "imagewoof_128_jpeg.npz", description=IMAGEWOOF_DESCRIPTION,
                            native_size=128, use_readable_names=True)


def _read_idx_gz(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise ValueError(f"{path} is unreadable or truncated ({exc}); reinstall the dataset package") from exc
    magic, = struct.unpack(">I", raw[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    arr = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise ValueError(f"{path} is truncated: expected {int(np.prod(dims))} values, found {arr.size}")
    return arr.reshape(dims)


def fashion_mnist(data_dir: Path) -> Dataset:
    """Fashion-MNIST from Debian's `dataset-fashion-mnist` files (or the data dir), else torchvision."""
    description = "Fashion-MNIST: 70,000 28x28 greyscale images of clothing in 10 classes (60,000 train / 10,000 test)."
    for folder in (data_dir / "fashion-mnist", FASHION_MNIST_DEBIAN_DIR):
        files = {s: folder / f"{s}-ubyte.gz" for s in
                 ("train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1")}
        if all(f.is_file() for f in files.values()):
            arrays = {s: _read_idx_gz(f) for s, f in files.items()}
            return _arrays_dataset("fashion-mnist", f"fashion-mnist@{folder}", FASHION_MNIST_CLASSES,
                                   arrays["train-images-idx3"], arrays["train-labels-idx1"],
                                   arrays["t10k-images-idx3"], arrays["t10k-labels-idx1"], description, str(folder))
    try:
        train, test = _torchvision_download("FashionMNIST", data_dir)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{exc}; on Debian, `apt-get install dataset-fashion-mnist` provides the files") from None
    return _arrays_dataset("fashion-mnist", "fashion-mnist@torchvision", FASHION_MNIST_CLASSES, train.data.numpy(),
                           train.targets.numpy(), test.data.numpy(), test.targets.numpy(), description,
                           "torchvision")


def digits(data_dir: Path) -> Dataset:
    """scikit-learn's 8x8 digits (1,797 images), split 80/20 stratified with a fixed seed: for fast tests."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = np.clip(bunch.images * 16, 0, 255).astype(np.uint8)
    idx_train, idx_test = train_test_split(np.arange(len(images)), test_size=0.2, random_state=0,
                                           stratify=bunch.target)
    return _arrays_dataset("digits", "digits@sklearn-split0", [str(i) for i in range(10)], images[idx_train],
                           bunch.target[idx_train], images[idx_test], bunch.target[idx_test],
                           "scikit-learn digits: 1,797 8x8 greyscale digits (80/20 split); for fast tests only.",
                           "scikit-learn")


def _scan_class_folders(root: Path) -> tuple[list[str], list[Path], np.ndarray]:
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise ValueError(f"{root} has no class sub-folders; lay images out as {root}/<class name>/<image file>")
    paths, labels = [], []
    for label, cls in enumerate(classes):
        files = sorted(p for p in (root / cls).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"class folder {root / cls} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        paths += files
        labels += [label] * len(files)
    order = fixed_shuffle(np.arange(len(paths)))
    return classes, [paths[i] for i in order], np.array(labels, dtype=np.int64)[order]


def image_folder(path: str) -> Dataset:
    """A user's class-per-folder images: `<path>/<class>/*.jpg`, or `<path>/{train,test|val}/<class>/...`.

    Without explicit train/test folders, a stratified 20 % test split is drawn with seed 0.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist; pass imagefolder:<path to a folder of class folders>")
    test_dir = next((root / d for d in ("test", "val") if (root / d).is_dir()), None)
    if (root / "train").is_dir() and test_dir is not None:
        classes, train_paths, train_y = _scan_class_folders(root / "train")
        test_classes, test_paths, test_y = _scan_class_folders(test_dir)
        if test_classes != classes:
            raise ValueError(f"{root / 'train'} and {test_dir} have different class folders")
    else:
        from sklearn.model_selection import train_test_split

        classes, all_paths, all_y = _scan_class_folders(root)
        stratify = all_y if np.bincount(all_y).min() >= 2 else None
        tr, te = train_test_split(np.arange(len(all_paths)), test_size=0.2, random_state=0, stratify=stratify)
        train_paths, train_y = [all_paths[i] for i in tr], all_y[tr]
        test_paths, test_y = [all_paths[i] for i in te], all_y[te]
    listing = hashlib.sha1()
    for p in train_paths + test_paths:
        st = p.stat()
        listing.update(f"{p.relative_to(root)}:{st.st_size}:{int(st.st_mtime)}".encode())
    all_paths = train_paths + test_paths

    def decode(i: int) -> Image.Image:
        return Image.open(all_paths[i])

    n_train = len(train_paths)
    name = f"imagefolder:{root}"
    first = Image.open(train_paths[0])
    return Dataset(
        name=name,
        identity=f"imagefolder-{root.name}@{listing.hexdigest()[:12]}",
        class_names=classes,
        train=ImageSplit(train_y, decode, f"{name} train", np.arange(n_train)),
        test=ImageSplit(test_y, decode, f"{name} test", np.arange(n_train, len(all_paths))),
        description=f"Your images in {root}: {len(classes)} classes, {n_train} train / {len(test_paths)} test.",
        native_size=max(first.size),
        config={"name": name, "path": str(root)},
    )
