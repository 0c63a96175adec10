"""The facts a lesson's {placeholders} stand for, read from the loaded model's metadata (no Qt, no torch).

The metadata is display-only: whatever a model file holds there, each fact is text, '?' for what the file does
not record or records in a form that cannot be shown; nothing here raises."""

from __future__ import annotations

import math
import re

# {name} in a body is replaced by a fact read from the loaded model's file (gui side: model_facts)
PLACEHOLDERS = ("model_name", "accuracy", "test_samples", "errors", "train_samples", "epochs", "optimizer", "lr",
                "batch_size", "training_seconds", "fgsm_table", "robust_headline")
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def model_facts(meta: dict, name: str) -> dict[str, str]:
    """The placeholders' values, read from a model file's metadata; '?' for what the file does not record or
    records in a form that cannot be shown (the metadata is display-only: nothing in it may raise)."""
    facts = {p: "?" for p in PLACEHOLDERS}
    facts["model_name"] = markdown_literal(str(name))
    meta = meta if isinstance(meta, dict) else {}
    acc, n = _fraction(meta.get("test_accuracy")), meta.get("test_samples")
    if acc is not None:
        facts["accuracy"] = f"{acc * 100:.2f}%"
        if _count(n) is not None:
            facts["errors"] = f"{round((1 - acc) * n):,}"
    recipe = meta.get("recipe") if isinstance(meta.get("recipe"), dict) else {}
    for key, source in (("test_samples", meta), ("train_samples", meta), ("epochs", meta),
                        ("training_seconds", meta), ("optimizer", recipe), ("lr", recipe), ("batch_size", recipe)):
        value = source.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            facts[key] = f"{value:,}"
        elif isinstance(value, float) and math.isfinite(value):
            facts[key] = str(value)
        elif isinstance(value, str) and len(value) <= 200:
            facts[key] = markdown_literal(value)
    facts["fgsm_table"] = _fgsm_table(meta.get("fgsm_curve"))
    facts["robust_headline"] = _robust_headline(meta, facts["model_name"])
    return facts


def _robust_headline(meta: dict, name: str) -> str:
    """One sentence: the loaded model's robust accuracy at ε = 0.3 from its strongest recorded attack."""
    from advstudio.core.model_meta import robust_headline

    head = robust_headline(meta)
    if head is None:
        return (f"*{name}'s file records no robust accuracy at ε = 0.3; the bundled robust model's does (load it "
                "with the button below).*")
    n = f"{head['n']:,} test digits" if head["n"] else "test digits"
    text = (f"{name} keeps **{head['accuracy'] * 100:.1f}%** of {n} at ε = 0.3 under "
            f"{markdown_literal(head['label'])}")
    text += (", the strongest attack we have" if head["strongest"]
             else " (not yet measured with AutoAttack, the strongest attack we have)")
    weaker = [f"{markdown_literal(lab)} {acc * 100:.1f}%" for lab, acc, _n in head["weaker"][:2]]
    return text + (f". Weaker attacks report more: {', '.join(weaker)}." if weaker else ".")


def _fraction(value: object) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok and 0.0 <= value <= 1.0 else None


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10**9 else None


def _fgsm_table(curve: object) -> str:
    eps = curve.get("eps") if isinstance(curve, dict) else None
    accs = curve.get("accuracy") if isinstance(curve, dict) else None
    if not isinstance(eps, list) or not isinstance(accs, list) or not eps or len(eps) != len(accs):
        return "*This model's file records no FGSM curve; step 6 measures one.*"
    rows = []
    for e, a in zip(eps[:50], accs[:50]):
        e_ok = isinstance(e, (int, float)) and not isinstance(e, bool) and math.isfinite(e)
        a = _fraction(a)
        rows.append(f"| {e:.2f} | {a * 100:.1f}% |" if e_ok and a is not None else "| ? | ? |")
    n_curve = f"{curve['n']:,}" if _count(curve.get("n")) is not None else "?"
    return "\n".join(["| ε | accuracy under FGSM |", "|---|---|", *rows, "",
                      f"*Measured when the model was saved: untargeted FGSM, one step, {n_curve} test images.*"])


def markdown_literal(text: str) -> str:
    """`text` (a model's name, a file's value) as Markdown that shows it as written: Qt's Markdown would drop
    `<img …>` as HTML and read `*` or `|` as emphasis or a table."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|~<>])", r"\\\1", text.replace("&", "&amp;"))


def fill(body: str, facts: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: facts.get(m.group(1), m.group(0)), body)
