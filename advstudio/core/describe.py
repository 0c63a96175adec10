"""Words for attacks, defenses, curves and settings: the one place the CLI, the window and the report take
them from. No torch, no Qt."""

from __future__ import annotations

from advstudio.core.attacks.registry import ATTACKS
from advstudio.core.constants import MNIST_STD

DEFENSE_NOTE = ("A defense is only credited with what it holds against an attacker who knows it "
                "(BPDA for non-differentiable transforms, EOT for randomized ones).")
CREDIT_NOTE = ("A defense is credited only with what it holds against the adaptive attack (BPDA for "
               "non-differentiable transforms, EOT for randomized ones, the whole ensemble, logits / T for "
               "distillation); the plain curve is what a naive attacker sees.")

# An attack setting's label and its plain explanation (forms, tooltips, CLI help).
SETTINGS: dict[str, tuple[str, str]] = {
    "eps": ("ε", "L∞ budget in pixel units (0–1): how far each pixel may move"),
    "steps": ("steps", "iterations of the attack"),
    "step_size": ("step α", "L∞ step per iteration; 0 = the attack's default rule"),
    "restarts": ("restarts", "PGD runs from this many random starts; a sample is broken if any run breaks it"),
    "random_start": ("random start", "start from a uniform random point in the ε-ball"),
    "decay": ("momentum μ", "MI-FGSM: decay of the running gradient sum"),
    "loss": ("loss", "ce: cross-entropy; margin: best other logit minus the true one"),
    "seed": ("seed", "seed of the random starts (a run is reproducible)"),
    "c": ("c", "C&W: initial trade-off between ‖δ‖₂ and the misclassification term"),
    "kappa": ("κ", "C&W: confidence margin the adversarial class must win by"),
    "lr": ("lr", "C&W: Adam's learning rate"),
    "binary_search_steps": ("search rounds", "C&W: binary-search rounds over c"),
    "overshoot": ("overshoot", "DeepFool: how far past the linearized boundary to step"),
    "early_stop": ("early stop", "stop each sample once it is misclassified (off: run every step — full mode, "
                   "for inspecting trajectories)"),
}


def attack_title(name: str) -> str:
    """"PGD", "C&W L2": as figures and tables print an attack (its registry name when unknown)."""
    spec = ATTACKS.get(str(name))
    return spec.title if spec is not None else str(name)


def eps_text(eps: float) -> str:
    """ε with its units and equivalents: pixel units, grey levels, normalized units."""
    return (f"ε = {eps:.3f} pixel units (0–1)  ·  {eps * 255:.1f} of 255 grey levels  ·  "
            f"{eps / MNIST_STD:.3f} normalized units (ε/σ, σ = {MNIST_STD})")


def norm_text(norm: str) -> str:
    return "L∞" if norm == "linf" else "minimal L2"


def steps_text(attack: str, params: dict) -> str:
    """"40 steps, 1 restart" (restarts: PGD's random restarts, C&W's binary-search rounds, else 1)."""
    steps = int(params.get("steps", 1) or 1)
    restarts = int(params.get("restarts", params.get("binary_search_steps", 1)) or 1)
    kind = "search rounds" if attack == "cw" else ("restart" if restarts == 1 else "restarts")
    return f"{steps} step{'s' if steps != 1 else ''}, {restarts} {kind}"


def short_label(attack: str, params: dict) -> str:
    """The attack's name, and its target class when it is targeted."""
    text = attack_title(attack)
    if params.get("targeted"):
        text += f" → {params.get('target')}" if params.get("target") is not None else " (targeted)"
    return text


def attack_details(attack: str, params: dict) -> list[str]:
    """Every setting a robustness figure must name, in words: targeting, norm, steps, step rule, restarts,
    random start, momentum, C&W's search, DeepFool's overshoot, early stop."""
    l2 = params.get("eps_norm") == "l2" or params.get("norm") == "l2"
    bits = ["targeted → " + str(params["target"]) if params.get("targeted") and params.get("target") is not None
            else ("targeted" if params.get("targeted") else "untargeted"), "L2" if l2 else "L∞"]
    steps = params.get("steps", 1)
    bits.append(f"{steps} step{'s' if steps != 1 else ''}")
    if params.get("step_size_rule"):
        bits.append(f"step {params['step_size_rule'].replace('*', '·')}")
    elif params.get("step_size") is not None:
        bits.append(f"step {params['step_size']:g}")
    if attack == "pgd":
        restarts = params.get("restarts", 1)
        bits.append(f"{restarts} restart{'s' if restarts != 1 else ''}")
    if params.get("random_start"):
        bits.append("random start")
    if params.get("decay"):
        bits.append(f"momentum {params['decay']:g}")
    if "binary_search_steps" in params:
        bits.append(f"c {params['c']:g}, {params['binary_search_steps']} search rounds, lr {params['lr']:g}")
    if "overshoot" in params:
        bits.append(f"overshoot {params['overshoot']:g}")
    bits.append("early stop" if params.get("early_stop") else "full (every step)")
    return bits
