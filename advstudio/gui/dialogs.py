"""The window's file dialogs, saving, and the About and shortcut boxes (a mixin of MainWindow).

Each `ask_*` method only asks for a path and hands it to a method that tests call directly."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import QFileDialog, QMessageBox

from advstudio.gui.about import ABOUT_HTML

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.webp *.tif *.tiff);;All files (*)"
MODEL_FILTER = "Models (*.safetensors);;All files (*)"


def _keys(sequences: list[QKeySequence]) -> str:
    return " / ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in sequences)


def _words(text: str) -> str:
    """A menu text as plain words: "Open &image…" -> "Open image"."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip("…").strip()


class DialogsMixin:
    def ask_open_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open an image of a digit", self._last_dir(), IMAGE_FILTER)
        if path:
            self._remember_dir(path)
            self.open_image(path)

    def ask_open_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a model", self._last_dir(), MODEL_FILTER)
        if path:
            self._remember_dir(path)
            self.open_model(path)

    def ask_data_dir(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder with the MNIST files", self.data_dir or "")
        if folder:
            self.set_data_dir(folder)

    def ask_save_result(self) -> None:
        if self.analysis is None:
            self._error("Nothing to save yet", "Draw a digit or open an image first, then attack it.")
            return
        folder = QFileDialog.getExistingDirectory(self, "Save the attack into this folder", self._last_dir())
        if folder:
            self._remember_dir(folder + "/")
            self.save_result(folder)

    def save_result(self, folder: str | Path, stem: str | None = None) -> list[Path]:
        """Write the adversarial image, the perturbation and the figure into `folder` (atomically)."""
        from advstudio.gui.features.studio.export import save_attack

        if self.analysis is None:
            self._error("Nothing to save yet", "Draw a digit or open an image first, then attack it.")
            return []
        r = self.analysis.attack
        stem = stem or f"{r.clean_label}_to_{r.adv_label}_eps{r.eps:.3f}".replace(".", "p")
        name = self.model_info.name if self.model_info else ""
        try:
            paths = save_attack(r, folder, stem, name)
        except OSError as exc:
            self._error("Could not save", f"{folder}: {exc.strerror or exc}")
            return []
        self.statusBar().showMessage(f"Saved {len(paths)} files to {folder} ({stem}_*.png)", 8000)
        return paths

    def about(self) -> None:
        box = QMessageBox(self)
        box.setWindowTitle("About Adversarial Studio")
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(ABOUT_HTML)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        return box

    def shortcut_rows(self) -> list[tuple[str, str, str]]:
        """(where, keys, what) for every action with a shortcut: the menus' in menu order, then the window's own
        (the lesson's back / next, which work with the menu bar hidden) and the QShortcuts; read from the live
        actions, so the Help box cannot drift from them."""
        rows: list[tuple[str, str, str]] = []
        seen: set[int] = set()

        def add(where: str, act: QAction) -> None:
            if id(act) in seen or act.isSeparator():
                return
            seen.add(id(act))
            if act.menu() is not None:
                for sub in act.menu().actions():
                    add(where, sub)
            elif act.shortcuts():
                what = _words(act.text()) + (" (on / off)" if act.isCheckable() else "")
                rows.append((where, _keys(act.shortcuts()), what))

        for top in self.menuBar().actions():
            if top.menu() is not None:
                for act in top.menu().actions():
                    add(_words(top.text()), act)
        for act in self.actions():
            add("Anywhere", act)
        presentation = getattr(self, "presentation", None)
        for sc in self.findChildren(QShortcut):
            what = sc.whatsThis() or ("Leave presentation mode" if presentation is not None
                                      and sc is getattr(presentation, "escape", None) else "")
            if what and not sc.key().isEmpty():
                rows.append(("Anywhere", _keys([sc.key()]), what))
        return rows

    def shortcuts_html(self) -> str:
        out, where = ["<table>"], None
        for group, keys, what in self.shortcut_rows():
            if group != where:
                where = group
                out.append(f'<tr><td colspan="2"><i>{html.escape(group)}</i></td></tr>')
            out.append(f"<tr><td><b>{html.escape(keys)}</b>&nbsp;&nbsp;</td><td>{html.escape(what)}</td></tr>")
        out.append("</table>")
        return "\n".join(out)

    def show_shortcuts(self) -> None:
        box = QMessageBox(self)
        box.setWindowTitle("Keyboard shortcuts")
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(self.shortcuts_html())
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        return box

    def _last_dir(self) -> str:
        return self.ctx.last_dir()

    def _remember_dir(self, path: str) -> None:
        self.ctx.remember_dir(path)
