"""The ReLU activation monitor: one hook per ReLU, statistics equal to a direct computation, hooks always
removed, nothing growing with use, and the clean-against-FGSM shift measured on the bundled model."""

from __future__ import annotations

import gc
import json
import tracemalloc

import numpy as np
import pytest
import torch
from torch import nn

from advstudio.core.activation_stats import CHUNK, HistogramScratch, histogram, nice_ceil
from advstudio.core.activations import ActivationMonitor, fgsm_activations, relu_modules
from advstudio.core.attacks.fgsm import apply_perturbation, fgsm_direction
from advstudio.core.model import MnistCNN


def _all_hooks(model: nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(getattr(m, "_forward_hooks_always_called", {}))
        for m in model.modules()
    )


@pytest.fixture(scope="module")
def cnn() -> MnistCNN:
    torch.manual_seed(0)
    return MnistCNN().eval()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.rand(25, 1, 28, 28, generator=g)


def _capture(model: nn.Module):
    """Independent plain hooks that keep every ReLU output (the reference the monitor is checked against)."""
    seen: dict[str, list[torch.Tensor]] = {}
    handles = []
    for name, m in model.named_modules():
        if isinstance(m, nn.ReLU):
            def keep(mod, args, out, n=name):
                seen.setdefault(n, []).append(out.detach().clone())

            handles.append(m.register_forward_hook(keep))
    return seen, handles


def _check_histogram(values: np.ndarray, edges: np.ndarray, counts: np.ndarray, overflow: int) -> None:
    """Bin k holds (edges[k], edges[k+1]]; zeros are in no bin; values above the top edge are the overflow."""
    active = values[values > 0]
    index = np.searchsorted(edges, active[active <= edges[-1]], side="left")  # e[k-1] < v <= e[k] → k
    expected = np.bincount(index, minlength=len(edges))[1:]
    assert overflow == int((active > edges[-1]).sum())
    diff = np.abs(expected - counts).sum()
    if diff:
        # float32 v·bins/top and float64 edges may round a value lying on an edge to different sides
        pos = active * ((len(edges) - 1) / edges[-1])
        near = int((np.abs(pos - np.round(pos)) < 1e-5).sum())
        assert diff <= 2 * near, f"histogram differs by {diff} counts, only {near} values sit on an edge"


# hooks -------------------------------------------------------------------------------------------------


def test_one_hook_per_relu_in_the_cnn(cnn):
    with ActivationMonitor(cnn) as monitor:
        assert monitor.hook_count == 3
        assert monitor.layer_names == ("relu1", "relu2", "relu3")
        assert [len(m._forward_hooks) for _, m in relu_modules(cnn)] == [1, 1, 1]
    assert _all_hooks(cnn) == 0


class _Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(self.fc(x))


class _MyReLU(nn.ReLU):
    pass


def test_hooks_found_by_walking_any_model():
    model = nn.Sequential(
        nn.Linear(4, 8),
        nn.ReLU(),
        _Block(),
        nn.Sequential(nn.Linear(8, 8), _MyReLU(), nn.ReLU6()),
        nn.Linear(8, 2),
        nn.ReLU(),
    )
    expected = [name for name, m in model.named_modules() if isinstance(m, nn.ReLU)]
    assert len(expected) == 4  # nn.ReLU6 is not a ReLU module (it is a Hardtanh)
    with ActivationMonitor(model) as monitor:
        assert monitor.hook_count == 4
        assert list(monitor.layer_names) == expected
        monitor.observe(torch.randn(5, 4))
        stats = monitor.stats()
    assert [layer.name for layer in stats.layers] == expected
    assert all(layer.samples == 5 for layer in stats.layers)
    assert _all_hooks(model) == 0


