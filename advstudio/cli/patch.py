"""`advstudio patch`: one adversarial patch per size, trained toward a class at random places on training
images, its success rate measured on test images at random places; --out saves each patch (safetensors)."""

from __future__ import annotations

from advstudio.cli.common import (
    add_json_flags,
    check_classes,
    check_outputs,
    class_index,
    classes_line,
    emit_json,
    json_targets,
    load_model,
    printer,
    setup_torch,
    usage_error,
)
from advstudio.cli.universal import common_flags, out_path
from advstudio.core.argtypes import BATCH, float_in, int_in


def add_parser(sub) -> None:
    p = sub.add_parser("patch", help="a small square patch that turns any digit into a chosen class (per size)")
    common_flags(p)
    p.add_argument("--target", type=class_index, required=True,
                   help="the class the patch makes the model read (0 to the model's classes − 1)")
    p.add_argument("--sides", default="6,8,10,12",
                   help="comma-separated patch sides in pixels, 1–20 each, one patch each (default 6,8,10,12)")
    p.add_argument("--steps", type=int_in(1, 100_000), default=500, help="Adam steps, 1–100000 (default 500)")
    p.add_argument("--batch-size", type=BATCH, default=64, help="images per step (default 64)")
    p.add_argument("--lr", type=float_in(0.0, 10.0, lo_open=True), default=0.1, help="Adam's step (default 0.1)")
    add_json_flags(p, "the results")




def _sides(text: str) -> list[int] | str:
    try:
        sides = [int(s) for s in text.replace(" ", "").split(",") if s]
    except ValueError:
        return f"--sides: not a comma-separated list of whole numbers: {text!r}"
    if not sides or any(not 1 <= s <= 20 for s in sides):
        return "--sides: give one or more patch sides of 1–20 pixels"
    return sides


def run(args) -> int:
    from advstudio.core.classes import class_label
    from advstudio.core.data import load_split
    from advstudio.core.model import num_classes_of
    from advstudio.core.patch import patch_success_rate, save_patch, train_patch

    sides = _sides(args.sides)
    if isinstance(sides, str):
        return usage_error("patch", sides)
    to_stdout, json_out = json_targets(args, "patch")
    outs = [out_path(args.out, "side", s, len(sides) > 1) for s in sides]
    check_outputs(*outs, json_out, inputs=[args.model])
    device = setup_torch(args)
    model, _meta, name, path = load_model(args.model, device)
    train = load_split(args.data, "train", layout=args.classes).head(args.images)
    test = load_split(args.data, "test", layout=args.classes).head(args.limit)
    check_classes(model, name, train, test, verb="attack")
    classes = num_classes_of(model) or test.num_classes
    if args.target >= classes:
        return usage_error("patch", f"--target {args.target} is not a class of the model (0–{classes - 1})")
    target = class_label(args.target, test.classes)
    others = int((test.labels != args.target).sum())
    say = printer(to_stdout)
    if classes_line(test):
        say(classes_line(test))
    say(f"model: {name}")
    say(f"adversarial patch toward class {target}: Adam ({args.steps} steps of {args.batch_size} images, lr "
        f"{args.lr:g}) on the first {len(train)} training images, pasted at random places; success = share of "
        f"the {others} test images of other classes read as {target} with the patch at a random place")
    say(f"{'side':>5} {'area':>6} {'train':>8} {'test':>8} {'seconds':>8}")
    rows = []
    for side, out in zip(sides, outs):
        try:
            a = train_patch(model, train.images, args.target, side=side, steps=args.steps,
                            batch_size=args.batch_size, lr=args.lr, seed=args.seed)
        except ValueError as exc:  # a setting the patch trainer does not take (it checks them before any step)
            return usage_error("patch", str(exc))
        rate = patch_success_rate(model, test.images, test.labels, a.patch, args.target, seed=args.seed)
        say(f"{side:>5} {side * side / 784 * 100:>5.1f}% {a.success_rate * 100:>7.2f}% {rate * 100:>7.2f}% "
            f"{a.seconds:>8.1f}")
        row = {**a.metadata(), "test_success_rate": rate, "test_images": others}
        if out:
            row["path"] = str(save_patch(a, out))
            say(f"  saved to {row['path']}")
        rows.append(row)
    if to_stdout or json_out:
        emit_json({"model": name, "model_path": str(path), "kind": "patch", "classes": list(test.classes),
                   "results": rows}, to_stdout, json_out)
    return 0
