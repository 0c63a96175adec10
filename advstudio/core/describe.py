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
# The same two notes in plain words (the window shows these; the precise ones above sit in their tooltips and in
# the report), and what the names in them mean.
DEFENSE_NOTE_PLAIN = ("A defense is only credited with what it holds against an attacker who knows it and works "
                      "around it.")
CREDIT_NOTE_PLAIN = ("A defense is credited only with what it holds against the adaptive attack, an attacker who "
                     "knows the defense and works around it; the plain curve is what a naive attacker sees.")
ATTACKER_TERMS = ("BPDA (backward-pass differentiable approximation): for a step it cannot take gradients through, "
                  "such as JPEG or rounding, the attacker pretends the step left the image unchanged. EOT "
                  "(expectation over transformation): against random noise it averages its gradient over many "
                  "noise draws. logits / T: against a distilled model it divides the model's raw scores by the "
                  "temperature T so that the gradient no longer vanishes.")

# An attack setting's plain label (the precise symbol in brackets), its one-line plain explanation, and the
# maths for those who ask (forms' tooltips and What's This, CLI help).
SETTINGS: dict[str, tuple[str, str, str]] = {
    "eps": ("Strength (ε)", "How far each pixel may move, in pixel units from 0 (not at all) to 1 (black to white).",
            "L∞ budget: every pixel of the perturbation δ stays within ±ε (‖δ‖∞ ≤ ε)."),
    "steps": ("Steps", "How many small pushes the attack makes; more steps find stronger changes but take longer.",
              ""),
    "step_size": ("Step size (α)", "How far each step moves the pixels, in pixel units (0–1); 'auto' picks it "
                  "from ε and the steps.", ""),
    "restarts": ("Restarts", "How many times the attack starts again from a new random point; an image counts "
                 "as fooled if any try fools it.", ""),
    "random_start": ("Random start", "Begin from a random point inside the allowed change instead of the image "
                     "itself.", "The start is drawn uniformly from the L∞ ball of radius ε."),
    "decay": ("Momentum (μ)", "How much each step keeps going in the direction of the steps before it (MI-FGSM).",
              "g ← μ·g + ∇/mean|∇|; the step follows sign(g)."),
    "loss": ("Goal (loss)", "What the attack pushes on: 'ce' lowers the model's confidence in the right answer, "
             "'margin' lifts the best wrong class above the right one.",
             "ce: cross-entropy; margin: the best other logit minus the true class's logit."),
    "seed": ("Seed", "A number that fixes the random choices, so the same settings give the same result.", ""),
    "c": ("Trade-off (c)", "C&W: how much fooling the model counts against keeping the change small; the search "
          "rounds tune it, this is where they start.",
          "C&W minimises ‖δ‖₂² + c·f(x+δ); c is the binary search's starting value."),
    "kappa": ("Confidence margin (κ)", "C&W: by how much the wrong class must beat the right one before the attack "
              "is satisfied; 0 = only just.", "f = max(logit_true − best other logit, −κ)."),
    "lr": ("Learning rate (lr)", "C&W: how big each of the optimiser's steps is.", "Adam's learning rate."),
    "binary_search_steps": ("Search rounds", "C&W: how many times it tries again with a different trade-off c, "
                            "looking for the smallest change that still fools the model.",
                            "A binary search over c, one per image."),
    "overshoot": ("Overshoot", "DeepFool: how far past the model's decision boundary the change goes, so the image "
                  "lands safely on the wrong side.", "x_adv = clamp(x + (1 + overshoot)·Σr, 0, 1)."),
    "queries": ("Queries", "How many times the attack may ask the model about each image (Square and SimBA: for "
                "its scores; HopSkipJump: only for its answer); it never looks inside the model.",
                "The query budget per image (the clean check not counted)."),
    "basis": ("Directions", "SimBA: 'pixel' tries one pixel at a time; 'dct' tries smooth, blurry patterns "
              "first (low frequencies).", "The search basis: the standard basis, or the 2-D DCT, low to high."),
    "init_evals": ("First samples", "HopSkipJump: how many random nearby images it asks about to guess the "
                   "boundary's direction at the first step; later steps ask more.",
                   "Monte-Carlo samples for the gradient-direction estimate at t = 1; init_evals·√t afterwards."),
    "max_evals": ("Most samples", "HopSkipJump: the most random nearby images one step may ask about.",
                  "The cap on init_evals·√t."),
    "theta": ("Change per pixel (θ)", "JSMA: how much each chosen pixel moves, in pixel units (1: to white; "
              "negative values darken).", "Each chosen pixel moves by θ, clamped to [0, 1]."),
    "gamma": ("Most pixels (γ)", "JSMA: the largest share of the image's pixels it may change.",
              "At most ⌊γ·784⌋ pixels change."),
    "pixels": ("Pixels", "One-pixel attack: how many pixels it may change (1 to 5).", "The L0 budget."),
    "population": ("Population", "One-pixel attack: how many candidate changes evolve together.",
                   "Differential evolution's population size (DE/rand/1, F = 0.5)."),
    "p_init": ("Square size (p)", "Square: how much of the image the first squares cover; they shrink as the "
               "attack goes on.", "Fraction of the pixels in a square at the start, halved on the paper's schedule."),
    "target_classes": ("Target digits", "APGD-T and FAB-T: how many of the digits the model finds next most "
                       "likely they try, one after the other.", "One run per class (APGD-T: on the targeted DLR "
                       "loss), from the 2nd to the (k+1)-th largest clean logit."),
    "version": ("Version", "AutoAttack: “standard” for a model that answers the same every time; “rand” for a "
                "defense that draws random numbers (its attacks average 20 calls).", "standard: APGD-CE → APGD-T → "
                "FAB-T → Square; rand: APGD-CE → APGD-T with EOT over 20 draws."),
    "budget": ("Budget", "AutoAttack: 1 runs the paper's full steps and queries; less runs a quicker, weaker "
               "version (its figures say so).", "Every attack's steps and queries × budget."),
    "early_stop": ("Stop when fooled", "Stop working on an image as soon as the model gets it wrong (off: run every "
                   "step, to watch the whole path).", ""),
}


