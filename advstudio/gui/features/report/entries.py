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


def activations_entry(data, model: str, attack_id: int | None) -> dict:
    """The dock's data (an ActivationsData) reduced to what the report shows: per layer its shift and the clean/adversarial means."""
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
            "adv_label": int(data.adv_label), "model": model, "samples": int(comp.samples), "layers": layers}


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
                         message=None)
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
