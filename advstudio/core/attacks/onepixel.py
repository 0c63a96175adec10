"""The one-pixel attack (Su, Vargas & Sakurai, 2019, "One pixel attack for fooling deep neural networks"), an L0
attack in [0, 1] pixel space that changes 1 to 5 pixels and asks the model only for its probabilities: no
gradients, so it works on any model that answers with scores.

A candidate is `pixels` triples (row, column, value): set those pixels to those values. Differential evolution
improves a population of candidates: it starts from random ones (positions uniform over the image, values
uniform in [0, 1]) and, each generation, makes one child per parent by DE/rand/1, child = a + F·(b − c) with
a, b, c three other random members and F = 0.5, without crossover (as the paper). A child whose position falls off
the image gets a fresh random position (as SciPy's differential evolution does); its value is clipped to
[0, 1]. The child replaces its parent if it is better. Fitness: the probability of the true class, lower is
better (targeted: the target's probability, higher is better), compared through log(1/p − 1) =
logsumexp_{k≠c}(z_k − z_c), which orders candidates exactly as p does without rounding to 1.0 when the model
is sure. A sample stops as soon as any candidate fools the model (early_stop); every candidate evaluated on a
sample is one query."""

from __future__ import annotations

import threading

import torch
import torch.nn.functional as F
from torch import nn

from advstudio.core.attacks.base import Attack
from advstudio.core.attacks.common import (
    AttackOutput,
    TrajectoryRecorder,
    build_output,
    check_cancel,
    reached,
    starting_point,
)

__all__ = ["OnePixel", "MUTATION", "MAX_PIXELS", "apply_candidates", "rand1_members", "rival_gap"]

MUTATION = 0.5  # the paper's scale factor F
MAX_PIXELS = 5
EVAL_BLOCK = 256  # candidate images per model call: on one CPU thread 256 runs ~3× faster per image than 1024


