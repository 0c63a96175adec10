"""The one long-lived thread that owns the model and makes every torch call.

Requests go into a mailbox that keeps only the newest request of each kind, so dragging the ε slider or
drawing never builds a queue: the worker wakes, takes the newest of each kind (highest priority first) and
answers it. `submit` returns a JobHandle whose own signals (progressed, finished, failed) carry only that
request's answers, and only while it is the newest of its kind: stale answers are dropped. Failures carry a
typed error (advstudio.core.errors.KINDS). Handlers are registered by kind, so a feature adds a kind instead
of a thread. WorkerState holds the one device set-up and the one cache of model files."""

from __future__ import annotations

import atexit
import logging
import threading
import traceback
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from advstudio.core.data import in_window_words
from advstudio.core.errors import AdvStudioError, ModelFileError, error_kind

log = logging.getLogger(__name__)
Handler = Callable[["JobContext", Any], Any]
MODEL_CACHE = 6  # model files kept loaded on the worker (the studio's, the lab's, both sides of Compare, ...)


@dataclass(frozen=True)
class Request:
    """One unit of work for the worker; a newer request of the same kind supersedes an older one."""

    kind: str
    generation: int
    payload: object = None


@dataclass(frozen=True)
class Reply:
    kind: str
    generation: int
    value: object


@dataclass(frozen=True)
class Failure:
    kind: str
    generation: int
    message: str
    error: str = "internal"  # what went wrong: advstudio.core.errors.KINDS (dataset, model_file, input, ...)


@dataclass
class WorkerState:
    """What the worker thread owns: the studio's model, the device, the model files loaded so far, and caches
    keyed by the model's version (values)."""

    model: Any = None
    device: Any = None
    model_version: int = 0
    values: dict = field(default_factory=dict)
    models: OrderedDict = field(default_factory=OrderedDict)

    def ensure_device(self):
        """The one device set-up: torch's intra-op threads limited (the GUI keeps a core), then the preferred
        device (settings' device_preference), else CUDA, else Apple MPS, else CPU."""
        if self.device is None:
            from advstudio.core.model import limit_threads, pick_device

            limit_threads(reserve=1)
            self.device = pick_device(self.values.get("device_preference"))
        return self.device

    def model_file(self, path: str | Path) -> tuple[Any, dict]:
        """(model, metadata) of a safetensors file on this device, loaded once per (path, mtime, size); a file
        that failed to load fails again with the same message until it changes on disk."""
        from advstudio.core.storage import load_model

        p = Path(path)
        try:
            st = p.stat()
        except FileNotFoundError:
            raise ModelFileError(f"{p.name}: no such file ({p})") from None
        except OSError as exc:
            raise ModelFileError(f"{p.name}: cannot be read ({exc.strerror or exc})") from None
        resolved = str(p.resolve())
        options = dict(self.values.get("onnx_options") or {}) if p.suffix.lower() == ".onnx" else {}
        key = (resolved, st.st_mtime_ns, st.st_size, tuple(sorted(options.items())))
        if key not in self.models:
            for old in [k for k in self.models if k[0] == resolved]:
                del self.models[old]  # the file changed on disk: forget its old version
            try:
                self.models[key] = load_model(p, self.ensure_device(), **options)
            except ModelFileError as exc:
                self.models[key] = ModelFileError(str(exc))
            while len(self.models) > MODEL_CACHE:
                self.models.popitem(last=False)
        self.models.move_to_end(key)
        value = self.models[key]
        if isinstance(value, ModelFileError):
            raise ModelFileError(str(value))
        return value

    def split(self, folder, split: str = "test"):
        """A split of the dataset folder, with the class layout the user chose (File ▸ Dataset classes; None:
        the folder's classes.txt or name says)."""
        from advstudio.core.data import load_split

        return load_split(folder, split, layout=self.values.get("data_layout"))

    def session_model(self, key: str, name: str):
        """A model trained in this session (not a file), by its registry key."""
        model = self.values.get("session_models", {}).get(key)
        if model is None:
            raise ModelFileError(f"The session model {name!r} is no longer available.")
        return model

    def add_session_model(self, key: str, model) -> None:
        self.values.setdefault("session_models", {})[key] = model

    def set_model(self, model) -> None:
        """Make `model` the studio's current one; caches keyed by the model version start afresh."""
        self.model = model
        self.model_version += 1

    def require_model(self):
        if self.model is None:
            raise RuntimeError("No model is loaded yet; open a model file (File ▸ Open model…).")
        return self.model


