"""Models as safetensors + JSON metadata: round trip, atomic writes, and refusal of every bad file — without
ever unpickling anything."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from advstudio.core import storage
from advstudio.core.errors import ModelFileError
from advstudio.core.files import atomic_write_bytes
from advstudio.core.model import MnistCNN
from advstudio.core.resources import bundled_model_path
from advstudio.core.storage import METADATA_KEY, load_model, read_metadata, save_model


@pytest.fixture
def model() -> MnistCNN:
    torch.manual_seed(5)
    return MnistCNN()


def _tensors(model: MnistCNN) -> dict[str, torch.Tensor]:
    return {k: v.clone().contiguous() for k, v in model.state_dict().items()}


def test_round_trip(tmp_path, model):
    meta = {"name": "tiny", "seed": 3, "epochs": 1, "test_accuracy": 0.5, "fgsm_curve": {"eps": [0.0, 0.1]}}
    path = save_model(model, tmp_path / "m.safetensors", meta)
    loaded, got = load_model(path)
    assert isinstance(loaded, MnistCNN) and not loaded.training
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    assert got == {"architecture": "MnistCNN", **meta}
    assert read_metadata(path) == got
    assert json.loads(path.with_suffix(".json").read_text()) == got
    with torch.no_grad():
        x = torch.rand(3, 1, 28, 28)
        torch.testing.assert_close(loaded(x), model.eval()(x))


def test_save_forces_the_safetensors_suffix(tmp_path, model):
    path = save_model(model, tmp_path / "weights.pt", {})
    assert path.name == "weights.safetensors" and path.is_file()
    assert not (tmp_path / "weights.pt").exists()


def test_atomic_write_leaves_no_temporary_files(tmp_path, model):
    save_model(model, tmp_path / "a.safetensors", {"n": 1})
    save_model(model, tmp_path / "a.safetensors", {"n": 2})  # overwrite
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.safetensors"]
    assert read_metadata(tmp_path / "a.safetensors")["n"] == 2


def test_failed_atomic_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(storage.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b"new contents")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def _refused(path: Path, *needles: str) -> str:
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    msg = str(info.value)
    assert path.name in msg, msg
    for n in needles:
        assert n in msg, msg
    return msg


@pytest.mark.parametrize("keep", [0.3, 0.999])
def test_truncated_file_is_refused(tmp_path, model, keep):
    path = save_model(model, tmp_path / "t.safetensors", {})
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    _refused(path, "truncated")


def test_header_cut_short_is_refused(tmp_path, model):
    path = save_model(model, tmp_path / "h.safetensors", {})
    path.write_bytes(path.read_bytes()[:100])
    _refused(path, "bad header length")


@pytest.mark.parametrize("content", [b"", b"abc", b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!"])
def test_empty_and_non_safetensors_files_are_refused(tmp_path, content):
    path = tmp_path / "x.safetensors"
    path.write_bytes(content)
    _refused(path)


def test_missing_file(tmp_path):
    _refused(tmp_path / "nothing.safetensors", "no such file")


def test_misshaped_tensor_is_refused(tmp_path, model):
    tensors = _tensors(model)
    tensors["fc2.weight"] = torch.zeros(11, 128)
    save_file(tensors, tmp_path / "s.safetensors")
    _refused(tmp_path / "s.safetensors", "fc2.weight", "(11, 128)", "(10, 128)")


def test_wrong_dtype_is_refused(tmp_path, model):
    tensors = {k: v.double() for k, v in _tensors(model).items()}
    save_file(tensors, tmp_path / "d.safetensors")
    _refused(tmp_path / "d.safetensors", "dtype", "F64")


def test_missing_and_extra_tensors_are_refused(tmp_path, model):
    tensors = _tensors(model)
    del tensors["conv2.bias"]
    tensors["fc3.weight"] = torch.zeros(2, 2)
    save_file(tensors, tmp_path / "n.safetensors")
    _refused(tmp_path / "n.safetensors", "missing conv2.bias", "unexpected fc3.weight")


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused(tmp_path, model, bad):
    tensors = _tensors(model)
    tensors["fc1.weight"][3, 7] = bad
    save_file(tensors, tmp_path / "nan.safetensors")
    _refused(tmp_path / "nan.safetensors", "fc1.weight", "NaN or infinite")


def test_nan_filled_file_is_refused(tmp_path, model):
    tensors = {k: torch.full_like(v, float("nan")) for k, v in _tensors(model).items()}
    save_file(tensors, tmp_path / "allnan.safetensors")
    _refused(tmp_path / "allnan.safetensors", "NaN")


def test_other_architecture_is_refused(tmp_path, model):
    save_file(_tensors(model), tmp_path / "a.safetensors",
              metadata={METADATA_KEY: json.dumps({"architecture": "ResNet50"})})
    _refused(tmp_path / "a.safetensors", "ResNet50")


def test_oversized_file_is_refused(tmp_path):
    path = tmp_path / "huge.safetensors"
    with path.open("wb") as fh:
        fh.truncate(storage.MAX_MODEL_BYTES + 1)  # sparse: no real disk use
    _refused(path, "too large")


class _Payload:
    """A pickle that creates a folder when it is unpickled (stands in for arbitrary code)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


@pytest.fixture
def no_unpickling(monkeypatch):
    """Fail loudly if anything calls torch.load or the pickle loaders."""
    calls = []

    def trap(*args, **kwargs):
        calls.append(args)
        raise AssertionError("a model file was unpickled")

    monkeypatch.setattr(torch, "load", trap)
    monkeypatch.setattr(pickle, "load", trap)
    monkeypatch.setattr(pickle, "loads", trap)
    return calls


def test_payload_works_when_unpickled(tmp_path):
    """The marker mechanism itself: unpickling the payload does create the marker (so its absence means something)."""
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps(_Payload(marker)))
    assert marker.is_dir()


@pytest.mark.parametrize("name", ["evil.safetensors", "evil.pkl", "evil.bin"])
@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_plain_pickle_is_refused_unopened(tmp_path, no_unpickling, name, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / name
    path.write_bytes(pickle.dumps(_Payload(marker), protocol=protocol))
    msg = _refused(path, "pickle")
    assert "refused" in msg
    with pytest.raises(ModelFileError):
        read_metadata(path)
    assert not marker.exists()
    assert no_unpickling == []


@pytest.mark.parametrize("name", ["model.pt", "model.pth", "renamed.safetensors"])
def test_torch_save_file_is_refused_unopened(tmp_path, model, name):
    marker = tmp_path / "pwned"
    path = tmp_path / name
    torch.save({"state_dict": model.state_dict(), "payload": _Payload(marker)}, path)
    assert not marker.exists()
    msg = _refused(path, "pickle")
    assert "refused" in msg
    assert not marker.exists()


def test_bundled_model_and_its_metadata(bundled_model):
    path = bundled_model_path()
    meta = read_metadata(path)
    assert meta["architecture"] == "MnistCNN"
    assert meta["recipe"]["optimizer"] == "Adam" and meta["recipe"]["lr"] == 1e-3
    assert meta["recipe"]["batch_size"] == 64 and meta["epochs"] == 5
    assert isinstance(meta["seed"], int)
    assert meta["test_accuracy"] >= 0.99
    assert meta["fgsm_curve"]["eps"] == [0.0, 0.05, 0.1, 0.2, 0.3]
    assert meta["fgsm_curve"]["n"] == 10_000
    assert "torch" in meta["versions"] and meta["date"]
    assert json.loads(path.with_suffix(".json").read_text()) == meta
    assert not bundled_model.training
