"""`advstudio explain`: why the model reads one image as it does. For each method asked for, one PNG (attribution
maps of the image and of its FGSM version, the loss landscape, the decision plane, the penultimate-layer
projection) and the numbers behind it in one JSON document, the same pictures as the window's "Why it breaks" tab."""

from __future__ import annotations

import math
from pathlib import Path

from advstudio.cli.common import (
    UsageError,
    add_json_flags,
    check_outputs,
    emit_json,
    eps_value,
    fail,
    json_targets,
    load_model,
    setup_torch,
)
from advstudio.core.argtypes import float_in, int_in
from advstudio.core.classes import DIGITS, LAYOUT_NAMES, class_label

ATTRIBUTIONS = ("saliency", "smoothgrad", "ig", "gradcam")  # core.explain.attribution.METHODS (no torch at --help)
METHODS = (*ATTRIBUTIONS, "landscape", "boundary", "projection")
ALL = METHODS[:-1]  # `all`: every method but the projection, which reads the MNIST test set
DEFENSES = ("none", "jpeg", "bit_depth")
SCALES = {"attribution": 8, "landscape": 6, "boundary": 4}  # default enlargement of each picture
GRIDS = {"landscape": 41, "boundary": 81}  # default grid points per side
MAX_SCALE = 32
MAX_GRID = 201
MAX_SIDE = 4096  # no picture is larger than this many pixels a side
PGD_STEPS = 40  # the decision plane's and the projection's attack, as in the window: step 2.5·ε/steps
PROJECTION_SIZE = 480


def add_parser(sub) -> None:
    e = sub.add_parser("explain", help="why the model reads an image so: attribution maps, loss landscape, "
                                       "decision plane, projection (PNGs and JSON)")
    src = e.add_mutually_exclusive_group(required=True)
    src.add_argument("image", nargs="?", help="an image file (PNG, JPEG, BMP, …; up to 40 megapixels)")
    src.add_argument("--index", type=int_in(0, 10_000_000), help="index into the MNIST test set instead of an image")
    e.add_argument("--method", required=True, metavar="M[,M...]",
                   help=f"comma-separated, each once: {', '.join(METHODS)}; `all` is every one but projection")
    e.add_argument("--model", help="a .safetensors model (default: the bundled one)")
    e.add_argument("--data", help="MNIST folder, for --index and projection (default: $ADVSTUDIO_MNIST_DIR)")
    e.add_argument("--classes", choices=LAYOUT_NAMES, metavar="LAYOUT",
                   help="the dataset's class names and file layout: " + ", ".join(LAYOUT_NAMES) + " (default: the "
                   "folder's classes.txt, else its name, else numbered from the labels)")
    e.add_argument("--eps", type=eps_value, default=0.1, help="ε in [0, 1] pixel space (default 0.1)")
    e.add_argument("--out", default=".", help="folder for the PNGs and the JSON (default: here)")
    e.add_argument("--scale", type=int_in(1, MAX_SCALE),
                   help=f"enlarge the attribution, landscape and boundary pictures this much, 1–{MAX_SCALE} "
                        f"(default {SCALES['attribution']}, {SCALES['landscape']} and {SCALES['boundary']})")
    e.add_argument("--steps", type=int_in(1, 2000), default=50, help="Integrated Gradients: steps (default 50)")
    e.add_argument("--samples", type=int_in(1, 1000), default=25, help="SmoothGrad: noisy copies (default 25)")
    e.add_argument("--sigma", type=float_in(0.0, 1.0), default=0.15,
                   help="SmoothGrad: noise σ in pixel units (default 0.15)")
    e.add_argument("--grid", type=int_in(3, MAX_GRID),
                   help=f"grid points per side (default {GRIDS['landscape']} for the landscape, which needs an odd "
                        f"number, {GRIDS['boundary']} for the boundary)")
    e.add_argument("--defense", choices=DEFENSES, default="none",
                   help="landscape: the model behind this input transform (default none)")
    e.add_argument("--bpda", action="store_true",
                   help="landscape: the direction from the gradient without the defense (BPDA), not the defense's own")
    e.add_argument("--attack", choices=("pgd", "fgsm"), default="pgd",
                   help=f"boundary: the attack whose path is drawn (default pgd, {PGD_STEPS} steps)")
    e.add_argument("--third", choices=("random", "fgsm"), default="random",
                   help="boundary: the plane's third point (default random; fgsm: FGSM's result, with --attack pgd)")
    e.add_argument("--samples-test", type=int_in(2, 10_000), default=10_000,
                   help="projection: test digits projected (default 10000)")
    add_json_flags(e, "the numbers behind every picture", instead="instead of the summary")


