"""Worker-side helpers the studio, the Activations dock and Side by side share: a 28×28 input as a batch of one,
softmax probabilities, and the FGSM sign direction of one model and one input, cached, so that dragging ε
costs one forward pass per answer. Runs on the worker thread only (imports torch inside)."""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np

from advstudio.gui.messages import TARGETED

DIRECTION_CACHE = 16  # inputs × models × targets kept


def image_tensor(image: np.ndarray, device):
    """A 28×28 image in [0, 1] as a 1×1×28×28 float32 tensor on `device` (a copy)."""
    import torch

    arr = np.ascontiguousarray(image, dtype=np.float32).reshape(1, 1, 28, 28)
    return torch.from_numpy(arr.copy()).to(device)


def probabilities(model, x) -> np.ndarray:
    """Softmax of the model's logits, (N, 10) float32 numpy."""
    import torch

    with torch.inference_mode():
        return torch.softmax(model(x), dim=1).cpu().numpy().astype(np.float32)


def cached_direction(state, model, model_key, x, image: np.ndarray, method: str, target: int | None):
    """(FGSM sign direction, clean probabilities (1, 10)) of `model` at the input, cached per (model_key,
    input, method, target). Untargeted: away from the class the model reads; targeted: toward `target`."""
    import torch

    from advstudio.core.attacks.fgsm import fgsm_direction

    target = target if method == TARGETED else None
    key = (model_key, hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16).digest(), method, target)
    cache: OrderedDict = state.values.setdefault("fgsm_directions", OrderedDict())
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    if method == TARGETED:
        if target is None:
            raise ValueError("a targeted attack needs a target class")
        t = torch.tensor([int(target)], device=x.device)
        direction, logits = fgsm_direction(model, x, t, target=t)
        clean = torch.softmax(logits, dim=1).cpu().numpy().astype(np.float32)
    else:
        clean = probabilities(model, x)
        y = torch.tensor([int(clean[0].argmax())], device=x.device)
        direction, _ = fgsm_direction(model, x, y)
    cache[key] = (direction, clean)
    while len(cache) > DIRECTION_CACHE:
        cache.popitem(last=False)
    return direction, clean
