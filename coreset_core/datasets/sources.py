"""Loaders for the built-in sources: offline archives, torchvision, Debian idx files, scikit-learn."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from .base import Dataset, ImageSplit, decode_uint8_array
from .cifar import LAYOUTS, cifar_pickles
from .download import guarded_download
from .image_folder import IMAGE_SUFFIXES, image_folder  # noqa: F401  (re-exported)
from .npz import load_npz_dataset

FASHION_MNIST_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                         "Bag", "Ankle boot"]

FASHION_MNIST_ID_SPACE = ("index in torchvision.datasets.FashionMNIST(root, train=True) "
                          "(= row of train-images-idx3-ubyte)")
CIFAR10_DESCRIPTION = LAYOUTS["cifar10"].description
IMAGEWOOF_DESCRIPTION = (
    "Imagewoof2: 12,954 128x128 images of 10 dog breeds (9,025 train / 3,929 val as test), fine-grained. "
    "Caveat: these are ImageNet images of ImageNet classes, so ImageNet-pretrained backbones have seen the "
    "training images with these labels and their features are unrealistically good for transfer learning. "
    "Use it for fine-grained demos and the RAM-APL setting, not as evidence of transfer accuracy."
)


def _arrays_dataset(name: str, identity: str, class_names: list[str], train_x: np.ndarray, train_y: np.ndarray,
                    test_x: np.ndarray, test_y: np.ndarray, description: str, source: str,
                    train_ids: np.ndarray | None = None, test_ids: np.ndarray | None = None,
                    id_space: str = "") -> Dataset:
    """A dataset over in-memory uint8 images; ids default to the row in the source arrays."""
    return Dataset(
        name=name,
        identity=identity,
        class_names=class_names,
        train=ImageSplit(train_y, decode_uint8_array(train_x), f"{name} train ({source})", ids=train_ids),
        test=ImageSplit(test_y, decode_uint8_array(test_x), f"{name} test ({source})", ids=test_ids),
        description=description,
        native_size=int(train_x.shape[1]),
        config={"name": name, "source": source},
        id_space=id_space,
    )


def cifar10(data_dir: Path) -> Dataset:
    """CIFAR-10 from `cifar10_jpeg.npz` in the data dir, else torchvision's pickles (downloaded if allowed)."""
    archive = data_dir / "cifar10_jpeg.npz"
    if archive.is_file():
        return load_npz_dataset("cifar10", archive, description=CIFAR10_DESCRIPTION, native_size=32)
    try:
        return cifar_pickles("cifar10", data_dir)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{exc}; or put the offline archive cifar10_jpeg.npz there") from None


def cifar100(data_dir: Path) -> Dataset:
    """CIFAR-100 (100 fine classes) from torchvision's pickles in the data dir (downloaded if allowed)."""
    return cifar_pickles("cifar100", data_dir)


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


def _torchvision_fashion_mnist(root: Path, download: bool):
    from torchvision.datasets import FashionMNIST

    return (FashionMNIST(str(root), train=True, download=download),
            FashionMNIST(str(root), train=False, download=download))


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
                                   arrays["t10k-images-idx3"], arrays["t10k-labels-idx1"], description, str(folder),
                                   id_space=FASHION_MNIST_ID_SPACE)
    try:  # torchvision's own layout (FashionMNIST/raw) already in the data dir
        train, test = _torchvision_fashion_mnist(data_dir, download=False)
    except RuntimeError:
        train, test = guarded_download(
            data_dir, "Fashion-MNIST", lambda: _torchvision_fashion_mnist(data_dir, download=True),
            "on Debian, `apt-get install dataset-fashion-mnist` provides the files; or put torchvision's "
            "FashionMNIST/raw folder into the data directory (--data-dir or CORESET_DATA_DIR)",
            prune=[data_dir / "FashionMNIST"])
    return _arrays_dataset("fashion-mnist", "fashion-mnist@torchvision", FASHION_MNIST_CLASSES, train.data.numpy(),
                           train.targets.numpy(), test.data.numpy(), test.targets.numpy(), description,
                           "torchvision", id_space=FASHION_MNIST_ID_SPACE)


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
                           "scikit-learn", train_ids=idx_train, test_ids=idx_test,
                           id_space="row of sklearn.datasets.load_digits()")
