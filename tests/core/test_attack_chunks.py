"""Large batches run as chunks: the merged output equals the one-batch output, sample for sample."""

from __future__ import annotations

import pytest
import torch

import advstudio.core.attacks.base as base
from advstudio.core.attacks import make_attack
from advstudio.core.model import MnistCNN


@pytest.mark.parametrize("name, settings", [("fgsm", {"eps": 0.1}),
                                            ("bim", {"eps": 0.1, "steps": 5}),
                                            ("pgd", {"eps": 0.1, "steps": 5, "random_start": False}),
                                            ("deepfool", {"steps": 5})])
def test_chunked_run_matches_one_batch(monkeypatch, name, settings):
    torch.manual_seed(0)
    model = MnistCNN().eval()
    x, y = torch.rand(70, 1, 28, 28), torch.randint(0, 10, (70,))
    attack = make_attack(name, **settings)
    monkeypatch.setattr(base, "CHUNK_SIZE", 1000)
    whole = attack.run(model, x, y)
    monkeypatch.setattr(base, "CHUNK_SIZE", 16)  # 5 chunks, the last one short
    parts = attack.run(model, x, y)
    assert parts.n == whole.n == 70
    assert torch.equal(parts.success, whole.success) and torch.equal(parts.pred, whole.pred)
    assert torch.allclose(parts.x_adv, whole.x_adv, atol=1e-5)
    assert torch.allclose(parts.linf, whole.linf, atol=1e-5)
    assert parts.gradient_evaluations == whole.gradient_evaluations
