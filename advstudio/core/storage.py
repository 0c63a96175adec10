"""Models as safetensors with JSON metadata, written atomically; loading validates everything and never
unpickles anything."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import torch

from advstudio.core.errors import ModelFileError
from advstudio.core.files import NotARegularFile, atomic_write_bytes, atomic_write_text, check_regular_file
from advstudio.core.model import ARCHITECTURE, MnistCNN
from advstudio.core.model_meta import MAX_NAME, cap_text, clean_metadata

METADATA_KEY = "advstudio"
MAX_MODEL_BYTES = 64 * 1024 * 1024
MAX_HEADER_BYTES = 8 * 1024 * 1024  # the tensor table is under 1 kB; the rest is metadata
MAX_OUTPUT_BOUND = 1e30  # scores (and their gradients) stay far inside float32's 3.4e38
PICKLE_SUFFIXES = {".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin"}


def expected_shapes() -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in MnistCNN().state_dict().items()}


def save_model(model: torch.nn.Module, path: str | os.PathLike, metadata: dict) -> Path:
    """Save weights as safetensors with the metadata (JSON) embedded in its header; also a .json sidecar."""
    from safetensors.torch import save

    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_suffix(".safetensors")
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    meta = {"architecture": ARCHITECTURE, **metadata}
    meta_json = json.dumps(meta, sort_keys=True)
    atomic_write_bytes(path, save(tensors, metadata={METADATA_KEY: meta_json}))
    atomic_write_text(path.with_suffix(".json"), json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return path


def _sniff_refusal(path: Path, head: bytes) -> str | None:
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return (
            f"'{path.suffix}' files are PyTorch pickles, which can run code when loaded; they are refused "
            "without being opened. Convert it to .safetensors with a tool you trust."
        )
    if head[:2] in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05") or head[:4] == b"PK\x03\x04":
        return (
            "this is a pickle or a torch.save archive, not safetensors; pickles can run code when loaded, "
            "so it is refused without being opened."
        )
    return None


def read_metadata(path: str | os.PathLike) -> dict:
    """The metadata embedded in a model file (validated like load_model's header checks)."""
    return _read(Path(path), want_tensors=False)[1]


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[MnistCNN, dict]:
    """Load a safetensors model after checking tensor names, shapes, dtypes and finiteness."""
    tensors, meta = _read(Path(path), want_tensors=True)
    model = MnistCNN()
    model.load_state_dict(tensors, strict=True)
    model.eval()
    return model.to(device), meta


def _read(path: Path, want_tensors: bool) -> tuple[dict, dict]:
    name = cap_text(path.name, 100)
    data = _read_bytes(path, name)
    refusal = _sniff_refusal(path, data[:16])
    if refusal:
        raise ModelFileError(f"{name}: {refusal}")
    header, body = _header(data, name)
    meta = _metadata(header, name)
    arch = meta.get("architecture", ARCHITECTURE)
    if arch != ARCHITECTURE:
        raise ModelFileError(f"{name}: architecture '{cap_text(arch, 60)}' is not supported (expected {ARCHITECTURE})")
    _check_entries(header, body, name)
    if not want_tensors:
        return {}, meta
    tensors = _tensors(data, name)
    for key, t in tensors.items():
        if not torch.isfinite(t).all():
            raise ModelFileError(f"{name}: tensor {key} holds NaN or infinite values")
    bound = output_bound(tensors)
    if not bound < MAX_OUTPUT_BOUND:
        raise ModelFileError(f"{name}: its weights are so large that its scores could overflow to NaN or infinity "
                             f"(they could reach {bound:.1e}); it is not a usable trained network")
    return tensors, meta


def _read_bytes(path: Path, name: str) -> bytes:
    """The whole file, after checking it is a regular file of a sensible size (a FIFO would hang the read)."""
    try:
        check_regular_file(path)
        size = path.stat().st_size
        if size > MAX_MODEL_BYTES:
            raise ModelFileError(f"{name}: {size / 1e6:.0f} MB is far too large for this network's weights")
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ModelFileError(f"{path}: no such file") from exc
    except NotARegularFile as exc:
        missing = not path.exists() and not path.is_symlink()
        raise ModelFileError(f"{path}: no such file" if missing else str(exc)) from None
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if len(data) < 8:
        raise ModelFileError(f"{name}: the file is empty or truncated ({len(data)} bytes)")
    return data


def _header(data: bytes, name: str) -> tuple[dict, int]:
    """(the header's JSON table, the size of the tensor data after it)."""
    header_len = int.from_bytes(data[:8], "little")
    if header_len <= 0 or 8 + header_len > len(data):
        raise ModelFileError(f"{name}: not a safetensors file, or a truncated one (bad header length)")
    if header_len > MAX_HEADER_BYTES:
        raise ModelFileError(f"{name}: its header is {header_len / 1e6:.0f} MB, far more than a model's header")
    try:
        header = json.loads(data[8 : 8 + header_len].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ModelFileError(f"{name}: not a safetensors file (its header is not JSON)") from exc
    if not isinstance(header, dict):
        raise ModelFileError(f"{name}: not a safetensors file (unexpected header)")
    return header, len(data) - 8 - header_len


def _metadata(header: dict, name: str) -> dict:
    """Our metadata from the header's __metadata__ (a table of text, as safetensors defines it). Its content is
    display-only: JSON that does not parse, or fields no view can show, are dropped, never raised."""
    table = header.get("__metadata__", {})
    if table is None:
        table = {}
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise ModelFileError(f"{name}: not a valid safetensors file (its __metadata__ must be a table of text, "
                             f"not {_kind(table)})")
    raw = table.get(METADATA_KEY, "{}")
    try:
        return clean_metadata(json.loads(raw))
    except (ValueError, RecursionError):
        return {}


def _check_entries(header: dict, body: int, name: str) -> None:
    """Tensor names, dtypes, shapes and byte ranges as this network needs them."""
    expected = expected_shapes()
    entries = {k: v for k, v in header.items() if k != "__metadata__"}
    missing = sorted(set(expected) - set(entries))
    extra = sorted(cap_text(k, 40) for k in set(entries) - set(expected))
    if missing or extra:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing))
        if extra:
            parts.append("unexpected " + ", ".join(extra[:5]) + (" …" if len(extra) > 5 else ""))
        raise ModelFileError(f"{name}: tensor names do not match this network ({'; '.join(parts)})")
    for key, shape in expected.items():
        info = entries[key]
        if not isinstance(info, dict):
            raise ModelFileError(f"{name}: tensor {key} has a malformed header entry")
        dtype = info.get("dtype")
        if dtype != "F32":
            shown = cap_text(dtype, 20) if isinstance(dtype, str) else _kind(dtype)
            raise ModelFileError(f"{name}: tensor {key} has dtype {shown}, expected float32 (F32)")
        got = info.get("shape")
        if not isinstance(got, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in got):
            raise ModelFileError(f"{name}: tensor {key} has a malformed shape ({_kind(got)}, expected a list of "
                                 "sizes)")
        if tuple(got) != shape:
            raise ModelFileError(f"{name}: tensor {key} has shape {cap_text(str(tuple(got)), 60)}, expected {shape}")
        offsets = info.get("data_offsets")
        nbytes = 4 * math.prod(shape)
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
                or not 0 <= offsets[0] <= offsets[1] <= body or offsets[1] - offsets[0] != nbytes):
            raise ModelFileError(f"{name}: tensor {key} points outside the file or at the wrong number of bytes "
                                 "(the file is corrupt or truncated)")