def parse_methods(text: str) -> list[str]:
    """The --method list in order, `all` expanded; UsageError for an unknown or repeated name."""
    methods: list[str] = []
    for item in (part.strip() for part in text.split(",")):
        if item not in (*METHODS, "all"):
            raise UsageError(f"--method: unknown method {item!r}; choose from {', '.join(METHODS)} or all")
        for m in ALL if item == "all" else (item,):
            if m in methods:
                raise UsageError(f"--method names {m} twice" + (" (all includes it)" if "all" in text else ""))
            methods.append(m)
    return methods


def check_combination(args, methods: list[str]) -> tuple[dict[str, int], dict[str, int]]:
    """(grid, scale) per picture; UsageError for flags that do not go together, before any work."""
    if args.bpda and args.defense == "none":
        raise UsageError("--bpda (the gradient without the defense) needs --defense jpeg or bit_depth")
    if args.defense != "none" and "landscape" not in methods:
        raise UsageError("--defense only changes the landscape: add landscape to --method")
    if args.third == "fgsm" and args.attack == "fgsm" and "boundary" in methods:
        raise UsageError("--third fgsm needs --attack pgd (with --attack fgsm the adversarial point is FGSM's result)")
    if "landscape" in methods and args.grid is not None and args.grid % 2 == 0:
        raise UsageError(f"--grid {args.grid}: the landscape needs an odd grid, so its centre (the image itself) is "
                         f"a grid point; try {args.grid + 1}")
    moving = [m for m in ("boundary", "projection") if m in methods]
    if moving and args.eps == 0:
        raise UsageError(f"at ε = 0 the attack does not move the image, so {' and '.join(moving)} has nothing to "
                         "show: raise --eps")
    grids = {k: args.grid or v for k, v in GRIDS.items()}
    scales = {k: args.scale or v for k, v in SCALES.items()}
    for what, side in (("landscape", grids["landscape"]), ("boundary", grids["boundary"])):
        if what in methods and side * scales[what] > MAX_SIDE:
            raise UsageError(f"--grid {side} at --scale {scales[what]} makes a {what} picture "
                             f"{side * scales[what]} pixels a side (at most {MAX_SIDE}); lower one of them")
    return grids, scales


def rounded(values) -> object:
    """Numbers (any nesting) as nested lists of floats with 6 significant digits; NaN and infinities as None."""
    import numpy as np

    arr = np.asarray(values, dtype=np.float64)
    flat = [float(f"{v:.6g}") if math.isfinite(v) else None for v in arr.ravel().tolist()]
    return np.array(flat, dtype=object).reshape(arr.shape).tolist()


def _ints(values) -> object:
    import numpy as np

    return np.asarray(values).astype(np.int64).tolist()


def _percent(share: float) -> str:
    return f"{share * 100:.0f} %"


def _probabilities(model, x):
    import torch

    with torch.inference_mode():
        return torch.softmax(model(x), 1)[0].cpu().numpy()


def _pgd(model, x, eps: float):
    """PGD at ε away from the model's reading of x with every iterate recorded (the window's explain attack)."""
    import torch

    from advstudio.core.attacks.registry import make_attack

    with torch.no_grad():  # not inference mode: the attack's autograd uses y
        y = model(x).argmax(1)
    attack = make_attack("pgd", eps=float(eps), steps=PGD_STEPS, step_size=2.5 * float(eps) / PGD_STEPS,
                         restarts=1, random_start=False, early_stop=False, record_trajectory=True)
    return attack.run(model, x, y)


