"""Logging to a rotating file in the user's log folder, and unhandled errors that are logged and shown.

A windowed build (PyInstaller with console=False) starts with sys.stdout and sys.stderr set to None, so
anything written there would vanish or crash: the file log is where messages go, and the streams are
replaced by ones that forward to it. Qt is imported only when a QApplication already exists."""

from __future__ import annotations

import faulthandler
import io
import logging
import logging.handlers
import os
import sys
import threading
import traceback
from pathlib import Path

APP_NAME = "advstudio"
LOG_FILE = "advstudio.log"
CRASH_FILE = "crash.log"
ENV_LOG_DIR = "ADVSTUDIO_LOG_DIR"
MAX_BYTES = 1_000_000
BACKUPS = 3
FORMAT = "%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s"

log = logging.getLogger("advstudio")

_state: dict = {"handler": None, "console": None, "path": None, "crash_fh": None, "notifier": None, "showing": False}
_state_lock = threading.Lock()


def log_dir() -> Path:
    """The folder for log files: $ADVSTUDIO_LOG_DIR, else platformdirs' user log folder for the app."""
    env = os.environ.get(ENV_LOG_DIR)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_log_dir

    return Path(user_log_dir(APP_NAME, appauthor=False))


def log_path() -> Path | None:
    """The file being logged to, once setup_logging() has run (None before, or when no folder was writable)."""
    return _state["path"]


class _LogStream(io.TextIOBase):
    """A text stream that sends complete lines to a logger: stands in for a missing stdout/stderr."""

    def __init__(self, logger: logging.Logger, level: int, name: str) -> None:
        super().__init__()
        self._logger, self._level, self._buf, self.name = logger, level, "", name
        self._lock = threading.Lock()
        self._busy = threading.local()  # logging with no handler falls back to sys.stderr: do not loop

    @property
    def encoding(self) -> str:  # some libraries read it
        return "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text) -> int:
        if not isinstance(text, str):
            text = str(text)
        with self._lock:
            self._buf += text
            *lines, self._buf = self._buf.split("\n")
        for line in lines:
            self._emit(line)
        return len(text)

    def flush(self) -> None:
        with self._lock:
            rest, self._buf = self._buf, ""
        self._emit(rest)

    def _emit(self, line: str) -> None:
        if not line.strip() or getattr(self._busy, "on", False):
            return
        self._busy.on = True
        try:
            self._logger.log(self._level, "%s", line.rstrip())
        finally:
            self._busy.on = False


def ensure_std_streams() -> None:
    """Give a windowed build a stdout and stderr (None there) that forward to the log instead of crashing."""
    if sys.stdout is None:
        sys.stdout = _LogStream(logging.getLogger("advstudio.stdout"), logging.INFO, "<stdout>")
    if sys.stderr is None:
        sys.stderr = _LogStream(logging.getLogger("advstudio.stderr"), logging.WARNING, "<stderr>")


def _open_handler(folder: Path) -> logging.Handler | None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            folder / LOG_FILE, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=False
        )
    except OSError:
        return None
    handler.setFormatter(logging.Formatter(FORMAT))
    return handler


def setup_logging(
    level: int = logging.INFO, folder: str | os.PathLike | None = None, crash_file: bool | None = None
) -> Path | None:
    """Log to <log folder>/advstudio.log (rotated at 1 MB, 3 backups); returns the file's path.

    Falls back to a temporary folder when the user's log folder cannot be written, and to no file at all
    when neither can. Warnings and errors also go to a real stderr when there is one. With crash_file
    (default: in a frozen build, or with no stderr), faulthandler writes hard crashes to crash.log beside it
    instead of to the terminal. Calling it again replaces the handlers."""
    import tempfile

    if crash_file is None:
        crash_file = bool(getattr(sys, "frozen", False)) or sys.stderr is None

    candidates = [Path(folder)] if folder is not None else [log_dir(), Path(tempfile.gettempdir()) / APP_NAME]
    handler = None
    for candidate in candidates:
        handler = _open_handler(candidate)
        if handler is not None:
            break
    root = logging.getLogger()
    console = None
    if sys.stderr is not None and not isinstance(sys.stderr, _LogStream):
        console = logging.StreamHandler(sys.stderr)
        console.setLevel(logging.WARNING)
        console.setFormatter(logging.Formatter("advstudio: %(levelname)s: %(message)s"))
    with _state_lock:
        for key in ("handler", "console"):
            old = _state[key]
            if old is not None:
                root.removeHandler(old)
                old.close()
        _state["handler"], _state["console"], _state["path"] = handler, console, None
        if handler is not None:
            root.addHandler(handler)
            _state["path"] = Path(handler.baseFilename)
        if console is not None:
            root.addHandler(console)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    ensure_std_streams()
    logging.captureWarnings(True)
    if crash_file:
        _enable_faulthandler()
    log.info("Adversarial Studio %s starting (python %s, %s, frozen=%s); log file %s",
             _version(), sys.version.split()[0], sys.platform, bool(getattr(sys, "frozen", False)), _state["path"])
    return _state["path"]