class _SharedReLU(nn.Module):
    """One ReLU module applied twice, as much hand-written code does."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 6)
        self.b = nn.Linear(6, 4)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.b(self.relu(self.a(x))))


def test_a_relu_used_twice_is_two_layers_with_one_hook():
    model = _SharedReLU()
    with ActivationMonitor(model) as monitor:
        assert monitor.hook_count == 1
        for _ in range(3):
            monitor.observe(torch.randn(7, 3))
        stats = monitor.stats()
    assert stats.names == ("relu", "relu@2")
    assert [layer.shape for layer in stats.layers] == [(6,), (4,)]
    assert [layer.samples for layer in stats.layers] == [21, 21]


# statistics against a direct computation ---------------------------------------------------------------


def test_stats_equal_a_direct_computation(cnn, images):
    seen, handles = _capture(cnn)
    try:
        with ActivationMonitor(cnn, bins=16, ranges={"relu2": 0.05}, feature_maps=True, map_index=20) as monitor:
            monitor.observe(images[:16])  # two batches: the statistics are streamed
            monitor.observe(images[16:])
            stats = monitor.stats()
    finally:
        for h in handles:
            h.remove()
    assert stats.samples == 25 and stats.map_index == 20
    for layer in stats.layers:
        ref = torch.cat(seen[layer.name]).double().numpy()
        values = ref.reshape(-1)
        assert layer.shape == ref.shape[1:]
        assert layer.samples == 25
        assert layer.count == values.size
        assert layer.mean == pytest.approx(values.mean(), rel=1e-5)
        assert layer.std == pytest.approx(values.std(), rel=1e-4)
        assert layer.min == values.min()
        assert layer.max == pytest.approx(values.max(), rel=1e-7)
        assert layer.active_fraction == (values > 0).mean()
        assert layer.zero_count == int((values == 0).sum())
        assert len(layer.hist_counts) == 16
        np.testing.assert_allclose(layer.hist_edges, np.linspace(0, layer.hist_edges[-1], 17))
        _check_histogram(values, layer.hist_edges, layer.hist_counts, layer.overflow)
        assert layer.zero_count + layer.hist_counts.sum() + layer.overflow == layer.count
        np.testing.assert_array_equal(stats.feature_maps[layer.name], ref[20].astype(np.float32))
    assert stats.layer("relu2").overflow > 0  # the range forced above is far too small
    assert stats.layer("relu2").hist_edges[-1] == 0.05
    assert stats.layer("relu1").overflow == 0
    assert not stats.layer("relu1").hist_counts.flags.writeable  # results cross threads read-only


def test_compare_equals_a_direct_computation(cnn, images):
    x_adv = (images + 0.2 * torch.randn(images.shape, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    labels = torch.arange(25) % 10
    seen, handles = _capture(cnn)
    try:
        with ActivationMonitor(cnn, bins=8) as monitor:
            monitor.compare(images[:10], x_adv[:10], labels[:10])
            monitor.compare(images[10:], x_adv[10:], labels[10:])
            result = monitor.comparison(attack="noise", params={"sigma": 0.2})
    finally:
        for h in handles:
            h.remove()
    assert result.samples == 25 and result.attack == "noise"
    with torch.no_grad():
        pc, pa = cnn(images).argmax(1), cnn(x_adv).argmax(1)
    assert result.predictions_changed == int((pc != pa).sum())
    assert result.clean_accuracy == pytest.approx(float((pc == labels).float().mean()))
    assert result.adversarial_accuracy == pytest.approx(float((pa == labels).float().mean()))
    for shift in result.shifts:
        c0, a0, c1, a1 = seen[shift.name]  # hook order: clean, adversarial, clean, adversarial
        c, a = torch.cat([c0, c1]).double(), torch.cat([a0, a1]).double()
        assert shift.mean_abs_change == pytest.approx(float((a - c).abs().mean()), rel=1e-5)
        assert shift.relative_shift == pytest.approx(float((a - c).abs().mean() / c.abs().mean()), rel=1e-5)
        assert shift.flip_fraction == float(((c > 0) != (a > 0)).double().mean())
        assert shift.on_to_off_fraction == float(((c > 0) & (a == 0)).double().mean())
        assert shift.off_to_on_fraction == float(((c == 0) & (a > 0)).double().mean())
        # both sides share the same bins, so the histograms compare
        clean_layer, adv_layer = result.clean.layer(shift.name), result.adversarial.layer(shift.name)
        np.testing.assert_array_equal(clean_layer.hist_edges, adv_layer.hist_edges)
        assert clean_layer.mean == pytest.approx(float(c.mean()), rel=1e-5)
        assert adv_layer.mean == pytest.approx(float(a.mean()), rel=1e-5)
    json.dumps(result.to_json())


@pytest.mark.parametrize("method", ["bincount", "histc"])
@pytest.mark.parametrize("bins", [20, 300])  # 8-bit and 32-bit bin indices
def test_histogram_over_several_chunks(bins, method):
    g = torch.Generator().manual_seed(3)
    flat = torch.relu(torch.randn(CHUNK * 2 + 123, generator=g)) * 2
    flat[:5] = torch.tensor([5.0, 5.0 + 1e-6, 1e-40, 2.5, 0.0])  # on the top, just above, subnormal, an edge
    counts = histogram(flat, bins, 5.0, HistogramScratch(), method)
    values = flat.double().numpy()
    assert counts[0] == int((values == 0).sum())
    assert counts.sum() == values.size
    _check_histogram(values, np.linspace(0, 5.0, bins + 1), counts[1:-1], int(counts[-1]))


def test_histograms_off_still_count_active_units(cnn, images):
    with ActivationMonitor(cnn, histograms=False) as monitor:
        monitor.observe(images)
        stats = monitor.stats()
    for layer in stats.layers:
        assert layer.hist_counts.size == 0 and layer.hist_edges.size == 0 and layer.overflow == 0
        assert 0 < layer.active_fraction < 1
        assert layer.zero_count + layer.active_count == layer.count


def test_disabled_monitor_records_nothing(cnn, images):
    with ActivationMonitor(cnn) as monitor:
        monitor.enabled = False
        with torch.no_grad():
            cnn(images)
        assert monitor.stats().layers == ()
        monitor.enabled = True
        with monitor.paused():
            fgsm_direction(cnn, images, torch.zeros(25, dtype=torch.long))
        assert monitor.enabled and monitor.stats().layers == ()
        with torch.no_grad():
            cnn(images[:3])  # an ordinary forward pass is recorded under monitor.tag
        assert monitor.stats().samples == 3


def test_nice_ceil():
    values = (0.0, 0.3, 1.0, 1.01, 4.4, 10.9, 33.0, 7e-5)
    assert [nice_ceil(v) for v in values] == [1.0, 0.3, 1.0, 1.2, 5.0, 12.0, 40.0, 8e-5]


# hooks are removed and nothing grows -------------------------------------------------------------------


def test_hooks_removed_after_an_exception(cnn, images):
    with pytest.raises(ZeroDivisionError):
        with ActivationMonitor(cnn) as monitor:
            monitor.observe(images[:2])
            raise ZeroDivisionError
    assert _all_hooks(cnn) == 0 and not monitor.attached
    with pytest.raises(RuntimeError):
        with ActivationMonitor(cnn) as monitor:
            try:
                monitor.observe(images[:2, :, :14])  # fails inside the forward pass, after relu1 and relu2
            except RuntimeError:
                monitor.reset()
                monitor.observe(images[:2])  # the failed pass leaves no trace: no "relu1@2" layers
                assert monitor.stats().names == ("relu1", "relu2", "relu3")
                raise
    assert _all_hooks(cnn) == 0
    with pytest.raises(ValueError):
        with ActivationMonitor(cnn) as monitor:
            monitor.compare(images[:2], images[:2], torch.zeros(3, dtype=torch.long))
    assert _all_hooks(cnn) == 0
    with ActivationMonitor(cnn) as monitor:  # and the model is as usable as before
        monitor.observe(images[:2])
        assert monitor.stats().samples == 2
    assert _all_hooks(cnn) == 0


def test_nothing_grows_after_1000_uses():
    # a small convolutional model, so that 1,000 uses take a second or two on a busy machine
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10), nn.ReLU()).eval()
    x = torch.rand(2, 1, 8, 8)
    long_lived = ActivationMonitor(model, feature_maps=True)

    def use() -> None:
        with ActivationMonitor(model, bins=8) as monitor:
            monitor.observe(x)
            monitor.stats()
        with long_lived:
            long_lived.reset()
            long_lived.compare(x, x)
            long_lived.comparison()

    tracemalloc.start()
    try:
        for _ in range(50):  # warm caches (and replace the long-lived monitor's arrays under tracing)
            use()
        gc.collect()
        before = tracemalloc.take_snapshot()
        objects_before = len(gc.get_objects())
        for _ in range(1000):
            use()
        gc.collect()
        after = tracemalloc.take_snapshot()
        objects_after = len(gc.get_objects())
    finally:
        tracemalloc.stop()
    growth = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert growth < 16 * 1024, f"memory grew by {growth} bytes over 1,000 uses"
    assert objects_after - objects_before < 100
    assert _all_hooks(model) == 0
    assert len(long_lived._stats["clean"]) == 2 and len(long_lived._shifts) == 2 and not long_lived._clean_store


# the bundled model at ε = 0.1 --------------------------------------------------------------------------

# Measured on the first 500 test images with the bundled model (FGSM ε = 0.1, 72 of 500 predictions change):
#   relative shift   relu1 0.368  relu2 0.369  relu3 0.405
#   flipped units    relu1 17.8%  relu2 1.8%   relu3 5.8%
#   relative shift, images whose prediction flips / images that keep it:
#                    relu1 0.370 / 0.367   relu2 0.371 / 0.369   relu3 0.486 / 0.394
# So the shift does not blow up from layer to layer: relative to each layer's clean scale it stays near the
# input's own (about 0.37) and is largest at relu3. What grows with depth is how much it matters: at relu1
# images that will flip and images that will not are shifted alike; at relu3 the flipping ones move ~25% more.


def test_bundled_model_shift_at_eps_0_1(bundled_model, mnist_test):
    x, y = mnist_test.images[:500], mnist_test.labels[:500]
    result = fgsm_activations(bundled_model, x, y, 0.1)
    rel = {s.name: s.relative_shift for s in result.shifts}
    flips = {s.name: s.flip_fraction for s in result.shifts}
    direction, _ = fgsm_direction(bundled_model, x, y)
    x_adv, _ = apply_perturbation(x, direction, 0.1)
    with torch.no_grad():
        changed = bundled_model(x).argmax(1) != bundled_model(x_adv).argmax(1)
    flipping = fgsm_activations(bundled_model, x[changed], y[changed], 0.1)
    keeping = fgsm_activations(bundled_model, x[~changed], y[~changed], 0.1)
    ratio = {s.name: s.relative_shift / k.relative_shift for s, k in zip(flipping.shifts, keeping.shifts)}
    print(f"\nε=0.1, n=500, changed {result.predictions_changed}: relative shift {rel}, flips {flips}, "
          f"flipping/keeping {ratio}")

    assert result.samples == 500 and result.predictions_changed == int(changed.sum()) > 0
    assert list(rel) == ["relu1", "relu2", "relu3"]
    assert rel["relu3"] > rel["relu1"]  # the shift is largest in the deepest ReLU ...
    assert max(rel.values()) < 1.25 * min(rel.values())  # ... but it is not amplified layer by layer
    assert all(0.25 < v < 0.55 for v in rel.values())
    assert flips["relu1"] > flips["relu3"] > flips["relu2"]
    assert ratio["relu1"] < 1.05  # early on, images that flip and images that don't are shifted alike
    assert ratio["relu3"] > 1.15  # in the last ReLU the flipping images have moved clearly more


def test_cli_activations_writes_json(mnist_dir, tmp_path, capsys):
    from advstudio.cli import main

    out = tmp_path / "act.json"
    assert main(["--device", "cpu", "activations", "--data", str(mnist_dir), "--eps", "0.1", "--limit", "64",
                 "--bins", "8", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "ε = 0.1" in text and "n = 64" in text and "relu3" in text and "rel. shift" in text
    doc = json.loads(out.read_text())
    assert doc["attack"] == "fgsm" and doc["params"]["eps"] == 0.1 and doc["samples"] == 64
    assert [s["name"] for s in doc["shifts"]] == ["relu1", "relu2", "relu3"]
    assert len(doc["clean"]["layers"][0]["histogram"]["counts"]) == 8


def test_one_image_for_the_dock(cnn, images):
    from advstudio.core.activations import compare_activations

    x = images[:1]
    x_adv = (x + 0.1 * torch.sign(torch.randn(x.shape, generator=torch.Generator().manual_seed(4)))).clamp(0, 1)
    first = compare_activations(cnn, x, x_adv, attack="fgsm", params={"eps": 0.1}, feature_maps=True)
    again = compare_activations(cnn, x, x, feature_maps=True, ranges=first.clean.ranges)
    assert first.samples == 1 and first.params == {"eps": 0.1}
    assert first.clean.feature_maps["relu1"].shape == (32, 28, 28)
    assert first.clean.feature_maps["relu2"].shape == (64, 14, 14)
    assert first.clean.feature_maps["relu3"].shape == (128,)
    diff = first.feature_map_difference("relu1")
    assert diff.shape == (32, 28, 28) and np.abs(diff).max() > 0
    with torch.no_grad():
        ref = torch.relu(cnn.conv1((x - cnn.mean) / cnn.std))[0].numpy()
    np.testing.assert_allclose(first.clean.feature_maps["relu1"], ref, rtol=1e-6, atol=1e-6)
    assert again.clean.ranges == first.clean.ranges  # the bins stay put while ε moves
    assert all(s.relative_shift == 0 and s.flip_fraction == 0 for s in again.shifts)
    assert again.predictions_changed == 0