class Explainer:
    """The computations of one run: the model, the image, its FGSM version and the PGD run (made once, shared by
    the boundary and the projection). Each method returns (JSON section, RGB picture, summary line)."""

    def __init__(self, args, model, x, x_adv, classes: tuple[int, int], grids: dict, scales: dict, test=None,
                 names: tuple[str, ...] | None = None):
        self.args, self.model, self.x, self.x_adv, self.classes = args, model, x, x_adv, classes
        self.grids, self.scales, self.test = grids, scales, test
        self.names = names  # the model's class names (None: numbered, or the ten digits)
        self.digits = names is None and int(_probabilities(model, x).shape[0]) == 10
        self.eps = float(args.eps)
        self.image = x[0, 0].cpu().numpy()
        self._pgd_out = None

    def pgd(self):
        if self._pgd_out is None:
            self._pgd_out = _pgd(self.model, self.x, self.eps)
        return self._pgd_out

    def label(self, index) -> str:
        """A class of the model for a summary line: its number, and its name when it has one (3 "Dress")."""
        return class_label(int(index), self.names)

    def run(self, method: str):
        if method in ATTRIBUTIONS:
            return self.attribution(method)
        return getattr(self, method)()

    def attribution(self, method: str):
        import numpy as np
        import torch

        from advstudio.core.explain.attribution import METHOD_TITLES, SIGNED, attribute, ink_share
        from advstudio.core.explain.figures import attribution_figure

        settings = {"smoothgrad": {"samples": self.args.samples, "sigma": self.args.sigma},
                    "ig": {"steps": self.args.steps}}.get(method, {})
        attr = attribute(self.model, torch.cat([self.x, self.x_adv]), method, targets=list(self.classes), **settings)
        shares = ink_share(attr.maps, np.stack([self.image, self.image]))  # on the ink: the image's own strokes
        both = ("clean", "adversarial")
        section = {
            "title": METHOD_TITLES[method],
            "signed": bool(SIGNED[method]),
            "params": attr.params,
            "targets": {k: int(t) for k, t in zip(both, attr.targets)},
            "scores": {k: float(s) for k, s in zip(both, attr.scores)},
            "ink_share": {k: float(s) for k, s in zip(both, shares)},
            "maps": {k: rounded(m) for k, m in zip(both, attr.maps)},
        }
        line = (f"{method}: {_percent(shares[0])} of the map on the strokes (clean), {_percent(shares[1])} "
                f"(FGSM ε = {self.eps:g}, reads {self.label(self.classes[1])})")
        if attr.relative_delta is not None:
            section["relative_delta"] = {k: float(d) for k, d in zip(both, attr.relative_delta)}
            line += f"; completeness gap {max(map(float, attr.relative_delta)) * 100:.2g} %"
        picture = attribution_figure(self.image, self.x_adv[0, 0].cpu().numpy(), attr.maps, bool(SIGNED[method]),
                                     self.scales["attribution"])
        return section, picture, line

    def landscape(self):
        from advstudio.core.defenses import DefendedModel
        from advstudio.core.defenses.builders import make_transform
        from advstudio.core.explain.figures import landscape_figure
        from advstudio.core.explain.landscape import loss_landscape

        judged = direction = self.model
        words, defense = "its own gradient", {"kind": "none"}
        if self.args.defense != "none":
            t = make_transform(self.args.defense)
            judged = direction = DefendedModel(self.model, t, adaptive=False).eval()
            words = "the gradient the defense shows (zero through it)"
            if self.args.bpda:
                direction = DefendedModel(self.model, t, adaptive=True).eval()
                words = "the gradient without the defense (BPDA)"
            defense = {"kind": self.args.defense, "params": dict(t.params()), "described": t.describe(),
                       "attacker": "bpda" if self.args.bpda else "plain"}
        land = loss_landscape(judged, self.x, None, self.eps, direction_model=direction, direction_name=words,
                              grid=self.grids["landscape"])
        flipped, rise_a, rise_b = land.flipped_share(), land.rise_along("a"), land.rise_along("b")
        section = {
            "defense": defense, "direction": land.direction, "label": int(land.label),
            "clean_pred": int(land.clean_pred),
            "eps": float(land.eps), "span": float(land.span), "gradient_zero": bool(land.gradient_zero),
            "flipped_share": float(flipped), "rise_a": float(rise_a), "rise_b": float(rise_b),
            "a": rounded(land.a), "b": rounded(land.b), "loss": rounded(land.loss), "pred": _ints(land.pred),
        }
        thing = "digit" if self.digits else "class"
        where = f"{_percent(flipped)} of the ε-ball reads another {thing}"
        head = "landscape" + (f" ({defense['described']}, {defense['attacker']} attacker)" if "described" in defense
                              else "")
        if land.gradient_zero:
            line = f"{head}: the gradient it shows is zero: the loss is flat along it; {where}"
        else:
            line = (f"{head}: loss rises {rise_a:.3g} along the gradient, {rise_b:.3g} along a random direction; "
                    f"{where}")
        picture = landscape_figure(land.a, land.b, land.loss, land.pred, land.eps, self.scales["landscape"])
        return section, picture, line

    def boundary(self):
        import numpy as np
        import torch

        from advstudio.core.explain.boundary import decision_plane
        from advstudio.core.explain.figures import boundary_figure

        attack = {"name": self.args.attack, "eps": self.eps}
        if self.args.attack == "pgd":
            out = self.pgd()
            adv = out.x_adv[:1]
            path = torch.from_numpy(np.asarray(out.trajectory.images)[:, 0].copy())
            attack.update(steps=PGD_STEPS, step_size=2.5 * self.eps / PGD_STEPS)
        else:
            adv = self.x_adv
            path = torch.cat([self.x, adv]).cpu()
        if torch.equal(adv, self.x):
            raise ValueError(f"at ε = {self.eps:g} the attack does not move the image: raise --eps")
        third, third_name = None, "a random direction"
        if self.args.third == "fgsm" and not torch.equal(self.x_adv, self.x):
            third, third_name = self.x_adv, "FGSM's result"
        plane = decision_plane(self.model, self.x, adv, third, path=path, third_name=third_name,
                               grid=self.grids["boundary"])
        clean_pred, adv_pred = self.classes[0], int(_probabilities(self.model, adv).argmax())
        crossing = plane.crossing()
        section = {
            "attack": attack, "clean_pred": clean_pred, "adv_pred": adv_pred, "third_name": plane.third_name,
            "points": {k: [float(p) for p in v] for k, v in plane.points.items()},
            "crossing": crossing, "clamped_share": float(plane.clamped_share),
            "u": rounded(plane.u), "v": rounded(plane.v), "pred": _ints(plane.pred),
            "confidence": rounded(plane.confidence), "path": rounded(plane.path),
            "path_off_plane": rounded(plane.path_off_plane),
        }
        name, steps = self.args.attack.upper(), len(plane.path) - 1
        clean, moved = self.label(clean_pred), self.label(adv_pred)
        if adv_pred == clean_pred:
            line = f"boundary: {name} does not reach a border at ε = {self.eps:g}: the {clean} stays a {clean}"
        elif crossing is not None:
            line = f"boundary: {name} takes the {clean} across the border into {moved} at step {crossing} of {steps}"
        else:
            line = f"boundary: {name} ends as {moved} (off this plane's grid of classes)"
        off = float(np.max(plane.path_off_plane)) if len(plane.path_off_plane) else 0.0
        line += f"; third point: {plane.third_name}" + (
            f"; the path leaves the plane by up to {off:.2f} (L2)" if off > 1e-3 else "")
        picture = boundary_figure(plane.u, plane.v, plane.pred, plane.confidence, plane.points, plane.path,
                                  self.scales["boundary"])
        return section, picture, line

    def projection(self):
        import numpy as np
        import torch

        from advstudio.core.explain.figures import projection_figure
        from advstudio.core.explain.projection import project_dataset, project_path

        test = self.test.head(self.args.samples_test)
        device = self.x.device
        projected = project_dataset(self.model, test.images.to(device), test.labels.to(device))
        out = self.pgd()
        frames = torch.from_numpy(np.ascontiguousarray(np.asarray(out.trajectory.images)[:, 0], dtype=np.float32))
        path = project_path(self.model, projected.projection, frames.to(device))
        path_classes = np.asarray(out.trajectory.probs)[:, 0].argmax(1)
        classes = np.unique(projected.labels)
        centroids = np.stack([projected.coords[projected.labels == k].mean(0) for k in classes])

        def nearest(point) -> int:
            return int(classes[np.argmin(((centroids - point) ** 2).sum(1))])

        start, end = nearest(path[0]), nearest(path[-1])
        p = projected.projection
        section = {
            "layer": p.layer, "explained": [float(e) for e in p.explained], "n": len(test), "data": str(test.source),
            "attack": {"name": "pgd", "eps": self.eps, "steps": PGD_STEPS, "step_size": 2.5 * self.eps / PGD_STEPS},
            "path": rounded(path), "path_classes": _ints(path_classes),
            "centroids": {str(int(k)): rounded(c) for k, c in zip(classes, centroids)},
            "nearest_start": start, "nearest_end": end,
        }
        digits = test.classes == DIGITS

        def among(k: int) -> str:
            return f"{k}s" if digits else f"class {class_label(k, test.classes)}"

        moved = f"ends among the {among(end)}" if end != start else f"stays among the {among(start)}"
        line = (f"projection: starts among the {among(start)} and {moved} (read as {self.label(path_classes[0])} → "
                f"{self.label(path_classes[-1])} after {len(path) - 1} PGD steps); the axes hold "
                f"{_percent(p.explained[0])} and {_percent(p.explained[1])} of the spread before {p.layer} "
                f"({len(test):,} test {'digits' if digits else 'images'})")
        return section, projection_figure(projected.coords, projected.labels, path, PROJECTION_SIZE), line


