"""The base of every feature controller that talks to the worker: it submits its own job kinds, keeps the handle
of each kind's newest request and hears back only about those (through the handle's own signals), and only
while the window is open."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Slot

from advstudio.gui.worker import Failure, JobHandle, Reply

if TYPE_CHECKING:
    from advstudio.gui.context import AppContext


class JobClient(QObject):
    """Subclasses submit with submit(), and implement on_reply / on_progress / on_failure (and data_problem, if
    their panel has a "Choose MNIST folder…" button)."""

    def __init__(self, ctx: "AppContext", kinds: tuple[str, ...] = ()) -> None:
        super().__init__(ctx)
        self.ctx = ctx
        self.kinds = tuple(kinds)
        self.handles: dict[str, JobHandle] = {}

    @property
    def worker(self):
        return self.ctx.worker

    def submit(self, kind: str, request: Any, keep_stale: bool = False) -> int:
        """Send `request` to the worker; only its answers (not an older request's) are passed on, unless
        keep_stale, which also passes on the answers of older requests of the kind that arrive later. A kind the
        client did not declare is a programming error."""
        if self.kinds and kind not in self.kinds:
            raise KeyError(f"{type(self).__name__} does not submit {kind!r} (its kinds: {', '.join(self.kinds)})")
        handle = self.ctx.worker.submit(kind, request, keep_stale=keep_stale)
        handle.progressed.connect(self._route_progress)
        handle.finished.connect(self._route_reply)
        handle.failed.connect(self._route_failure)
        self.handles[kind] = handle
        return handle.generation

    def forget(self, kind: str) -> None:
        """Drop the answers still on their way for `kind`."""
        handle = self.handles.pop(kind, None)
        if handle is not None:
            handle.forget()

    def waiting(self, kind: str) -> bool:
        return kind in self.handles and not self.handles[kind].forgotten

    # ------------------------------------------------------------------ what subclasses handle
    def on_reply(self, kind: str, value: Any) -> None:
        pass

    def on_progress(self, kind: str, value: Any) -> None:
        pass

    def on_failure(self, failure: Failure) -> None:
        pass

    def data_problem(self) -> str | None:
        return None

    # ------------------------------------------------------------------ routing
    @Slot(object)
    def _route_reply(self, reply: Reply) -> None:
        if not self.ctx.closed:
            self.on_reply(reply.kind, reply.value)

    @Slot(object)
    def _route_progress(self, reply: Reply) -> None:
        if not self.ctx.closed:
            self.on_progress(reply.kind, reply.value)

    @Slot(object)
    def _route_failure(self, failure: Failure) -> None:
        if not self.ctx.closed:
            self.on_failure(failure)

    @Slot()
    def _choose_folder(self) -> None:
        """The panel's message says what the folder picked holds: nothing (that folder, by name), or what the
        folder now in use still lacks, or it goes."""
        rejected = self.ctx.ask_data_dir()
        self.panel.show_data_error(rejected or self.data_problem())
