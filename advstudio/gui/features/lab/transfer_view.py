"""The robustness lab's transfer matrix: the "Transfer matrix" button (enabled while two or more models are
ticked), and the heat-map table of the result (rows: crafted on; columns: judged by; the diagonal is white-box),
shown on a tab beside the confusion matrix and the mistakes. Widgets only: no torch, no jobs."""

from __future__ import annotations

import html
import textwrap

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QListWidget,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from advstudio.gui.features.lab.messages import TransferResult
from advstudio.gui.widgets.help import explain
from advstudio.gui.widgets.layout import CurrentPageTabs
from advstudio.gui.widgets.palette import colours, luminance
from advstudio.gui.widgets.plot_key import PlotPlaceholder

CAPTION = ("An attack made on one model also fools the others: each cell is the share of digits (that the judging "
           "model gets right) fooled by examples made on the row's model.")
EMPTY = ("Tick two or more models and press Transfer matrix: the attack is made on each model in turn, and every "
         "model is tested on the results.")
BUTTON_TIP = ("Make the attack on each ticked model and test every ticked model on the results (uses the form's "
              "attack, the largest strength in the list and the number of test images).")
NEEDS_TWO = "Tick two or more models in the list above to compare how attacks carry over between them."
MATHS = ("Cell (i, j) = #{x : f_j(x) = y and f_j(x′_i) ≠ y} / #{x : f_j(x) = y}, where x′_i is the untargeted "
         "adversarial example crafted on model i (white-box). The diagonal is the ordinary white-box success rate.")
WHITE_BOX = "white-box"
NAME_WRAP = 18  # characters per line of a model's name in a header


class TransferButton(QPushButton):
    """"Transfer matrix": enabled while two or more models are ticked and nothing runs; its tooltip says why not."""

    def __init__(self, model_list: QListWidget, parent: QWidget | None = None) -> None:
        super().__init__("Transfer matrix", parent)
        self.running = False
        self.items = model_list.model()  # read through the model: it outlives the list while the window closes
        for signal in (self.items.dataChanged, self.items.rowsInserted, self.items.rowsRemoved,
                       self.items.modelReset):
            signal.connect(self.update_state)
        self.update_state()

    def ticked(self) -> int:
        m, checked = self.items, Qt.CheckState.Checked.value
        return sum(m.index(i, 0).data(Qt.ItemDataRole.CheckStateRole) in (checked, Qt.CheckState.Checked)
                   for i in range(m.rowCount()))

    def set_running(self, running: bool) -> None:
        self.running = running
        self.update_state()

    @Slot()
    def update_state(self, *_args) -> None:
        enough = self.ticked() >= 2
        self.setEnabled(enough and not self.running)
        self.setToolTip(BUTTON_TIP if enough else NEEDS_TWO)


def header_text(prefix: str, name: str) -> str:
    """"crafted on" and a model's name, wrapped so that a long name does not widen its column."""
    return prefix + "\n" + "\n".join(textwrap.wrap(name, NAME_WRAP, max_lines=2, placeholder="…") or [name])


def cell_colour(base: QColor, hot: QColor, value: float) -> QColor:
    """`base` (0 %) blended toward `hot` (100 %)."""
    v = min(1.0, max(0.0, float(value)))
    return QColor.fromRgbF(base.redF() + (hot.redF() - base.redF()) * v,
                           base.greenF() + (hot.greenF() - base.greenF()) * v,
                           base.blueF() + (hot.blueF() - base.blueF()) * v)


class TransferMatrixView(QWidget):
    """The matrix of the last transfer run as a table of coloured cells, values in %, with its plain caption and a
    line naming the attack, ε, steps and n."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result: TransferResult | None = None
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        self.caption = QLabel(CAPTION)
        self.caption.setWordWrap(True)
        explain(self.caption, CAPTION, MATHS)
        self.what = QLabel("")
        self.what.setWordWrap(True)
        self.what.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setDefaultAlignment(Qt.AlignmentFlag.AlignCenter)
        self.table.setMinimumHeight(120)
        self.table.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        explain(self.table, "Rows: the model the attack was made on. Columns: the model that then reads the attacked "
                            "digits. On the diagonal the attacker had the judging model itself (white-box).", MATHS)
        box = QWidget()
        bl = QVBoxLayout(box)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.addWidget(self.caption)
        bl.addWidget(self.what)
        bl.addWidget(self.table, 1)
        self.area = PlotPlaceholder(box, EMPTY)
        v.addWidget(self.area)

    def values(self) -> list[list[float]]:
        """The fractions shown, [crafted on][judged by] (empty before a run)."""
        return [list(r) for r in self.result.matrix.success] if self.result is not None else []

    def cell_text(self, i: int, j: int) -> str:
        item = self.table.item(i, j)
        return item.text() if item is not None else ""

    def show_result(self, result: TransferResult) -> None:
        self.result = result
        m = result.matrix
        k = len(m.names)
        self.table.clear()
        self.table.setRowCount(k)
        self.table.setColumnCount(k)
        self.table.setHorizontalHeaderLabels([header_text("judged by", n) for n in m.names])
        self.table.setVerticalHeaderLabels([header_text("crafted on", n) for n in m.names])
        for i in range(k):
            for j in range(k):
                text = f"{m.success[i][j] * 100:.1f} %" + (f"\n{WHITE_BOX}" if i == j else "")
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                how = "white-box: the attacker had this model's gradients" if i == j else "transfer"
                item.setToolTip(f"Made on {m.names[i]}, read by {m.names[j]} ({how}): {m.counts[i][j]} of the "
                                f"{m.judged[j]} digits it gets right were fooled.")
                if i == j:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(i, j, item)
        self.recolour()
        what = m.describe()
        clean = ", ".join(f"{n} {a * 100:.1f} %" for n, a in zip(m.names, m.clean_accuracy))
        self.what.setText(f"<b>{html.escape(what)}</b><br>Clean accuracy: {html.escape(clean)}. "
                          f"Done in {result.seconds:.1f} s.")
        self.area.set_empty(False)

    def recolour(self) -> None:
        """Cells from the background (0 %) to the adversarial colour (100 %); text dark or light to stay readable."""
        if self.result is None:
            return
        base = self.palette().color(self.palette().ColorRole.Base)
        hot = QColor(colours(self).adversarial)
        m = self.result.matrix
        for i in range(len(m.names)):
            for j in range(len(m.names)):
                item = self.table.item(i, j)
                fill = cell_colour(base, hot, m.success[i][j])
                item.setBackground(QBrush(fill))
                item.setForeground(QBrush(QColor("#000000" if luminance(fill) > 0.35 else "#ffffff")))

    def clear(self) -> None:
        self.result = None
        self.table.clear()
        self.table.setRowCount(0)
        self.table.setColumnCount(0)
        self.what.setText("")
        self.area.set_empty(True)

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.type() == event.Type.PaletteChange:
            self.recolour()
        super().changeEvent(event)


def detail_tabs(details: QWidget, transfer: TransferMatrixView) -> CurrentPageTabs:
    """The lab's lower half: the confusion matrix and mistakes of one curve, and the transfer matrix."""
    tabs = CurrentPageTabs()
    tabs.setObjectName("lab_detail_tabs")
    tabs.addTab(details, "Confusion and mistakes")
    tabs.addTab(transfer, "Transfer matrix")
    return tabs
