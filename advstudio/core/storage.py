"""Models as safetensors with JSON metadata, written atomically; loading validates everything and never
unpickles anything."""

from __future__ import annotations

import json
import math
import os
from functools import lru_cache
from pathlib import Path

import torch

from advstudio.core.architecture_names import DEFAULT_CLASSES, MAX_CLASSES, MIN_CLASSES
from advstudio.core.errors import ModelFileError
from advstudio.core.files import NotARegularFile, atomic_write_bytes, atomic_write_text, check_regular_file
from advstudio.core.model import ARCHITECTURE, ARCHITECTURES, build_model, num_classes_of
from advstudio.core.model_meta import MAX_NAME, cap_text, clean_metadata

METADATA_KEY = "advstudio"
MAX_MODEL_BYTES = 64 * 1024 * 1024
MAX_HEADER_BYTES = 8 * 1024 * 1024  # the tensor table is under 1 kB; the rest is metadata
MAX_OUTPUT_BOUND = 1e30  # scores (and their gradients) stay far inside float32's 3.4e38
PICKLE_SUFFIXES = {".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin"}


def expected_shapes(architecture: str = ARCHITECTURE, num_classes: int = DEFAULT_CLASSES) -> dict[str, tuple[int, ...]]:
    """Every tensor of that architecture's state dict with its shape, in the network's layer order."""
    return dict(_shapes(architecture, num_classes))


@lru_cache(maxsize=32)
def _shapes(architecture: str, num_classes: int) -> tuple[tuple[str, tuple[int, ...]], ...]:
    # a real (CPU) network: a few ms, once per architecture; torch's "meta" device costs a second on first use
    with torch.random.fork_rng(devices=[]):  # and leave the caller's random numbers as they were
        state = build_model(architecture, num_classes).state_dict()
    return tuple((k, tuple(v.shape)) for k, v in state.items())


def _known() -> str:
    names = list(ARCHITECTURES)
    return ", ".join(names[:-1]) + " and " + names[-1]


def save_model(model: torch.nn.Module, path: str | os.PathLike, metadata: dict) -> Path:
    """Save weights as safetensors with the metadata (JSON) embedded in its header; also a .json sidecar."""
    from safetensors.torch import save

    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_suffix(".safetensors")
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    meta = {**metadata, "architecture": getattr(type(model), "ARCHITECTURE", "") or ARCHITECTURE}
    classes = num_classes_of(model)
    if classes is not None and classes != DEFAULT_CLASSES:  # 10 is what every reader assumes without it
        meta["num_classes"] = classes
    else:
        meta.pop("num_classes", None)
    names = meta.get("classes")
    if names is not None and (not isinstance(names, (list, tuple)) or len(names) != (classes or DEFAULT_CLASSES)):
        meta.pop("classes")  # names that do not match the outputs would mislabel them
    elif names is not None:
        meta["classes"] = [str(n) for n in names]
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
    # a safetensors header is a JSON table right after its 8-byte length: a file whose length bytes happen to
    # read like a pickle's start (a header of 640, 896, 1152 or 1408 bytes, plus any multiple of 64 KiB, begins
    # 0x80 0x02…0x05) is not one
    safetensors = head[8:9] == b"{"
    if not safetensors and (head[:2] in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")
                            or head[:4] == b"PK\x03\x04"):
        return (
            "this is a pickle or a torch.save archive, not safetensors; pickles can run code when loaded, "
            "so it is refused without being opened."
        )
    return None


def read_metadata(path: str | os.PathLike) -> dict:
    """The metadata embedded in a model file (validated like load_model's header checks; an ONNX file is opened
    and tried, a few milliseconds for a digit classifier)."""
    if Path(path).suffix.lower() == ".onnx":
        from advstudio.core.onnx import load_onnx

        return load_onnx(path)[1]
    return _read(Path(path), want_tensors=False)[1]


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu", input_range: str | None = None,
               outputs: str | None = None) -> tuple[torch.nn.Module, dict]:
    """Load a safetensors model after checking tensor names, shapes, dtypes and finiteness against the
    architecture (and number of classes) its metadata names: the article's CNN with 10 classes when it names
    none. A .onnx file is read by core.onnx (input_range / outputs: what it expects and gives, when the file
    does not say); safetensors files ignore them."""
    if Path(path).suffix.lower() == ".onnx":
        from advstudio.core.onnx import load_onnx

        return load_onnx(path, device, input_range=input_range, outputs=outputs)
    tensors, meta = _read(Path(path), want_tensors=True)
    model = build_model(*_architecture(meta, cap_text(Path(path).name, 100)))
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
    arch, classes = _architecture(meta, name)
    expected = expected_shapes(arch, classes)
    _check_entries(header, body, name, expected, arch if "architecture" in meta else None)
    if not want_tensors:
        return {}, meta
    loaded = _tensors(data, name)
    tensors = {k: loaded[k] for k in expected}  # the network's layer order (output_bound follows it)
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


