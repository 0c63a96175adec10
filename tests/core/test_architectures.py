"""The architecture zoo: each network's shapes, layer names and normalization; the registry; model files that
name their architecture and number of classes (round trips, and refusals of files that lie about it); FGSM,
the activation monitor and the activation detector's features on every architecture."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from advstudio.core.activations import ActivationMonitor, activation_modules, fgsm_activations, relu_modules
from advstudio.core.architecture_names import ARCHITECTURE_NAMES, ARCHITECTURE_TIPS
from advstudio.core.attacks.registry import make_attack
from advstudio.core.constants import MNIST_MEAN, MNIST_STD
from advstudio.core.errors import ModelFileError
from advstudio.core.model import (
    ARCHITECTURE_TITLES,
    ARCHITECTURES,
    MLP,
    LeNet5,
    MnistCNN,
    SmallCNN,
    build_model,
    count_parameters,
    num_classes_of,
)
from advstudio.core.storage import METADATA_KEY, expected_shapes, load_model, read_metadata, save_model

# name: (parameters, activation layers, of which feature maps (C, H, W))
EXPECTED = {
    "MnistCNN": (421_642, ["relu1", "relu2", "relu3"], {"relu1": (32, 28, 28), "relu2": (64, 14, 14)}),
    "MLP": (101_770, ["relu1"], {}),
    "LeNet5": (61_706, ["relu1", "relu2", "relu3", "relu4"], {"relu1": (6, 28, 28), "relu2": (16, 10, 10)}),
    "SmallCNN": (312_202, ["feature_extractor.relu1", "feature_extractor.relu2", "feature_extractor.relu3",
                           "feature_extractor.relu4", "classifier.relu1", "classifier.relu2"],
                 {"feature_extractor.relu1": (32, 26, 26), "feature_extractor.relu2": (32, 24, 24),
                  "feature_extractor.relu3": (64, 10, 10), "feature_extractor.relu4": (64, 8, 8)}),
}


def _model(name: str, seed: int = 0, num_classes: int = 10) -> nn.Module:
    torch.manual_seed(seed)
    model = build_model(name, num_classes)
    if name == "SmallCNN":  # TRADES starts fc3 at zero: give it weights, so outputs (and gradients) differ
        with torch.no_grad():
            model.classifier.fc3.weight.normal_(0, 0.1)
    return model.eval()


def test_the_registry_and_the_menu_names_agree():
    assert tuple(ARCHITECTURES) == ARCHITECTURE_NAMES == tuple(EXPECTED)
    assert ARCHITECTURE_TITLES == {"MnistCNN": "The article's CNN", "MLP": "Two-layer MLP", "LeNet5": "LeNet-5",
                                   "SmallCNN": "TRADES SmallCNN"}
    assert set(ARCHITECTURE_TIPS) == set(ARCHITECTURES) and all(ARCHITECTURE_TIPS.values())
    assert [ARCHITECTURES[n] for n in EXPECTED] == [MnistCNN, MLP, LeNet5, SmallCNN]
    for name, cls in ARCHITECTURES.items():
        assert cls.ARCHITECTURE == name and type(build_model(name)) is cls


def test_unknown_names_and_class_counts_are_refused():
    with pytest.raises(ValueError, match="unknown architecture 'ResNet50'.*MnistCNN, MLP, LeNet5, SmallCNN"):
        build_model("ResNet50")
    for bad in (1, 1001, 2.5, True, "10"):
        with pytest.raises(ValueError, match="from 2 to 1000"):
            build_model("MLP", bad)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_shapes_parameters_and_pixel_space_normalization(name):
    params, layers, maps = EXPECTED[name]
    model = _model(name)
    assert count_parameters(model) == params
    assert num_classes_of(model) == 10 and num_classes_of(build_model(name, 26)) == 26
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)
    assert build_model(name, 26)(torch.rand(2, 1, 28, 28)).shape == (2, 26)
    # normalization inside, in non-persistent buffers: the state dict holds the learnt layers only
    assert float(model.mean) == pytest.approx(MNIST_MEAN) and float(model.std) == pytest.approx(MNIST_STD)
    assert not any(k in ("mean", "std") for k in model.state_dict())
    # every activation is its own module, so forward hooks see each layer
    acts = activation_modules(model)
    assert [n for n, _ in acts] == layers and len({id(m) for _, m in acts}) == len(layers)
    assert relu_modules(model) == acts


def test_the_article_cnn_is_unchanged_for_10_classes():
    assert MnistCNN().state_dict().keys() == MnistCNN(num_classes=10).state_dict().keys()
    assert expected_shapes()["fc2.weight"] == (10, 128)
    assert expected_shapes("MnistCNN", 26)["fc2.weight"] == (26, 128)


def test_small_cnn_keeps_the_trades_layer_names_and_initialization():
    model = SmallCNN()
    assert list(expected_shapes("SmallCNN")) == [
        f"feature_extractor.conv{i}.{p}" for i in (1, 2, 3, 4) for p in ("weight", "bias")
    ] + [f"classifier.fc{i}.{p}" for i in (1, 2, 3) for p in ("weight", "bias")]
    assert not model.classifier.fc3.weight.any() and not model.classifier.fc3.bias.any()
    assert isinstance(model.classifier.drop, nn.Dropout) and model.classifier.drop.p == 0.5


# ---------------------------------------------------------------------------------------------- files
@pytest.mark.parametrize("name", list(EXPECTED))
def test_save_then_load_gives_the_same_network(tmp_path, name):
    model = _model(name, seed=3)
    path = save_model(model, tmp_path / f"{name}.safetensors", {"name": name})
    meta = read_metadata(path)
    assert meta["architecture"] == name and "num_classes" not in meta  # 10: what every reader assumes
    assert json.loads(path.with_suffix(".json").read_text()) == meta
    loaded, got = load_model(path)
    assert type(loaded) is type(model) and not loaded.training and got == meta
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


@pytest.mark.parametrize("name", ["MLP", "SmallCNN"])
def test_26_classes_round_trip(tmp_path, name):
    model = _model(name, seed=4, num_classes=26)
    path = save_model(model, tmp_path / "letters.safetensors", {})
    assert read_metadata(path)["num_classes"] == 26
    loaded, _ = load_model(path)
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        assert loaded(x).shape == (2, 26) and torch.equal(loaded(x), model(x))


def _relabel(path, **meta) -> None:
    """Rewrite the metadata of a saved model file (the tensors stay)."""
    from safetensors.torch import load

    tensors = load(path.read_bytes())
    save_file(tensors, path, metadata={METADATA_KEY: json.dumps(meta)})


def _refused(path, *needles: str) -> str:
    for reader in (read_metadata, load_model):
        with pytest.raises(ModelFileError) as info:
            reader(path)
        msg = str(info.value)
        assert path.name in msg, msg
        for needle in needles:
            assert needle in msg, msg
    return msg


def test_metadata_naming_another_architecture_is_refused(tmp_path):
    path = save_model(_model("MnistCNN"), tmp_path / "liar.safetensors", {})
    _relabel(path, architecture="LeNet5")
    _refused(path, "LeNet5 network its metadata names", "missing fc3.bias, fc3.weight",
             "they are the tensors of the MnistCNN architecture, not of LeNet5")
    # and a LeNet-5 file whose metadata names no architecture is not taken for the article's CNN
    path = save_model(_model("LeNet5"), tmp_path / "unnamed.safetensors", {})
    _relabel(path, name="unnamed")
    _refused(path, "do not match this network", "unexpected fc3.bias, fc3.weight",
             "they are the tensors of the LeNet5 architecture, not of MnistCNN")


def test_unknown_architecture_and_bad_class_counts_are_refused(tmp_path):
    path = save_model(_model("MLP"), tmp_path / "odd.safetensors", {})
    _relabel(path, architecture="VisionTransformer")
    _refused(path, "VisionTransformer", "not supported", "MnistCNN, MLP, LeNet5 and SmallCNN")
    for bad in (1, 5000, 2.5, "ten", [10]):
        _relabel(path, architecture="MLP", num_classes=bad)
        _refused(path, "num_classes", "from 2 to 1000")
    _relabel(path, architecture="MLP", num_classes=26)  # says 26 classes, holds 10
    _refused(path, "fc2.weight", "(10, 128)", "(26, 128)")


@pytest.mark.parametrize("length", [0x280, 0x380, 0x480, 0x580])
def test_a_header_length_that_reads_like_a_pickle_is_no_pickle(tmp_path, length):
    """A header of 640 bytes starts the file with 0x80 0x02, a pickle's first bytes: the JSON after it decides."""
    model = _model("MLP")
    path = tmp_path / "m.safetensors"
    base = int.from_bytes(save_model(model, path, {"name": ""}).read_bytes()[:8], "little")
    for k in range(max(0, length - base - 8), length - base + 8):  # one more character, one more byte (padded to 8)
        save_model(model, path, {"name": "x" * k})
        if int.from_bytes(path.read_bytes()[:8], "little") == length:
            break
    else:
        pytest.fail(f"no name length gives a {length}-byte header")
    assert path.read_bytes()[:2] == bytes([0x80, length >> 8])
    loaded, meta = load_model(path)
    assert type(loaded) is MLP and meta["architecture"] == "MLP"


