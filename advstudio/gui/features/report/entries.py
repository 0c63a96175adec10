"""The session log's plain-data entries: what the report keeps of the Activations dock's data, the Side by side
tab's comparison and the lesson (numpy arrays and Python values only, so core/report/ can lay them out)."""

from __future__ import annotations

import numpy as np


def plain(value: object) -> object:
    """JSON-like plain Python (params of a curve may hold numpy scalars or tuples)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def activations_entry(data, model: str, attack_id: int | None, class_names=None) -> dict:
    """The dock's data (an ActivationsData) reduced to what the report shows: per layer its shift and the clean/adversarial
    means; `class_names`: the model's classes (the report names the predictions by them)."""
    comp = data.comparison
    clean = {layer.name: layer for layer in comp.clean.layers}
    adv = {layer.name: layer for layer in comp.adversarial.layers}
    layers = []
    for s in comp.shifts:
        c, a = clean.get(s.name), adv.get(s.name)
        layers.append({
            "name": s.name, "shape": list(c.shape) if c else [],
            "clean_mean": c.mean if c else None, "adv_mean": a.mean if a else None,
            "clean_active": c.active_fraction if c else None, "adv_active": a.active_fraction if a else None,
            "mean_abs_change": s.mean_abs_change, "clean_mean_abs": s.clean_mean_abs,
            "relative_shift": s.relative_shift, "flip_fraction": s.flip_fraction,
            "on_to_off": s.on_to_off_fraction, "off_to_on": s.off_to_on_fraction,
        })
    st = data.settings
    return {"attack_id": attack_id, "eps": float(st.eps), "method": st.method,
            "target": st.target if st.method == "fgsm-targeted" else None, "clean_label": int(data.clean_label),
            "adv_label": int(data.adv_label), "model": model, "samples": int(comp.samples), "layers": layers,
            "class_names": None if class_names is None else [str(n) for n in class_names]}


def side_class_names(meta, outputs: int) -> list[str] | None:
    """A side's class names from its model file's metadata, when they are as many as its outputs (a model trained
    in this session has no metadata: None, the report looks it up by name or shows numbers)."""
    from advstudio.core.model_meta import model_classes

    if not meta:
        return None
    names = model_classes(dict(meta))
    return list(names) if len(names) == outputs else None


def compare_entry(result) -> dict:
    """The Side by side tab's CompareResult as plain data: the drawing, the attack, and per side its model, both
    readings and the attacked image (or why there is none)."""
    from advstudio.core.info import now_iso

    sides = []
    for side in result.sides:
        r = side.attack
        entry = {"model": side.model_name, "role": side.side.role, "message": side.message,
                 "clean_label": None, "adv_label": None, "clean_conf": None, "adv_conf": None, "adversarial": None}
        if r is not None:
            c, a = r.clean_label, r.adv_label
            entry.update(clean_label=c, adv_label=a, clean_conf=float(r.clean_probs[c]),
                         adv_conf=float(r.adv_probs[a]), adversarial=np.array(r.adversarial, dtype=np.float32),
                         message=None, class_names=side_class_names(side.meta, len(r.clean_probs)))
        elif not entry["message"]:
            entry["message"] = side.side.unavailable or "no model"
        sides.append(entry)
    s = result.settings
    return {"eps": float(s.eps), "method": s.method, "target": s.target if s.method == "fgsm-targeted" else None,
            "image": np.array(result.image, dtype=np.float32).reshape(28, 28), "sides": sides, "recorded": now_iso()}


def lesson_entry(lesson, done) -> dict | None:
    """A core Lesson and the ids of its steps done, as plain data (None: no lesson)."""
    if lesson is None:
        return None
    done = set(done)
    return {"title": lesson.title, "steps": [{"id": step.id, "title": step.title} for step in lesson.steps],
            "done": [step.id for step in lesson.steps if step.id in done]}  # in the lesson's order


def explain_entry(kind: str, result) -> dict:
    """A Why it breaks picture as plain data for the report: its arrays, its sentence and its settings."""
    from advstudio.core.explain import words
    from advstudio.core.info import now_iso

    entry: dict = {"kind": kind, "recorded": now_iso()}
    if kind == "attribution":
        entry.update(method=result.method, signed=result.signed, eps=result.attack.eps, params=dict(result.params),
                     verdict=words.attribution_verdict(result),
                     rows=[{"model": r.model_name, "clean": np.array(r.clean, np.float32),
                            "adversarial": np.array(r.adversarial, np.float32), "maps": np.array(r.maps, np.float32),
                            "classes": list(r.classes), "ink_share": list(r.ink_share)} for r in result.rows])
    elif kind == "landscape":
        entry.update(model=result.model_name, eps=result.eps, a=np.array(result.a), b=np.array(result.b),
                     loss=np.array(result.loss), pred=np.array(result.pred), verdict=words.landscape_verdict(result),
                     direction=result.request.direction, gradient_zero=result.gradient_zero)
    elif kind == "boundary":
        entry.update(model=result.model_name, eps=result.request.eps, attack=result.request.attack,
                     u=np.array(result.u), v=np.array(result.v), pred=np.array(result.pred),
                     confidence=np.array(result.confidence), points=dict(result.points),
                     path=None if result.path is None else np.array(result.path), third=result.third_name,
                     verdict=words.boundary_verdict(result))
    elif kind == "projection":
        entry.update(model=result.model_name, eps=result.request.eps, coords=np.array(result.coords),
                     labels=np.array(result.labels), path=np.array(result.path), layer=result.layer,
                     verdict=words.projection_verdict(result))
    return entry
