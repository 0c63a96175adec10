"""Models as safetensors with JSON metadata, written atomically; loading validates everything and never
unpickles anything."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from advstudio.core.errors import ModelFileError
from advstudio.core.files import atomic_write_bytes, atomic_write_text
from advstudio.core.model import ARCHITECTURE, MnistCNN

METADATA_KEY = "advstudio"
MAX_MODEL_BYTES = 64 * 1024 * 1024
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
    from safetensors import SafetensorError
    from safetensors.torch import load

    name = path.name
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(16)
    except FileNotFoundError as exc:
        raise ModelFileError(f"{path}: no such file") from exc
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    refusal = _sniff_refusal(path, head)
    if refusal:
        raise ModelFileError(f"{name}: {refusal}")
    if size > MAX_MODEL_BYTES:
        raise ModelFileError(f"{name}: {size / 1e6:.0f} MB is far too large for this network's weights")
    if size < 8:
        raise ModelFileError(f"{name}: the file is empty or truncated ({size} bytes)")
    data = path.read_bytes()
    header_len = int.from_bytes(data[:8], "little")
    if header_len <= 0 or 8 + header_len > len(data):
        raise ModelFileError(f"{name}: not a safetensors file, or a truncated one (bad header length)")
    try:
        header = json.loads(data[8 : 8 + header_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{name}: not a safetensors file (its header is not JSON)") from exc
    if not isinstance(header, dict):
        raise ModelFileError(f"{name}: not a safetensors file (unexpected header)")
    meta_raw = (header.get("__metadata__") or {}).get(METADATA_KEY, "{}")
    try:
        meta = json.loads(meta_raw) if isinstance(meta_raw, str) else {}
    except json.JSONDecodeError:
        meta = {}
    if not isinstance(meta, dict):
        meta = {}
    arch = meta.get("architecture", ARCHITECTURE)
    if arch != ARCHITECTURE:
        raise ModelFileError(f"{name}: architecture '{arch}' is not supported (expected {ARCHITECTURE})")

    expected = expected_shapes()
    entries = {k: v for k, v in header.items() if k != "__metadata__"}
    missing = sorted(set(expected) - set(entries))
    extra = sorted(set(entries) - set(expected))
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
        if info.get("dtype") != "F32":
            raise ModelFileError(f"{name}: tensor {key} has dtype {info.get('dtype')}, expected float32 (F32)")
        if tuple(info.get("shape", ())) != shape:
            raise ModelFileError(f"{name}: tensor {key} has shape {tuple(info.get('shape', ()))}, expected {shape}")
    if not want_tensors:
        return {}, meta
    try:
        tensors = load(data)
    except (SafetensorError, Exception) as exc:  # noqa: BLE001 - safetensors raises several kinds
        raise ModelFileError(f"{name}: the file is corrupt or truncated ({exc})") from exc
    for key, t in tensors.items():
        if not torch.isfinite(t).all():
            raise ModelFileError(f"{name}: tensor {key} holds NaN or infinite values")
    return tensors, meta


def model_display_name(path: str | os.PathLike, meta: dict) -> str:
    return str(meta.get("name") or Path(path).stem)