# ---------------------------------------------------------------------------------------------- attacks, activations
@pytest.mark.parametrize("name", list(EXPECTED))
def test_fgsm_and_the_activation_monitor_on_every_architecture(name):
    _, layers, maps = EXPECTED[name]
    model = _model(name, seed=5)
    x = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        y = model(x).argmax(1)  # read right, so FGSM moves every image (a clean mistake is left as it is)
    result = make_attack("fgsm", eps=0.1).run(model, x, y)
    x_adv = result.x_adv
    assert x_adv.shape == x.shape and float((x_adv - x).abs().max()) <= 0.1 + 1e-6
    assert float((x_adv - x).abs().max()) > 0.05  # the gradient reached the input
    with ActivationMonitor(model, feature_maps=True) as monitor:
        assert monitor.hook_count == len(layers) and list(monitor.layer_names) == layers
        monitor.compare(x, x_adv, y)
        comparison = monitor.comparison(attack="fgsm")
    assert comparison.clean.names == tuple(layers) and comparison.names == tuple(layers)
    found = {k: v.shape for k, v in comparison.clean.feature_maps.items() if v.ndim == 3}
    assert found == maps
    fgsm = fgsm_activations(model, x, y, 0.1)
    assert fgsm.samples == 6 and len(fgsm.shifts) == len(layers)