def _architecture(meta: dict, name: str) -> tuple[str, int]:
    """(architecture, number of classes) the metadata names: the article's CNN and 10 classes by default."""
    arch = meta.get("architecture", ARCHITECTURE)
    if not isinstance(arch, str) or arch not in ARCHITECTURES:
        raise ModelFileError(f"{name}: architecture '{cap_text(arch, 60)}' is not supported (this version knows "
                             f"{_known()})")
    classes = meta.get("num_classes", DEFAULT_CLASSES)
    if classes is None:
        classes = DEFAULT_CLASSES
    if isinstance(classes, bool) or not isinstance(classes, int) or not MIN_CLASSES <= classes <= MAX_CLASSES:
        shown = cap_text(str(classes), 40) if isinstance(classes, (int, float, str)) else _kind(classes)
        raise ModelFileError(f"{name}: its metadata's num_classes ({shown}) is not a whole number from "
                             f"{MIN_CLASSES} to {MAX_CLASSES}")
    return arch, classes


def _named_like(names: set) -> str | None:
    """The known architecture whose tensors have exactly these names, if one has."""
    for arch in ARCHITECTURES:
        if set(expected_shapes(arch)) == names:
            return arch
    return None


def _check_entries(header: dict, body: int, name: str, expected: dict[str, tuple[int, ...]],
                   named: str | None = None) -> None:
    """Tensor names, dtypes, shapes and byte ranges as the network needs them (`named`: the architecture the
    metadata names, for the messages; None when it names none and the article's CNN is assumed)."""
    entries = {k: v for k, v in header.items() if k != "__metadata__"}
    missing = sorted(set(expected) - set(entries))
    extra = sorted(cap_text(k, 40) for k in set(entries) - set(expected))
    if missing or extra:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing))
        if extra:
            parts.append("unexpected " + ", ".join(extra[:5]) + (" …" if len(extra) > 5 else ""))
        network = f"the {named} network its metadata names" if named else "this network"
        other = _named_like(set(entries))
        hint = f"; they are the tensors of the {other} architecture, not of {named or ARCHITECTURE}" if other else ""
        raise ModelFileError(f"{name}: tensor names do not match {network} ({'; '.join(parts)}){hint}")
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
    """An upper bound on |score| over every input in [0, 1]: each layer (every "….weight" of the state dict, in
    its order: the networks here are chains of convolution and linear layers) multiplies the largest input by
    its fan-in and its largest weight, and adds its largest bias (ReLU, pooling and dropout in eval mode never
    grow it). Exact arithmetic in float64, so a bound beyond float32's range shows as such instead of
    overflowing."""
    from advstudio.core.constants import MNIST_MEAN, MNIST_STD

    bound = max(abs(0.0 - MNIST_MEAN), abs(1.0 - MNIST_MEAN)) / MNIST_STD
    for key, w in tensors.items():
        if not key.endswith(".weight") or w.dim() < 2:
            continue
        b = tensors.get(key[: -len("weight")] + "bias")
        fan_in = w[0].numel()
        bias = float(b.abs().max().double()) if b is not None and b.numel() else 0.0
        bound = fan_in * float(w.abs().max().double()) * bound + bias
    return bound


def model_display_name(path: str | os.PathLike, meta: dict) -> str:
    """The model's name (capped, so a huge one cannot stall the window), else its file's stem."""
    name = meta.get("name")
    return cap_text(name if isinstance(name, str) and name else Path(path).stem, MAX_NAME)
