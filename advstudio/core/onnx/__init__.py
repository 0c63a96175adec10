"""ONNX classifiers without the onnx package: a hardened protobuf reader and writer for the part of ONNX a
digit classifier uses (proto, tensors), the graph run as a differentiable torch module (module, ops,
ops_tensor), opening files made elsewhere (reader) and writing the app's networks (writer). Pure torch and
numpy; the onnx package is only the tests' oracle."""

from __future__ import annotations

from advstudio.core.onnx.module import OnnxGraph, OnnxModule
from advstudio.core.onnx.reader import load_onnx, parse_input_range, read_onnx
from advstudio.core.onnx.writer import export_onnx, onnx_bytes

__all__ = ["OnnxGraph", "OnnxModule", "export_onnx", "load_onnx", "onnx_bytes", "parse_input_range", "read_onnx"]
