"""Benchmark: feature-extraction throughput against the bare model forward, measured in one run.

    python benchmarks/features.py [--images 1024] [--resolution 128] [--batch-size 64] [--device cpu]

Rows: the bare forward on already-prepared tensors (the ceiling), the whole extraction path
(JPEG decode + resize + normalise + forward, as `coreset features` runs it), and a cached
re-run of `get_features` on the same images. The ratio column is throughput / bare forward.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coreset_core.backbones import load_backbone  # noqa: E402
from coreset_core.datasets import load_dataset  # noqa: E402
from coreset_core.features import _batch_images, embed, extract, get_features, to_model_input  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="cifar10")
    ap.add_argument("--backbone", default="efficientnet_lite0")
    ap.add_argument("--images", type=int, default=1024)
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    dataset = load_dataset(args.dataset)
    split = dataset.train
    n = min(args.images, len(split))
    backbone = load_backbone(args.backbone, device=args.device)
    backbone.model.to(memory_format=torch.channels_last)
    use_amp = args.device.startswith("cuda")

    # Warm-up (first calls allocate and pick kernels).
    extract(split, backbone, resolution=args.resolution, count=args.batch_size, device=args.device,
            batch_size=args.batch_size, progress=False)

    # 1. bare forward on tensors prepared beforehand
    batches = [to_model_input(_batch_images(split, a, min(a + args.batch_size, n), backbone, args.resolution),
                              backbone, args.device) for a in range(0, n, args.batch_size)]
    sync = torch.cuda.synchronize if use_amp else (lambda: None)
    sync()
    t0 = time.perf_counter()
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
        for x in batches:
            embed(backbone, x)
    sync()
    bare = time.perf_counter() - t0

    # 2. the whole extraction path
    t0 = time.perf_counter()
    extract(split, backbone, resolution=args.resolution, count=n, device=args.device,
            batch_size=args.batch_size, progress=False)
    sync()
    whole = time.perf_counter() - t0

    # 3. cached re-run through get_features
    with tempfile.TemporaryDirectory() as tmp:
        get_features(dataset, "train", backbone=args.backbone, resolution=args.resolution, limit=n,
                     device=args.device, batch_size=args.batch_size, cache_dir=tmp, progress=False)
        t0 = time.perf_counter()
        cached = get_features(dataset, "train", backbone=args.backbone, resolution=args.resolution, limit=n,
                              device=args.device, batch_size=args.batch_size, cache_dir=tmp, progress=False)
        cached_s = time.perf_counter() - t0
        assert cached.from_cache

    rows = [("bare forward (prepared tensors)", bare), ("whole extraction path", whole),
            ("cached re-run (get_features)", cached_s)]
    print(f"\n{args.backbone} on {args.dataset}: {n} images at {args.resolution} px, batch {args.batch_size}, "
          f"device {args.device}, torch threads {torch.get_num_threads()}")
    print(f"{'path':34s} {'seconds':>9s} {'img/s':>10s} {'ratio':>7s}")
    for name, secs in rows:
        print(f"{name:34s} {secs:9.3f} {n / secs:10.1f} {bare / secs:7.2f}")
    full = 60_000
    print(f"\nextrapolated full CIFAR-10 (60,000 images): {full / (n / whole) / 60:.1f} min extraction")


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