def rival_gap(logits: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
    """log(1/p_c − 1) = logsumexp_{k≠c}(z_k − z_c) per row: decreasing in the softmax probability p_c of class
    cls, so it ranks as p_c does, without p_c rounding to 1.0 for a confident model."""
    z_c = logits.gather(1, cls[:, None])
    others = logits.masked_fill(F.one_hot(cls, logits.shape[1]).bool(), float("-inf"))
    return torch.logsumexp(others - z_c, 1)


def apply_candidates(images: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
    """Images (k, C, H, W) with the candidates (k, pixels, 2 + C) written in: pixel j of row k sets position
    (⌊row⌋, ⌊col⌋) to its C values. Later pixels win where two share a position."""
    k, channels, height, width = images.shape
    out = images.clone(memory_format=torch.contiguous_format).view(k, channels, height * width)
    pos = cand[..., 0].long().clamp(0, height - 1) * width + cand[..., 1].long().clamp(0, width - 1)  # (k, pixels)
    for j in range(cand.shape[1]):  # one scatter per pixel: no duplicate index within a scatter
        index = pos[:, j].view(k, 1, 1).expand(k, channels, 1)
        out.scatter_(2, index, cand[:, j, 2:].reshape(k, channels, 1).to(out.dtype))
    return out.view(k, channels, height, width)


def rand1_members(m: int, size: int, gen: torch.Generator, device: torch.device | str = "cpu") -> tuple[
        torch.Tensor, torch.Tensor, torch.Tensor]:
    """For each of m populations of `size` members, three distinct members other than each parent, uniform over
    such triples: offsets from the parent in [1, size), the second skipping the first, the third both. Returns
    three (m, size) index tensors."""
    o1 = torch.randint(1, size, (m, size), generator=gen, device=device)
    o2 = torch.randint(1, size - 1, (m, size), generator=gen, device=device)
    o2 = o2 + (o2 >= o1).long()
    o3 = torch.randint(1, size - 2, (m, size), generator=gen, device=device)
    o3 = o3 + (o3 >= torch.minimum(o1, o2)).long()
    o3 = o3 + (o3 >= torch.maximum(o1, o2)).long()
    parent = torch.arange(size, device=device)
    return tuple((parent + o) % size for o in (o1, o2, o3))


class OnePixel(Attack):
    """The one-pixel attack by differential evolution. `pixels`: pixels changed, 1–5; `population`: candidates
    per generation (at least 4: DE/rand/1 draws three others); `steps`: generations after the random first
    population, so a sample costs at most population·(steps + 1) queries. success_step is 1 for the first
    population and g + 1 for generation g. The random choices come from a generator seeded with `seed`.
    early_stop=False keeps evolving a fooled sample until the generations run out (for the animation); the
    result is still its first adversarial image (the fittest of the fooling candidates of that generation)."""

    name = "onepixel"
    norm = "l0"
    iterative = True

    def __init__(
        self,
        pixels: int = 1,
        population: int = 400,
        steps: int = 100,
        targeted: bool = False,
        early_stop: bool = True,
        record_trajectory: bool = False,
        seed: int | None = 0,
    ) -> None:
        if not 1 <= int(pixels) <= MAX_PIXELS or int(pixels) != pixels:
            raise ValueError(f"pixels must be a whole number from 1 to {MAX_PIXELS}, got {pixels}")
        if int(population) < 4:
            raise ValueError(f"population must be at least 4 (DE/rand/1 mixes three others), got {population}")
        if int(steps) < 0:
            raise ValueError(f"steps (generations) must be at least 0, got {steps}")
        self.pixels = int(pixels)
        self.population = int(population)
        self.steps = int(steps)
        self.set_modes(targeted, early_stop, record_trajectory)
        self.seed = seed

    def params(self) -> dict:
        return {
            "pixels": self.pixels,
            "population": self.population,
            "steps": self.steps,
            "mutation": MUTATION,
            "seed": self.seed,
            **self.mode_params(),
        }

    def forward(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, tgt: torch.Tensor | None,
                cancel: threading.Event | None) -> AttackOutput:
        with torch.no_grad():
            return self._evolve(model, x, y, tgt, cancel)

    def _random(self, m: int, gen: torch.Generator, upper: torch.Tensor) -> torch.Tensor:
        """A random first population for m samples: rows in [0, H), columns in [0, W), values in [0, 1]."""
        shape = (m, self.population, self.pixels, upper.numel())
        return torch.rand(shape, generator=gen, device=upper.device) * upper

    def _evolve(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, tgt: torch.Tensor | None,
                cancel: threading.Event | None) -> AttackOutput:
        n, channels, height, width = x.shape
        size = self.population
        gen = torch.Generator(device=x.device)
        gen.manual_seed(0 if self.seed is None else int(self.seed))
        clean_logits = model(x)
        clean_pred = clean_logits.argmax(1)
        eligible, success, success_step, best_x, best_logits = starting_point(x, clean_logits, y, tgt)
        goal = y if tgt is None else tgt
        sign = 1.0 if tgt is None else -1.0  # fitness = sign·gap: higher is better
        queries = torch.zeros(n, dtype=torch.long, device=x.device)
        probs = torch.softmax(clean_logits, 1)
        shown = x.clone()  # what the trajectory shows: each sample's fittest candidate so far
        recorder = TrajectoryRecorder(self.record_trajectory)
        recorder.add(x, probs, 0, 0, queries)
        upper = torch.tensor([height, width] + [1.0] * channels, device=x.device)

        def look(i: torch.Tensor, cand: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            """Evaluate cand (len(i), size, pixels, 2 + C) on the samples i. Returns (fitness, logits) per
            candidate, (len(i), size) and (len(i), size, classes)."""
            m = i.numel()
            flat = cand.reshape(m * size, *cand.shape[2:])
            owner = i.repeat_interleave(size)
            logits = torch.cat([model(apply_candidates(x[owner[s:s + EVAL_BLOCK]], flat[s:s + EVAL_BLOCK]))
                                for s in range(0, m * size, EVAL_BLOCK)])
            queries[i] += size
            fit = sign * rival_gap(logits, goal[owner])
            return fit.view(m, size), logits.view(m, size, -1)

        def settle(i: torch.Tensor, cand: torch.Tensor, cand_fit: torch.Tensor, cand_logits: torch.Tensor,
                   pop: torch.Tensor, fit: torch.Tensor, pop_logits: torch.Tensor, it: int) -> None:
            """After evaluating cand on the samples i: first successes (the fittest fooling candidate), the
            fittest member of the population for the rest, and a trajectory frame."""
            m = i.numel()
            rows = torch.arange(m, device=x.device)
            ti = None if tgt is None else tgt[i].repeat_interleave(size)
            hit = reached(cand_logits.flatten(0, 1), y[i].repeat_interleave(size), ti).view(m, size)
            new = hit.any(1) & ~success[i]
            top = fit.argmax(1)
            cur, cur_logits = apply_candidates(x[i], pop[rows, top]), pop_logits[rows, top]
            shown[i], probs[i] = cur, torch.softmax(cur_logits, 1)
            still = ~success[i] & ~new
            best_x[i[still]], best_logits[i[still]] = cur[still], cur_logits[still]
            if new.any():
                j, r = i[new], rows[new]
                pick = cand_fit.masked_fill(~hit, float("-inf")).argmax(1)[new]
                success[j] = True
                success_step[j] = it
                best_x[j], best_logits[j] = apply_candidates(x[j], cand[r, pick]), cand_logits[r, pick]
                shown[j], probs[j] = best_x[j], torch.softmax(best_logits[j], 1)
            recorder.add(shown, probs, 0, it, queries)

        def finish() -> AttackOutput:  # no gradients: 0 gradient evaluations, the cost is in the queries
            return build_output(
                self.name, self.params(), x, best_x, best_logits, y, tgt, clean_pred, success, success_step, 0,
                recorder.result(), queries,
            )

        idx = (eligible & ~success).nonzero().squeeze(1)
        if idx.numel() == 0:
            return finish()
        check_cancel(cancel)
        pop = self._random(idx.numel(), gen, upper)
        fit, pop_logits = look(idx, pop)
        settle(idx, pop, fit, pop_logits, pop, fit, pop_logits, 1)
        for it in range(2, self.steps + 2):
            if self.early_stop:
                keep = ~success[idx]
                idx, pop, fit, pop_logits = idx[keep], pop[keep], fit[keep], pop_logits[keep]
            if idx.numel() == 0:
                break
            check_cancel(cancel)
            child = self._mutants(pop, gen, upper)
            child_fit, child_logits = look(idx, child)
            better = child_fit > fit  # the child replaces its parent only if it is better
            pop = torch.where(better[..., None, None], child, pop)
            fit = torch.where(better, child_fit, fit)
            pop_logits = torch.where(better[..., None], child_logits, pop_logits)
            settle(idx, child, child_fit, child_logits, pop, fit, pop_logits, it)
        return finish()

    def _mutants(self, pop: torch.Tensor, gen: torch.Generator, upper: torch.Tensor) -> torch.Tensor:
        """One DE/rand/1 child per member of pop (m, size, pixels, 2 + C): a + F·(b − c) with a, b, c three distinct
        members other than the parent (drawn as offsets from it that skip each other), no crossover; a position
        off the image is drawn afresh, a value is clipped to [0, 1]."""
        m, size = pop.shape[:2]
        device = pop.device
        a, b, c = (pop.gather(1, r[..., None, None].expand_as(pop)) for r in rand1_members(m, size, gen, device))
        child = a + MUTATION * (b - c)
        fresh = torch.rand(child[..., :2].shape, generator=gen, device=device) * upper[:2]
        off = (child[..., :2] < 0) | (child[..., :2] >= upper[:2])
        child[..., :2] = torch.where(off, fresh, child[..., :2])
        child[..., 2:] = child[..., 2:].clamp(0.0, 1.0)
        return child
