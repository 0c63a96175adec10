"""Record an `advstudio evaluate --json-out` result in a model file's metadata, as the first robust_evaluation
row when its attack is AutoAttack (the figure the Model dock, the lesson and the self-test headline), with the
PGD rows after it marked as the weaker figures they are. The weights are rewritten unchanged, atomically.

    .venv/bin/python scripts/record_evaluation.py MODEL.safetensors EVAL.json --command "advstudio evaluate …"
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from advstudio.core.attacks.common import ordered_breakdown  # noqa: E402
from advstudio.core.storage import load_model, save_model  # noqa: E402

WEAKER = "weaker than AutoAttack: the headline robust accuracy is the AutoAttack row"


def evaluation_row(doc: dict, command: str) -> dict:
    """The metadata row for one evaluate JSON document (every setting the figure depends on)."""
    p = doc.get("params") or {}
    row = {"attack": "AutoAttack" if doc["attack"] == "autoattack" else doc["attack"].upper(), "n": int(doc["n"]),
           "clean_accuracy": doc["clean_accuracy"], "results": doc["results"], "command": command,
           "norm": p.get("norm", "linf"), "seconds": doc.get("seconds")}
    if doc["attack"] == "autoattack":
        row.update(label=f"AutoAttack {p.get('version', 'standard')}", version=p.get("version"),
                   budget=p.get("budget"), attacks=p.get("attacks"),
                   breakdown=[ordered_breakdown(b) for b in doc.get("breakdown") or []] or None,
                   masking_checks=doc.get("masking_checks"))
    else:
        row.update(steps=p.get("steps"), step_size=p.get("step_size"), restarts=p.get("restarts"),
                   random_start=p.get("random_start"))
    return {k: v for k, v in row.items() if v is not None}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("evaluation", help="the JSON file `advstudio evaluate --json-out` wrote")
    ap.add_argument("--command", required=True, help="the evaluate command that produced it (stored with it)")
    args = ap.parse_args(argv)
    doc = json.loads(Path(args.evaluation).read_text())
    model, meta = load_model(args.model)
    row = evaluation_row(doc, args.command)
    rows = [r for r in meta.get("robust_evaluation", [])
            if not (r.get("attack") == row["attack"] and r.get("label") == row.get("label"))]
    if row["attack"] == "AutoAttack":
        for r in rows:
            if r.get("attack") != "AutoAttack":
                r["note"] = WEAKER
        rows.insert(0, row)
    else:
        rows.append(row)
    meta["robust_evaluation"] = rows
    meta.pop("architecture", None)  # save_model writes it
    path = save_model(model, args.model, meta)
    print(f"recorded {row.get('label', row['attack'])} (n = {row['n']}) in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
