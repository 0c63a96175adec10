"""`advstudio export`: write a model (a .safetensors file of this app, or the bundled one) as ONNX, with its
metadata, for other tools; reading it back gives the same predictions (a test checks it)."""

from __future__ import annotations

from pathlib import Path

from advstudio.cli.common import check_outputs, fail, load_model, setup_torch
from advstudio.core.argtypes import int_in


def add_parser(sub) -> None:
    e = sub.add_parser("export", help="write a model as ONNX (pixels in [0, 1] in, logits out)")
    e.add_argument("model", nargs="?", help="a .safetensors model (default: the bundled one)")
    e.add_argument("--onnx", required=True, metavar="OUT", help="the .onnx file to write")
    e.add_argument("--opset", type=int_in(13, 21), default=17, help="ONNX opset, 13–21 (default 17)")


def run(args) -> int:
    """Load the model, export it, read the file back and compare predictions on a few random images."""
    import torch

    from advstudio.core.onnx import export_onnx, load_onnx

    out = Path(args.onnx)
    if out.suffix.lower() != ".onnx":
        return fail(f"--onnx {out} must end in .onnx")
    check_outputs(out, inputs=[args.model])
    device = setup_torch(args)
    model, meta, name, _ = load_model(args.model, device)
    try:
        written = export_onnx(model.cpu().eval(), out, {**meta, "exported_from": name}, opset=args.opset)
    except ValueError as exc:
        return fail(f"cannot export {name}: {exc}")
    back, _ = load_onnx(written)
    x = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours, theirs = model(x), back(x)
    same = bool((ours.argmax(1) == theirs.argmax(1)).all())
    gap = float((ours - theirs).abs().max())
    print(f"wrote {written} (opset {args.opset}); read back: {'same' if same else 'DIFFERENT'} predictions on 16 "
          f"random images, largest logit difference {gap:.2e}")
    return 0 if same else 1
