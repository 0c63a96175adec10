"""Help ▸ Keyboard shortcuts is read from the window's live actions, so every shortcut is listed."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence


def test_shortcut_box_lists_every_action_with_a_shortcut(window):
    rows = window.shortcut_rows()
    by_keys = {keys: (where, what) for where, keys, what in rows}
    native = QKeySequence.SequenceFormat.NativeText
    for keys in ("Ctrl+L", "F11", "Esc", "Alt+Left", "Alt+Right", "Ctrl+K", "Ctrl+Shift+E", "Ctrl+O", "Ctrl+F"):
        assert QKeySequence(keys).toString(native) in by_keys, keys
    assert by_keys[QKeySequence("Ctrl+K").toString(native)] == ("File", "Add this attack to the report")
    assert by_keys[QKeySequence("Alt+Right").toString(native)] == ("Anywhere", "Lesson: next")
    assert by_keys[QKeySequence("Esc").toString(native)][1] == "Leave presentation mode"
    assert by_keys[QKeySequence("F11").toString(native)] == ("View", "Presentation mode (on / off)")
    redo = "Ctrl+Shift+Z / Ctrl+Y"
    assert by_keys[" / ".join(QKeySequence(k).toString(native) for k in redo.split(" / "))][1] == "Redo stroke"
    # every window action with a shortcut is there exactly once
    listed = [keys for _where, keys, _what in rows]
    assert len(listed) == len(set(listed))
    for act in window.findChildren(QAction):
        if act.shortcuts() and act.isVisible():
            keys = " / ".join(k.toString(native) for k in act.shortcuts())
            assert keys in by_keys, act.text()
    box = window.show_shortcuts()
    assert "Ctrl+Shift+E" in box.text().replace(QKeySequence("Ctrl+Shift+E").toString(native), "Ctrl+Shift+E")
    box.close()
