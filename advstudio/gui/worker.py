"""The one long-lived thread that owns the model and makes every torch call.

Requests go into a mailbox that keeps only the newest request of each kind, so dragging the ε slider or
drawing never builds a queue: the worker wakes, takes the newest of each kind and answers it. Replies carry
the request's generation so the GUI can drop stale ones. Handlers are registered by kind, so later features
(activations, robustness lab, training) add a kind instead of a new thread."""

from __future__ import annotations

import threading
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal, Slot

from advstudio.core.errors import AdvStudioError, error_kind
from advstudio.gui.messages import Failure, Reply, Request

Handler = Callable[["JobContext", Any], Any]


@dataclass
class WorkerState:
    """What the worker thread owns: the model, its device, and caches keyed by the model's version."""

    model: Any = None
    device: Any = None
    model_version: int = 0
    values: dict = field(default_factory=dict)


class JobContext:
    """Handed to a handler: the worker's state, the cancel flag and ways to stay responsive."""

    def __init__(self, worker: "Worker", request: Request) -> None:
        self.worker, self.request, self.state = worker, request, worker.state

    @property
    def cancelled(self) -> bool:
        return self.worker.cancel_event.is_set()

    def superseded(self) -> bool:
        """True when a newer request of this kind is waiting (this one's answer would be dropped)."""
        return self.worker.pending_generation(self.request.kind) > self.request.generation

    def should_stop(self) -> bool:
        return self.cancelled or self.superseded()

    def serve_interactive(self) -> None:
        """Answer waiting interactive requests (between batches of a long job)."""
        self.worker.drain(only=self.worker.interactive_kinds)

    def progress(self, value: Any) -> None:
        self.worker.progress.emit(Reply(self.request.kind, self.request.generation, value))


class Worker(QObject):
    """Lives in its own QThread; `submit` is called from the GUI thread, handlers run in the worker's."""

    replied = Signal(object)  # Reply
    failed = Signal(object)  # Failure
    progress = Signal(object)  # Reply carrying a progress value
    _wake = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.state = WorkerState()
        self.cancel_event = threading.Event()
        self.interactive_kinds: set[str] = set()
        self._handlers: dict[str, tuple[int, Handler]] = {}
        self._pending: dict[str, Request] = {}
        self._generation = 0
        self._lock = threading.Lock()
        self._wake_posted = False
        self._wake.connect(self._on_wake)

    def register(self, kind: str, handler: Handler, priority: int = 0, interactive: bool = False) -> None:
        """Handle requests of `kind`; higher priority runs first; interactive kinds are served inside long jobs."""
        self._handlers[kind] = (priority, handler)
        if interactive:
            self.interactive_kinds.add(kind)

    def submit(self, kind: str, payload: Any = None) -> int:
        """Queue `payload` as the newest request of `kind` (replacing any waiting one); returns its generation."""
        if kind not in self._handlers:
            raise KeyError(f"no handler for {kind!r}")
        with self._lock:
            self._generation += 1
            gen = self._generation
            self._pending[kind] = Request(kind, gen, payload)
            post = not self._wake_posted
            self._wake_posted = True
        if post:
            self._wake.emit()  # queued into the worker thread's event loop
        return gen

    def pending_generation(self, kind: str) -> int:
        with self._lock:
            req = self._pending.get(kind)
            return req.generation if req else -1

    @Slot()
    def _on_wake(self) -> None:
        with self._lock:
            self._wake_posted = False
        self.drain()

    def drain(self, only: set[str] | None = None) -> None:
        while not self.cancel_event.is_set():
            with self._lock:
                kinds = [k for k in self._pending if only is None or k in only]
                if not kinds:
                    return
                kind = max(kinds, key=lambda k: self._handlers[k][0])
                request = self._pending.pop(kind)
            self._run(request)

    def _run(self, request: Request) -> None:
        _, handler = self._handlers[request.kind]
        try:
            value = handler(JobContext(self, request), request.payload)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a readable message
            if not self.cancel_event.is_set():
                self.failed.emit(Failure(request.kind, request.generation, _describe(exc), error_kind(exc)))
            return
        if value is not None and not self.cancel_event.is_set():
            self.replied.emit(Reply(request.kind, request.generation, value))


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, AdvStudioError) and text:
        return text
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" (at {tb[-1].name}, line {tb[-1].lineno})" if tb else ""
    return f"{exc.__class__.__name__}: {text or 'no details'}{where}"


class WorkerThread:
    """Starts the worker in its own QThread and stops it cleanly: set cancel, quit(), wait(); never terminate()."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.thread = QThread()
        self.thread.setObjectName("advstudio-worker")
        worker.moveToThread(self.thread)

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout_ms: int = 2000) -> bool:
        self.worker.cancel_event.set()
        self.thread.quit()
        return bool(self.thread.wait(timeout_ms))
