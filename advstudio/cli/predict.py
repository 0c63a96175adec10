"""`advstudio predict`: classify image files the MNIST way (exit code 1 when any file could not be read)."""

from __future__ import annotations

import sys

from advstudio.cli.common import (
    EXIT_FAILED,
    add_classes_flag,
    add_json_flags,
    check_outputs,
    emit_json,
    json_targets,
    load_model,
    setup_torch,
    usage_error,
)


def add_parser(sub) -> None:
    pr = sub.add_parser("predict", help="classify image files (MNIST-style preprocessing)")
    pr.add_argument("images", nargs="+", help="image files")
    pr.add_argument("--model", help="a .safetensors model (default: the bundled one)")
    add_classes_flag(pr, "name the classes as this layout does ({layouts}) when the model's metadata names none")
    add_json_flags(pr, "the predictions")


def run(args) -> int:
    """Classify each file; a file that cannot be read is reported and the others still classified."""
    import torch

    from advstudio.core.classes import KNOWN_LAYOUTS, class_label
    from advstudio.core.errors import InputImageError
    from advstudio.core.images import load_image_file
    from advstudio.core.model import num_classes_of
    from advstudio.core.model_meta import class_names

    to_stdout, json_out = json_targets(args, "predict")
    check_outputs(json_out, inputs=[args.model, *args.images])
    device = setup_torch(args)
    model, meta, name, _ = load_model(args.model, device)
    names = class_names(meta)
    if names is None and args.classes:
        names = KNOWN_LAYOUTS[args.classes]
        outputs = num_classes_of(model)
        if outputs is not None and outputs != len(names):
            return usage_error("predict", f"--classes {args.classes} names {len(names)} classes but the model has "
                               f"{outputs} outputs")
    results = []
    failed = 0
    for f in args.images:
        try:
            img = load_image_file(f)
        except InputImageError as exc:
            failed += 1
            results.append({"file": f, "error": str(exc)})
            continue
        with torch.inference_mode():
            probs = torch.softmax(model(torch.from_numpy(img).reshape(1, 1, 28, 28).to(device)), 1)[0].cpu()
        c = int(probs.argmax())
        results.append({"file": f, "class": c, **({"class_name": names[c]} if names and c < len(names) else {}),
                        "confidence": float(probs.max()), "probs": [round(float(v), 6) for v in probs]})
    if to_stdout or json_out:
        emit_json({"model": name, **({"classes": list(names)} if names else {}), "predictions": results},
                  to_stdout, json_out)
    if not to_stdout:
        for r in results:
            if "error" in r:
                print(f"{r['file']}: error: {r['error']}", file=sys.stderr)
            else:
                probs = " ".join(f"{i}:{p * 100:.1f}%" for i, p in enumerate(r["probs"]))
                print(f"{r['file']}: {class_label(r['class'], names)} ({r['confidence'] * 100:.1f}%)  [{probs}]")
    return EXIT_FAILED if failed else 0

