"""Exporting the lab's transfer matrix: CSV (one row per pair of models: crafted on, judged by, the share fooled
and its counts, every setting) and JSON (the `advstudio transfer --json` document). Beside a curves export it
goes to a file of its own, `<name>-transfer.csv` / `.json`, so the curves' files keep their format."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from advstudio.core.files import atomic_write_text
from advstudio.gui.features.lab.messages import TransferResult

CSV_COLUMNS = ("crafted_on", "judged_by", "white_box", "success_rate", "fooled", "judged", "attack", "eps", "n",
               "steps", "crafted_on_path", "judged_by_path", "params")


def transfer_document(result: TransferResult) -> dict:
    doc = result.matrix.to_json()
    doc["model_paths"] = list(result.model_paths)
    return doc


def transfer_csv(result: TransferResult) -> str:
    m = result.matrix
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    params = json.dumps(m.params, sort_keys=True)
    for i, source in enumerate(m.names):
        for j, target in enumerate(m.names):
            w.writerow([source, target, i == j, m.success[i][j], m.counts[i][j], m.judged[j], m.attack,
                        "" if m.eps is None else m.eps, m.n, m.params.get("steps", ""), result.model_paths[i],
                        result.model_paths[j], params])
    return buf.getvalue()


def beside(path: str | Path) -> Path:
    """robustness.csv -> robustness-transfer.csv"""
    path = Path(path)
    return path.with_name(f"{path.stem}-transfer{path.suffix}")


def write_transfer_export(kind: str, path: str | Path, result: TransferResult) -> Path:
    path = Path(path)
    if kind == "csv":
        atomic_write_text(path, transfer_csv(result))
    elif kind == "json":
        atomic_write_text(path, json.dumps(transfer_document(result), indent=2) + "\n")
    else:
        raise ValueError(f"the transfer matrix exports as csv or json, not {kind!r}")
    return path
