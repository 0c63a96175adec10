"""The one "choose a model file" dialog the features share (the robustness lab's and the Defenses tab's "Add
model…", Compare's "Choose file…", the Defenses tab's distilled model): it starts in the last folder used and
remembers the folder chosen."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog

from advstudio.gui.models import ModelEntry

if TYPE_CHECKING:
    from advstudio.gui.context import AppContext

MODEL_FILTER = "Models (*.safetensors *.onnx);;All files (*)"


def ask_model_path(ctx: "AppContext", title: str) -> str | None:
    """A model file the user chose, or None."""
    path, _ = QFileDialog.getOpenFileName(ctx.parent_widget, title, ctx.last_dir(), MODEL_FILTER)
    if not path:
        return None
    ctx.remember_dir(path)
    return path


def ask_add_model(ctx: "AppContext", title: str = "Add a model to the lab") -> ModelEntry | None:
    """Let the user add a model file to the app-wide registry (ctx.models); its entry, or None."""
    path = ask_model_path(ctx, title)
    return ctx.models.add_file(path) if path else None