def _tensors(data: bytes, name: str) -> dict:
    from safetensors.torch import load

    try:
        return load(data)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - safetensors raises several kinds, a Rust panic among them
        raise ModelFileError(f"{name}: the file is corrupt or truncated ({cap_text(str(exc), 200)})") from None


def _kind(value) -> str:
    return {dict: "a table", list: "a list", str: "text", bool: "true/false", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)


def output_bound(tensors: dict) -> float:
    """An upper bound on |score| over every input in [0, 1]: each layer multiplies the largest input by its fan-in
    and its largest weight, and adds its largest bias (ReLU and pooling never grow it). Exact arithmetic in
    float64, so a bound beyond float32's range shows as such instead of overflowing."""
    from advstudio.core.constants import MNIST_MEAN, MNIST_STD

    bound = max(abs(0.0 - MNIST_MEAN), abs(1.0 - MNIST_MEAN)) / MNIST_STD
    for layer in ("conv1", "conv2", "fc1", "fc2"):
        w, b = tensors[f"{layer}.weight"], tensors[f"{layer}.bias"]
        fan_in = w[0].numel()
        bound = fan_in * float(w.abs().max().double()) * bound + float(b.abs().max().double())
    return bound


def model_display_name(path: str | os.PathLike, meta: dict) -> str:
    """The model's name (capped, so a huge one cannot stall the window), else its file's stem."""
    name = meta.get("name")
    return cap_text(name if isinstance(name, str) and name else Path(path).stem, MAX_NAME)
