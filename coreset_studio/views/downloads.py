"""Downloadable files of a selection the studio shows: the selection document (JSON) and its CSV.

Both come from `coreset_core.exports` (the format `coreset select --out` writes), so a
download lists the samples by their ORIGINAL ids and file paths (SPEC 7) and carries the
config that reproduces the selection; the JSON also holds the equivalent command line.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Mapping

from coreset_core.exports import export_selection, session_document

FORMATS = ("csv", "json")


def document(session: Any, selection: Any, command: str | None = None) -> dict[str, Any]:
    """The selection-v2 document of `selection` made on `session` (ids, id space, paths, scores, config)."""
    doc = session_document(session, selection)
    if command:
        doc["command"] = command
    return doc


def file_bytes(doc: Mapping[str, Any], fmt: str) -> bytes:
    """The document as a JSON file, or as the exports' CSV (`id,path,class,score,kept`, one row per sample)."""
    if fmt == "json":
        return json.dumps(doc, indent=1, allow_nan=False).encode()
    if fmt != "csv":
        raise ValueError(f"download format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    with tempfile.TemporaryDirectory(prefix="coreset-download-") as folder:
        path = export_selection(dict(doc), "csv", Path(folder) / "selection.csv")
        return path.read_bytes()


def file_name(config: Mapping[str, Any], dataset: str, ext: str) -> str:
    """A readable file name, e.g. `cifar10-lt-nucs-p90-s0.json` (path datasets: their folder's name)."""
    if ":" in dataset:
        dataset = Path(dataset.split(":", 1)[1]).name or dataset.split(":", 1)[0]
    rate = config.get("prune_rate")
    parts = [dataset, str(config.get("method", "")), f"p{round(100 * float(rate))}" if rate is not None else "",
             f"s{config.get('seed', 0)}"]
    name = "-".join(p for p in parts if p)
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name) + f".{ext}"
