"""`advstudio attack`: FGSM on one image file or test image; writes the clean, perturbation and adversarial
PNGs (and scaled-up copies) and prints or emits as JSON what the model saw."""

from __future__ import annotations

import json
from pathlib import Path

from advstudio.cli.common import (
    class_index,
    eps_value,
    fail,
    load_model,
    positive_int,
    setup_torch,
)


def add_parser(sub) -> None:
    a = sub.add_parser("attack", help="FGSM on one image; writes clean, perturbation and adversarial PNGs")
    src = a.add_mutually_exclusive_group(required=True)
    src.add_argument("image", nargs="?", help="an image file (PNG, JPEG, BMP, …; up to 40 megapixels)")
    src.add_argument("--index", type=int, help="index into the MNIST test set instead of an image")
    a.add_argument("--model", help="a .safetensors model (default: the bundled one)")
    a.add_argument("--data", help="MNIST folder, for --index")
    a.add_argument("--eps", type=eps_value, default=0.1, help="ε in [0, 1] pixel space")
    a.add_argument("--target", type=class_index, help="targeted FGSM toward this class")
    a.add_argument("--label", type=class_index, help="true class of the image (default: the model's prediction)")
    a.add_argument("--out", default=".", help="folder for the PNGs (default: here)")
    a.add_argument("--scale", type=positive_int, default=10, help="also write PNGs scaled up this much")
    a.add_argument("--json", action="store_true", help="print machine-readable output")


def _save_png(arr, path: Path, scale: int = 1) -> None:
    """A uint8 image as a PNG file (scaled up nearest-neighbour), written atomically."""
    from advstudio.core.files import atomic_write_bytes
    from advstudio.core.render import enlarge, png_bytes

    atomic_write_bytes(path, png_bytes(enlarge(arr, scale) if scale > 1 else arr))


def run(args) -> int:
    """Attack one image with FGSM, write the PNGs, print or emit what the model saw."""
    import numpy as np
    import torch

    from advstudio.core.attacks.fgsm import FGSM
    from advstudio.core.data import load_split
    from advstudio.core.images import load_image_file
    from advstudio.core.render import diverging_rgb, to_gray_u8

    device = setup_torch(args)
    model, _, name, _ = load_model(args.model, device)
    if args.index is not None:
        test = load_split(args.data, "test")
        if not 0 <= args.index < len(test):
            return fail(f"--index {args.index} is outside the test set (0–{len(test) - 1})")
        img = test.images[args.index, 0].numpy()
        true_label = int(test.labels[args.index])
        stem = f"test{args.index}"
    else:
        img = load_image_file(args.image)
        true_label = None
        stem = Path(args.image).stem
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
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    adv = x_adv[0, 0].cpu().numpy()
    pert = delta[0, 0].cpu().numpy()
    files = {}
    for kind, arr in (("clean", to_gray_u8(img)), ("adversarial", to_gray_u8(adv)),
                      ("perturbation", diverging_rgb(pert * 10.0))):
        p = out / f"{stem}_{kind}.png"
        _save_png(arr, p)
        files[kind] = str(p)
        if args.scale > 1:
            p2 = out / f"{stem}_{kind}_x{args.scale}.png"
            _save_png(arr, p2, args.scale)
            files[f"{kind}_x{args.scale}"] = str(p2)
    result = {
        "model": name,
        "attack": "fgsm",
        "params": {"eps": args.eps, "targeted": args.target is not None, "target": args.target, "label": label},
        "clean": {"class": int(clean_probs.argmax()), "probs": [float(v) for v in clean_probs]},
        "adversarial": {"class": int(adv_probs.argmax()), "probs": [float(v) for v in adv_probs]},
        "linf": float(np.abs(pert).max()),
        "files": files,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        c, a = result["clean"]["class"], result["adversarial"]["class"]
        print(f"model: {name}; FGSM ε = {args.eps:g}" + (f", targeted → {args.target}" if args.target is not None else ""))
        print(f"clean:       {c} ({clean_probs[c] * 100:.1f}%)")
        print(f"adversarial: {a} ({adv_probs[a] * 100:.1f}%)" + ("   prediction flipped" if a != c else ""))
        print(f"‖δ‖∞ = {result['linf']:.4f}; wrote {', '.join(files.values())}")
    return 0

