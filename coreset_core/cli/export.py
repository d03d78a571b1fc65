"""`coreset export SELECTION.json --format ids|paths|symlinks|copy|hf|csv --out DEST`."""
from __future__ import annotations

import argparse
from pathlib import Path

_FORMAT_HELP = {
    "ids": "the kept original ids, .npy or .txt by the --out suffix",
    "paths": "the kept image files, one absolute path a line",
    "symlinks": "a folder <class>/<id>_<file> of links to the kept files",
    "copy": "a folder <class>/<id>_<file> of copies of the kept files (archive sources: <class>/<id>.jpg)",
    "hf": "a Hugging Face dataset of the kept rows (datasets.load_from_disk reads it)",
    "csv": "id,path,class,score,kept for every training sample",
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..exports import EXPORT_FORMATS

    p = sub.add_parser(
        "export", help="export a selection's kept samples (ids, paths, a folder of links or copies, HF dataset, CSV)",
        description="Export the kept samples of a selection document (`coreset select --out`). The ids are the "
                    "samples' original ids in their source; the document's id_space says what they index (for "
                    "torchvision-layout sources and image folders, torch.utils.data.Subset(torchvision_dataset, ids) "
                    "is the coreset). An existing --out is never replaced without --force. Formats: "
                    + "; ".join(f"{k}: {v}" for k, v in _FORMAT_HELP.items()) + ".",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("selection", help="selection JSON written by `coreset select --out` or the studio")
    p.add_argument("--format", required=True, choices=EXPORT_FORMATS, dest="fmt", help="what to write")
    p.add_argument("--out", required=True, help="output file (ids, paths, csv) or new folder (symlinks, copy, hf)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing --out file, or a folder written by an earlier export")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    from ..exports import export_selection, read_selection

    doc = read_selection(args.selection)
    if Path(args.out).expanduser().resolve() == Path(args.selection).resolve():
        raise ValueError(f"--out {args.out} is the selection document itself; choose another name")
    dest = export_selection(doc, args.fmt, args.out, progress=not args.quiet, force=args.force)
    what = ("every training sample's row (" + str(doc["num_samples"]) + ")" if args.fmt == "csv"
            else f"{doc['num_selected']} kept of {doc['num_samples']} training samples")
    print(f"wrote {what} as {args.fmt} to {dest}")
    print(f"ids: {doc.get('id_space', 'not recorded (a document written before ids were described)')}")
    return 0