class _Mixed(nn.Module):
    """Activations that go below zero (tanh, leaky ReLU, ELU, GELU, SiLU) beside ones that do not."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(784, 24)
        self.acts = nn.ModuleList([nn.Tanh(), nn.LeakyReLU(0.1), nn.ELU(), nn.GELU(), nn.SiLU(), nn.Sigmoid(),
                                   nn.Softplus(), nn.ReLU()])
        self.out = nn.Linear(24, 10)

    def forward(self, x):
        h = self.fc(x.flatten(1))
        return self.out(sum(act(h) for act in self.acts))


def test_activations_that_go_below_zero_give_sensible_statistics():
    torch.manual_seed(7)
    model = _Mixed().eval()
    x = torch.rand(16, 1, 28, 28)
    x_adv = (x + 0.1 * torch.randn_like(x)).clamp(0, 1)
    with ActivationMonitor(model) as monitor:
        assert monitor.hook_count == 8
        monitor.compare(x, x_adv)
        c = monitor.comparison()
    with torch.no_grad():
        h = model.fc(x.flatten(1))
    for i, act in enumerate(model.acts):
        values = act(h)
        stats, shift = c.clean.layer(f"acts.{i}"), c.shift(f"acts.{i}")
        assert stats.min == pytest.approx(float(values.min()), abs=1e-6)
        assert stats.mean == pytest.approx(float(values.mean()), abs=1e-5)
        assert stats.active_fraction == pytest.approx(float((values > 0).float().mean()))
        assert shift.clean_mean_abs == pytest.approx(float(values.abs().mean()), rel=1e-5)
        assert 0.0 <= shift.flip_fraction <= 1.0 and shift.relative_shift >= 0.0
    assert c.clean.layer("acts.0").min < 0 and c.clean.layer("acts.7").min == 0.0
    with ActivationMonitor(model, histograms=False) as monitor:  # the other way of counting active units
        monitor.observe(x)
        plain = monitor.stats()
    for i in range(8):
        assert plain.layer(f"acts.{i}").active_count == c.clean.layer(f"acts.{i}").active_count


@pytest.mark.parametrize("name", ["MLP", "LeNet5"])
def test_the_detector_features_cover_every_architecture(name):
    from advstudio.core.defenses.detection import feature_names, relu_features

    model = _model(name)
    logits, feats = relu_features(model, torch.rand(3, 1, 28, 28))
    assert logits.shape == (3, 10) and feats.shape == (3, 4 * len(EXPECTED[name][1]))
    assert len(feature_names(model)) == feats.shape[1]
    with pytest.raises(ValueError, match="no activation module"):
        relu_features(nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), torch.rand(1, 1, 28, 28))


def test_output_count_reads_the_scores_of_any_model_and_leaves_its_mode_alone():
    import torch

    from advstudio.core.model import build_model, output_count

    model = build_model("MLP", num_classes=26).train()
    assert output_count(model) == 26 and model.training  # restored after its eval-mode pass
    cnn = build_model("MnistCNN").eval()
    assert output_count(cnn, torch.rand(3, 1, 28, 28)) == 10 and not cnn.training