def setting_words(key: str) -> tuple[str, str, str]:
    """(label, plain explanation, maths) of an attack setting; an unknown key is its own label."""
    return SETTINGS.get(key, (key, key, ""))


def attack_title(name: str) -> str:
    """"PGD", "C&W L2": as figures and tables print an attack (its registry name when unknown)."""
    spec = ATTACKS.get(str(name))
    return spec.title if spec is not None else str(name)


def eps_text(eps: float) -> str:
    """ε with its units and equivalents: pixel units, grey levels, normalized units (EPS_UNITS says what those
    are, for a tooltip)."""
    return (f"ε = {eps:.3f} pixel units (0–1)  ·  {eps * 255:.1f} of 255 grey levels  ·  "
            f"{eps / MNIST_STD:.3f} normalized units")


EPS_UNITS = ("The same ε three ways: pixel values from 0 to 1, the 255 grey levels of an 8-bit image, and the units "
             f"the network computes in (it divides every pixel by MNIST's spread, σ = {MNIST_STD}, so ε becomes ε/σ).")


def norm_text(norm: str) -> str:
    return {"linf": "L∞", "l2": "minimal L2", "l0": "few pixels (L0)"}.get(norm, str(norm))


def steps_text(attack: str, params: dict) -> str:
    """"40 steps, 1 restart" (restarts: PGD's random restarts, C&W's binary-search rounds, else 1)."""
    if isinstance(params.get("attacks"), list):  # AutoAttack: its attacks in the order they run
        names = " → ".join(attack_title(str(a.get("attack", "?"))) for a in params["attacks"] if isinstance(a, dict))
        budget = params.get("budget", 1.0)
        return names + (", the paper's budgets" if budget == 1.0 else f", {budget:g} of the paper's budgets")
    if "queries" in params:
        return f"{int(params['queries'])} queries"
    if "population" in params:  # the one-pixel attack: differential evolution
        return f"{params.get('pixels', '?')} pixel(s), {int(params.get('steps', 1) or 1)} generations"
    if "theta" in params:  # JSMA: one pair of pixels per step, up to its share of the image
        return f"θ {params['theta']:g}, up to {float(params.get('gamma', 0)) * 100:g} % of the pixels"
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


def autoattack_details(params: dict) -> list[str]:
    """AutoAttack's version, its attacks in order with their budgets, and whether that is the paper's budget."""
    parts = []
    for a in params["attacks"]:
        if not isinstance(a, dict):
            continue
        name = attack_title(str(a.get("attack", "?")))
        if "queries" in a:
            parts.append(f"{name} {a['queries']} queries")
        else:
            per = f"{a.get('target_classes')}×" if a.get("target_classes") else ""
            parts.append(f"{name} {per}{a.get('steps', '?')} steps")
    budget = params.get("budget", 1.0)
    bits = [f"“{params.get('version', 'standard')}”", "L∞", " → ".join(parts)]
    if params.get("eot_draws"):
        bits.append(f"EOT over {params['eot_draws']} draws")
    bits.append("the paper's full budget" if budget == 1.0 else
                f"{budget:g} of the paper's budget: a weaker figure than AutoAttack's")
    return bits


def attack_details(attack: str, params: dict) -> list[str]:
    """Every setting a robustness figure must name, in words: targeting, norm, steps, step rule, restarts,
    random start, momentum, C&W's search, DeepFool's overshoot, early stop."""
    if attack == "autoattack" and isinstance(params.get("attacks"), list):
        return autoattack_details(params)
    norm = params.get("eps_norm") or params.get("norm")
    bits = ["targeted → " + str(params["target"]) if params.get("targeted") and params.get("target") is not None
            else ("targeted" if params.get("targeted") else "untargeted"),
            {"l2": "L2", "l0": "L0 (pixels changed)"}.get(str(norm), "L∞")]
    steps = params.get("steps", 1)
    if "queries" in params:
        bits.append(f"{params['queries']} queries" + (f", square size p {params['p_init']:g}" if "p_init" in params
                                                      else ""))
        if "basis" in params:
            bits.append(f"{params['basis']} basis")
    elif "theta" in params:  # JSMA: as many pixel pairs as it needs, up to its share (the next bit)
        pass
    elif "population" in params:
        bits.append(f"{params.get('pixels', '?')} pixel(s), population {params['population']}, "
                    f"{steps} generations")
    else:
        bits.append(f"{steps} step{'s' if steps != 1 else ''}")
    if "theta" in params:
        bits.append(f"θ {params['theta']:g} per pixel, at most {params.get('gamma', 0) * 100:g} % of the pixels")
    if params.get("target_classes"):
        bits.append(f"{params['target_classes']} target classes")
    if params.get("step_size_rule"):
        bits.append(f"step {params['step_size_rule'].replace('*', '·')}")
    elif params.get("step_size") is not None:
        bits.append(f"step {params['step_size']:g}")
    if attack in ("pgd", "apgd-ce", "apgd-t"):
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