def run(args) -> int:
    """Explain one image with each method asked for; write a PNG per method and the JSON, print a summary."""
    import json

    import torch

    from advstudio.core.attacks.fgsm import FGSM
    from advstudio.core.data import load_split
    from advstudio.core.files import atomic_write_bytes, atomic_write_text
    from advstudio.core.images import load_image_file
    from advstudio.core.render import png_bytes

    to_stdout, json_out = json_targets(args, "explain")
    methods = parse_methods(args.method)
    grids, scales = check_combination(args, methods)
    out = Path(args.out)
    stem = f"test{args.index}" if args.index is not None else Path(args.image).stem
    files = {m: out / f"{stem}_{m}.png" for m in methods}
    files["json"] = out / f"{stem}_explain.json"
    if out.exists() and not out.is_dir():
        return fail(f"--out {out} is not a folder (the PNGs go into a folder)")
    check_outputs(*files.values(), json_out, inputs=[args.image, args.model])
    test = (load_split(args.data, "test", layout=args.classes) if args.index is not None or "projection" in methods
            else None)
    if args.index is not None:
        if not 0 <= args.index < len(test):
            return fail(f"--index {args.index} is outside the test set (0–{len(test) - 1})")
        img = test.images[args.index, 0].numpy()
        source = {"index": args.index, "data": str(test.source), "label": int(test.labels[args.index])}
    else:
        img = load_image_file(args.image)
        source = {"image": str(args.image)}
    device = setup_torch(args)
    model, meta, name, _ = load_model(args.model, device)
    x = torch.from_numpy(img).reshape(1, 1, 28, 28).to(device)
    clean = _probabilities(model, x)
    names, problem = _class_names(meta, test, args.classes, name, len(clean))
    if problem:
        return fail(problem)
    x_adv, _ = FGSM(args.eps)(model, x, torch.tensor([int(clean.argmax())], device=device))
    adv = _probabilities(model, x_adv)
    classes = (int(clean.argmax()), int(adv.argmax()))
    explainer = Explainer(args, model, x, x_adv, classes, grids, scales, test, names)
    sections, pictures, lines = {}, {}, []
    try:
        for m in methods:
            sections[m], pictures[m], line = explainer.run(m)
            lines.append(line)
    except ValueError as exc:  # the explain functions' own checks (no convolution for Grad-CAM, a flat plane, …)
        return fail(str(exc))
    doc = {
        "model": name,
        "source": source,
        "eps": float(args.eps),
        **({"classes": list(names)} if names else {}),
        "clean": {"class": classes[0], **_name(classes[0], names), "probs": [float(v) for v in clean]},
        "adversarial": {"attack": "fgsm", "class": classes[1], **_name(classes[1], names),
                        "probs": [float(v) for v in adv]},
        "methods": sections,
        "files": {k: str(v) for k, v in files.items()} | ({"json_out": str(json_out)} if json_out else {}),
    }
    out.mkdir(parents=True, exist_ok=True)
    for m in methods:
        atomic_write_bytes(files[m], png_bytes(pictures[m]))
    atomic_write_text(files["json"], json.dumps(doc, indent=2) + "\n")
    if not to_stdout:
        print(f"model: {name}; reads {class_label(classes[0], names)} ({clean[classes[0]] * 100:.1f} %); FGSM "
              f"ε = {args.eps:g} reads {class_label(classes[1], names)} ({adv[classes[1]] * 100:.1f} %)")
        for line in lines:
            print(line)
        print(f"wrote {', '.join(str(files[m]) for m in methods)}, {files['json']}")
    emit_json(doc, to_stdout, json_out)
    return 0


def _name(index: int, names) -> dict:
    """{"class_name": …} for a JSON class entry when the model's classes have names other than their numbers."""
    return {"class_name": names[index]} if names and 0 <= index < len(names) else {}


def _class_names(meta: dict, test, layout: str | None, name: str, outputs: int):
    """(the model's class names or None, why the model cannot be explained on these data or None): the names its
    metadata records, else the dataset's (--classes, or the test set's when it is read); a model whose number of
    outputs is not the data's number of classes is refused, as `advstudio evaluate` refuses it."""
    from advstudio.core.classes import KNOWN_LAYOUTS
    from advstudio.core.model_meta import class_names

    if test is not None and test.num_classes != outputs:
        return None, (f"the model {name} has {outputs} classes but the dataset in {test.source} has "
                      f"{test.num_classes}: explain it on the data it was trained for (or give the dataset's "
                      "--classes layout)")
    names = class_names(meta)
    if names is None:
        names = list(test.classes) if test is not None else (KNOWN_LAYOUTS[layout] if layout else None)
    if names is not None and len(names) != outputs:
        return None, f"--classes {layout} names {len(names)} classes but the model has {outputs} outputs"
    return (tuple(names) if names is not None and tuple(names) != DIGITS else None), None