class JobHandle(QObject):
    """One submitted request, on the GUI thread, with its own signals: `progressed` (a Reply with a progress
    value), `finished` (a Reply with the handler's value), `failed` (a Failure). By default they fire only
    while this is the newest request of its kind (keep_stale=True: also after a newer one was submitted, for
    views that show intermediate answers while the user drags), and never after forget()."""

    progressed = Signal(object)
    finished = Signal(object)
    failed = Signal(object)

    def __init__(self, kind: str, generation: int, keep_stale: bool = False) -> None:
        super().__init__()
        self.kind, self.generation, self.keep_stale = kind, generation, keep_stale
        self.forgotten = False

    def forget(self) -> None:
        """Deliver nothing more for this request (its answer may still be computed)."""
        self.forgotten = True


class HandleRouter(QObject):
    """Lives on the GUI thread: hands each answer from the worker thread to its request's handle, and drops
    answers that are stale (a newer request of the kind exists) unless the handle keeps them."""

    def __init__(self) -> None:
        super().__init__()
        self.handles: dict[int, JobHandle] = {}
        self.newest: dict[str, int] = {}

    def track(self, handle: JobHandle, replaced: int | None) -> None:
        self.newest[handle.kind] = handle.generation
        self.handles[handle.generation] = handle
        if replaced is not None:
            self.handles.pop(replaced, None)  # it never ran: a newer request took its place in the mailbox

    def live(self, kind: str, generation: int, final: bool) -> JobHandle | None:
        h = self.handles.get(generation)
        if final:
            self.handles.pop(generation, None)
            for g in [g for g, old in self.handles.items() if old.kind == kind and g < generation]:
                del self.handles[g]  # older requests of the kind: their answers would come too late anyway
        if h is None or h.forgotten or (not h.keep_stale and self.newest.get(kind) != generation):
            return None
        return h

    @Slot(object)
    def on_progress(self, reply: Reply) -> None:
        h = self.live(reply.kind, reply.generation, final=False)
        if h is not None:
            h.progressed.emit(reply)

    @Slot(object)
    def on_reply(self, reply: Reply) -> None:
        h = self.live(reply.kind, reply.generation, final=True)
        if h is not None:
            h.finished.emit(reply)

    @Slot(object)
    def on_failure(self, failure: Failure) -> None:
        h = self.live(failure.kind, failure.generation, final=True)
        if h is not None:
            h.failed.emit(failure)


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
    """Lives in its own QThread; `submit` is called from the GUI thread, handlers run in the worker's.

    replied / failed / progress carry every answer (the session log listens to them); a feature listens to
    the handle its submit returned."""

    replied = Signal(object)  # Reply
    failed = Signal(object)  # Failure
    progress = Signal(object)  # Reply carrying a progress value
    _wake = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.router = HandleRouter()  # not a child: it stays on the GUI thread when the worker moves
        self.replied.connect(self.router.on_reply)
        self.failed.connect(self.router.on_failure)
        self.progress.connect(self.router.on_progress)
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

    def has_kind(self, kind: str) -> bool:
        return kind in self._handlers

    def submit(self, kind: str, payload: Any = None, keep_stale: bool = False) -> JobHandle:
        """Queue `payload` as the newest request of `kind` (replacing any waiting one); from the GUI thread."""
        if kind not in self._handlers:
            raise KeyError(f"no handler for {kind!r}")
        with self._lock:
            self._generation += 1
            gen = self._generation
            waiting = self._pending.get(kind)
            self._pending[kind] = Request(kind, gen, payload)
            post = not self._wake_posted
            self._wake_posted = True
        handle = JobHandle(kind, gen, keep_stale)
        self.router.track(handle, waiting.generation if waiting is not None else None)
        if post:
            self._wake.emit()  # queued into the worker thread's event loop
        return handle

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
        return in_window_words(text)
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
        """True when the thread has ended. A job that does not return in time (a slow disk) is left to finish
        on its own: its thread and worker are kept, never destroyed, because Qt aborts the whole process when a
        running QThread is destroyed (PySide's own exit handler would destroy it)."""
        self.worker.cancel_event.set()
        self.thread.quit()
        if self.thread.wait(timeout_ms):
            return True
        log.warning("the worker is still busy after %d ms; the window closes without waiting for it", timeout_ms)
        STILL_RUNNING.append((self.thread, self.worker))
        _keep_qt_objects_at_exit()
        return False


STILL_RUNNING: list[tuple[QThread, Worker]] = []  # worker threads busy when their window closed (kept alive)


def _keep_qt_objects_at_exit() -> None:
    """Skip PySide's exit handler, which destroys every Qt object, a running QThread among them; the app ends
    with os._exit after the other exit handlers (app.leave_now)."""
    from PySide6 import QtCore

    shutdown = getattr(QtCore, "__moduleShutdown", None)
    if shutdown is not None:
        atexit.unregister(shutdown)
