"""`advstudio attack`: FGSM on one image file or test image; writes the clean, perturbation and adversarial
PNGs (and scaled-up copies) and prints or emits as JSON what the model saw."""

from __future__ import annotations

from pathlib import Path

from advstudio.cli.common import (
    add_classes_flag,
    add_json_flags,
    check_outputs,
    emit_json,
    eps_value,
    fail,
    json_targets,
    load_model,
    setup_torch,
    usage_error,
)
from advstudio.core.argtypes import int_in

CLASS = int_in(0, 999)  # a class index; checked against the model's outputs once it is loaded
MAX_SCALE = 64  # a 28×28 image scaled 64× is 1792×1792 pixels, larger than any screen needs


def add_parser(sub) -> None:
    a = sub.add_parser("attack", help="FGSM on one image; writes clean, perturbation and adversarial PNGs")
    src = a.add_mutually_exclusive_group(required=True)
    src.add_argument("image", nargs="?", help="an image file (PNG, JPEG, BMP, …; up to 40 megapixels)")
    src.add_argument("--index", type=int_in(0, 10_000_000), help="index into the MNIST test set instead of an image")
    a.add_argument("--model", help="a .safetensors model (default: the bundled one)")
    a.add_argument("--data", help="MNIST folder, for --index")
    add_classes_flag(a, "the dataset's class layout ({layouts}), for --index; also names the classes when the "
                     "model's metadata names none")
    a.add_argument("--eps", type=eps_value, default=0.1, help="ε in [0, 1] pixel space")
    a.add_argument("--target", type=CLASS, help="targeted FGSM toward this class (0 to the model's classes − 1)")
    a.add_argument("--label", type=CLASS, help="true class of the image (default: the model's prediction)")
    a.add_argument("--out", default=".", help="folder for the PNGs (default: here)")
    a.add_argument("--scale", type=int_in(1, MAX_SCALE), default=10,
                   help=f"also write PNGs scaled up this much, 1–{MAX_SCALE} (default 10; 1: no scaled copies)")
    add_json_flags(a, "what the model saw and the files written")


def _save_png(arr, path: Path, scale: int = 1) -> None:
    """A uint8 image as a PNG file (scaled up nearest-neighbour), written atomically."""
    from advstudio.core.files import atomic_write_bytes
    from advstudio.core.render import enlarge, png_bytes

    atomic_write_bytes(path, png_bytes(enlarge(arr, scale) if scale > 1 else arr))


def _png_paths(out: Path, stem: str, scale: int) -> dict[str, Path]:
    """The PNG files the command writes, by kind (known before the work, so each is checked first)."""
    files = {}
    for kind in ("clean", "adversarial", "perturbation"):
        files[kind] = out / f"{stem}_{kind}.png"
        if scale > 1:
            files[f"{kind}_x{scale}"] = out / f"{stem}_{kind}_x{scale}.png"
    return files


def run(args) -> int:
    """Attack one image with FGSM, write the PNGs, print or emit what the model saw."""
    import numpy as np
    import torch

    from advstudio.core.attacks.fgsm import FGSM
    from advstudio.core.classes import KNOWN_LAYOUTS, class_label
    from advstudio.core.data import load_split
    from advstudio.core.images import load_image_file
    from advstudio.core.model import num_classes_of
    from advstudio.core.model_meta import class_names
    from advstudio.core.render import diverging_rgb, to_gray_u8

    to_stdout, json_out = json_targets(args, "attack")
    out = Path(args.out)
    stem = f"test{args.index}" if args.index is not None else Path(args.image).stem
    files = _png_paths(out, stem, args.scale)
    if out.exists() and not out.is_dir():
        return fail(f"--out {out} is not a folder (the PNGs go into a folder)")
    check_outputs(*files.values(), json_out, inputs=[args.image, args.model])
    device = setup_torch(args)
    model, meta, name, _ = load_model(args.model, device)
    outputs = num_classes_of(model)
    names = class_names(meta) or (KNOWN_LAYOUTS[args.classes] if args.classes else None)
    if names is not None and outputs is not None and len(names) != outputs:
        return fail(f"--classes {args.classes} names {len(names)} classes but the model has {outputs} outputs")
    for flag, value in (("--label", args.label), ("--target", args.target)):
        if value is not None and outputs is not None and value >= outputs:
            return usage_error("attack", f"{flag} {value} is not a class of the model (0–{outputs - 1})")
    if args.index is not None:
        test = load_split(args.data, "test", layout=args.classes)
        if not 0 <= args.index < len(test):
            return fail(f"--index {args.index} is outside the test set (0–{len(test) - 1})")
        if outputs is not None and test.num_classes != outputs:
            return fail(f"the model {name} has {outputs} classes but the dataset in {test.source} has "
                        f"{test.num_classes}: attack it with a model trained on these classes")
        img = test.images[args.index, 0].numpy()
        true_label = int(test.labels[args.index])
    else:
        img = load_image_file(args.image)
        true_label = None
    x = torch.from_numpy(img).reshape(1, 1, 28, 28).to(device)
    with torch.inference_mode():
        clean_probs = torch.softmax(model(x), 1)[0].cpu().numpy()
    label = args.label if args.label is not None else (true_label if true_label is not None else int(clean_probs.argmax()))
    attack = FGSM(args.eps, targeted=args.target is not None)
    y = torch.tensor([label], device=device)
    target = torch.tensor([args.target], device=device) if args.target is not None else None
    x_adv, delta = attack(model, x, y, target)
    with torch.inference_mode():
        adv_probs = torch.softmax(model(x_adv), 1)[0].cpu().numpy()
    out.mkdir(parents=True, exist_ok=True)
    adv = x_adv[0, 0].cpu().numpy()
    pert = delta[0, 0].cpu().numpy()
    for kind, arr in (("clean", to_gray_u8(img)), ("adversarial", to_gray_u8(adv)),
                      ("perturbation", diverging_rgb(pert * 10.0))):
        _save_png(arr, files[kind])
        if args.scale > 1:
            _save_png(arr, files[f"{kind}_x{args.scale}"], args.scale)
    result = {
        "model": name,
        "attack": "fgsm",
        "params": {"eps": args.eps, "targeted": args.target is not None, "target": args.target, "label": label},
        "clean": {"class": int(clean_probs.argmax()), "probs": [float(v) for v in clean_probs]},
        "adversarial": {"class": int(adv_probs.argmax()), "probs": [float(v) for v in adv_probs]},
        **({"classes": list(names)} if names else {}),
        "linf": float(np.abs(pert).max()),
        "files": {k: str(v) for k, v in files.items()},
    }
    if to_stdout or json_out:
        emit_json(result, to_stdout, json_out)
    if not to_stdout:
        c, a = result["clean"]["class"], result["adversarial"]["class"]
        print(f"model: {name}; FGSM ε = {args.eps:g}" + (f", targeted → {args.target}" if args.target is not None else ""))
        print(f"clean:       {class_label(c, names)} ({clean_probs[c] * 100:.1f}%)")
        print(f"adversarial: {class_label(a, names)} ({adv_probs[a] * 100:.1f}%)"
              + ("   prediction flipped" if a != c else ""))
        print(f"‖δ‖∞ = {result['linf']:.4f}; wrote {', '.join(result['files'].values())}")
    return 0

