"""What the tab controllers (robustness lab, Training, Defenses, Certify & detect) share: they submit their own
job kinds to the one worker, keep the generation of each kind's newest request, and hear back only about those,
and only while the window is open."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Slot

from advstudio.gui.messages import Failure, Reply

if TYPE_CHECKING:
    from advstudio.gui.context import AppContext
    from advstudio.gui.worker import Worker


class JobClient(QObject):
    """Subclasses register their kinds and call listen() in attach(), submit with submit(), and implement
    on_reply / on_progress / on_failure (and data_problem, if their panel has a "Choose MNIST folder…" button)."""

    def __init__(self, ctx: "AppContext", kinds: tuple[str, ...]) -> None:
        super().__init__(ctx)
        self.ctx = ctx
        self.worker: "Worker | None" = None
        self._gen: dict[str, int] = {kind: -1 for kind in kinds}

    def listen(self, worker: "Worker") -> None:
        self.worker = worker
        worker.replied.connect(self._route_reply)
        worker.failed.connect(self._route_failure)
        worker.progress.connect(self._route_progress)

    def submit(self, kind: str, request: Any) -> int:
        """Send `request` to the worker; only its answer (not an older one of this kind) is passed on."""
        self._gen[kind] = self.worker.submit(kind, request)
        return self._gen[kind]

    def forget(self, kind: str) -> None:
        """Drop the answer still on its way for `kind`."""
        self._gen[kind] = -1

    def current(self, kind: str, generation: int) -> bool:
        return not self.ctx.closed and kind in self._gen and self._gen[kind] == generation

    # ------------------------------------------------------------------ what subclasses handle
    def on_reply(self, kind: str, value: Any) -> None:
        pass

    def on_progress(self, kind: str, value: Any) -> None:
        pass

    def on_failure(self, failure: Failure) -> None:
        pass

    def on_other_failure(self, failure: Failure) -> None:
        """A failure of a kind or generation this client is not waiting for (the window still open)."""

    def data_problem(self) -> str | None:
        return None

    # ------------------------------------------------------------------ routing
    @Slot(object)
    def _route_reply(self, reply: Reply) -> None:
        if self.current(reply.kind, reply.generation):
            self.on_reply(reply.kind, reply.value)

    @Slot(object)
    def _route_progress(self, reply: Reply) -> None:
        if self.current(reply.kind, reply.generation):
            self.on_progress(reply.kind, reply.value)

    @Slot(object)
    def _route_failure(self, failure: Failure) -> None:
        if self.current(failure.kind, failure.generation):
            self.on_failure(failure)
        elif not self.ctx.closed:
            self.on_other_failure(failure)

    @Slot()
    def _choose_folder(self) -> None:
        self.ctx.ask_data_dir()
        if self.data_problem() is None:
            self.panel.show_data_error(None)