def shutdown_logging() -> None:
    """Detach and close the file handler (and crash file) set up by setup_logging()."""
    with _state_lock:
        handlers = [_state["handler"], _state["console"]]
        _state["handler"], _state["console"], _state["path"] = None, None, None
        crash, _state["crash_fh"] = _state["crash_fh"], None
    for handler in handlers:
        if handler is not None:
            logging.getLogger().removeHandler(handler)
            handler.close()
    if crash is not None:
        try:
            faulthandler.disable()
        finally:
            crash.close()


def _enable_faulthandler() -> None:
    path = _state["path"]
    if path is None or _state["crash_fh"] is not None:
        return
    try:
        fh = open(path.with_name(CRASH_FILE), "a", encoding="utf-8")  # noqa: SIM115 - kept open on purpose
        faulthandler.enable(file=fh)
        _state["crash_fh"] = fh
    except (OSError, ValueError, RuntimeError):
        pass


def _version() -> str:
    try:
        from advstudio import __version__

        return __version__
    except Exception:  # noqa: BLE001
        return "?"


# ---------------------------------------------------------------------------------------------------------
# Unhandled exceptions


def error_message(exc: BaseException | None) -> str:
    """What the dialog says: the error in one line and where the full traceback was written."""
    what = f"{type(exc).__name__}: {exc}" if exc is not None else "an unknown error"
    where = log_path()
    tail = f"The details were written to the log file:\n{where}" if where else "No log file could be written."
    return f"Adversarial Studio ran into an unexpected error:\n\n{what}\n\n{tail}"


def _handle(exc_type, exc, tb, thread_name: str | None = None) -> None:
    if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    where = f" in thread {thread_name}" if thread_name else ""
    log.critical("Unhandled exception%s", where, exc_info=(exc_type, exc, tb))
    for h in logging.getLogger().handlers:
        try:
            h.flush()
        except Exception:  # noqa: BLE001
            pass
    if _state["handler"] is None and _state["console"] is None:
        # logging was never set up: make sure it is at least on stderr, when there is one
        try:
            if sys.stderr is not None and not isinstance(sys.stderr, _LogStream):
                traceback.print_exception(exc_type, exc, tb, file=sys.stderr)
        except Exception:  # noqa: BLE001
            pass
    try:
        _show_dialog(error_message(exc))
    except Exception:  # noqa: BLE001 - the handler of last resort must never raise
        log.exception("could not show the error dialog")


def excepthook(exc_type, exc, tb) -> None:
    """sys.excepthook: log the traceback, then show a dialog with the log path when a window is up."""
    _handle(exc_type, exc, tb)


def thread_excepthook(args: threading.ExceptHookArgs) -> None:
    """threading.excepthook: the same for exceptions that end a Python thread."""
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else None
    _handle(args.exc_type, args.exc_value, args.exc_traceback, thread_name=name)


def install_excepthook() -> None:
    """Route unhandled exceptions (main thread, Python threads, Qt slots) to the log and a dialog."""
    sys.excepthook = excepthook
    threading.excepthook = thread_excepthook
    _ensure_notifier()


def dialogs_possible() -> bool:
    """A dialog is shown only when a QApplication exists on a real screen (not offscreen / minimal)."""
    if "PySide6.QtWidgets" not in sys.modules:
        return False
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    return app is not None and QGuiApplication.platformName() not in ("offscreen", "minimal")


def _ensure_notifier():
    """A QObject on the GUI thread that shows the dialog, so other threads can ask for one by a signal."""
    if _state["notifier"] is not None or "PySide6.QtWidgets" not in sys.modules:
        return _state["notifier"]
    from PySide6.QtCore import QThread
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None or QThread.currentThread() != app.thread():
        return None
    _state["notifier"] = _make_notifier(app)
    return _state["notifier"]


def _make_notifier(app):
    from PySide6.QtCore import QObject, Signal, Slot

    class ErrorNotifier(QObject):
        """Lives on the GUI thread; show() may be emitted from any thread."""

        show = Signal(str)

        def __init__(self) -> None:
            super().__init__()
            self.show.connect(self.on_show)

        @Slot(str)
        def on_show(self, message: str) -> None:
            _show_now(message)

    notifier = ErrorNotifier()
    notifier.moveToThread(app.thread())
    notifier.setParent(app)
    return notifier


def _show_dialog(message: str) -> None:
    if not dialogs_possible():
        return
    from PySide6.QtCore import QThread
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if QThread.currentThread() == app.thread():
        _show_now(message)
        return
    notifier = _state["notifier"]
    if notifier is not None:
        notifier.show.emit(message)


def _show_now(message: str) -> None:
    """A modal message box; one at a time, so an error repeated on every repaint does not stack dialogs."""
    if _state["showing"]:
        return
    from PySide6.QtWidgets import QMessageBox

    _state["showing"] = True
    try:
        QMessageBox.critical(None, "Adversarial Studio: unexpected error", message)
    finally:
        _state["showing"] = False
