"""The window's own dialogs (a mixin of MainWindow): the dataset folder, About, and the keyboard shortcuts."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import QFileDialog, QMessageBox

from advstudio.gui.about import ABOUT_HTML


def _keys(sequences: list[QKeySequence]) -> str:
    return " / ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in sequences)


def _words(text: str) -> str:
    """A menu text as plain words: "Open &image…" -> "Open image"."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip("…").strip()


class DialogsMixin:
    def ask_data_dir(self) -> str | None:
        """Pick the MNIST folder; returns why the folder picked was not taken, or None."""
        folder = QFileDialog.getExistingDirectory(self, "Folder with the MNIST files", self.ctx.data_dir or "")
        return self.ctx.choose_data_dir(folder) if folder else None

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
