"""The file log, the excepthooks, and a windowed build's missing stdout/stderr (advstudio.applog)."""

from __future__ import annotations

import logging
import sys
import threading

import pytest

from advstudio import applog


@pytest.fixture
def logdir(tmp_path, monkeypatch):
    """Logging set up into a temporary folder; hooks, streams and handlers restored afterwards."""
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    monkeypatch.setattr(sys, "stdout", sys.stdout)
    monkeypatch.setattr(sys, "stderr", sys.stderr)
    root_level = logging.getLogger().level
    yield tmp_path
    applog.shutdown_logging()
    logging.captureWarnings(False)
    logging.getLogger().setLevel(root_level)


def _read(path) -> str:
    for h in logging.getLogger().handlers:
        h.flush()
    return path.read_text(encoding="utf-8")


def test_log_file_is_written_in_the_given_folder(logdir):
    path = applog.setup_logging(folder=logdir, crash_file=False)
    assert path == logdir / applog.LOG_FILE
    assert applog.log_path() == path
    logging.getLogger("advstudio.test").info("hello from the test")
    text = _read(path)
    assert "hello from the test" in text
    assert "starting" in text  # the start-up line names version, python and the log file


def test_log_dir_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(applog.ENV_LOG_DIR, str(tmp_path / "logs"))
    assert applog.log_dir() == tmp_path / "logs"


def test_default_log_dir_is_the_users_log_folder(monkeypatch):
    from platformdirs import user_log_dir

    monkeypatch.delenv(applog.ENV_LOG_DIR, raising=False)
    assert str(applog.log_dir()) == user_log_dir("advstudio", appauthor=False)


def test_log_rotates(logdir, monkeypatch):
    monkeypatch.setattr(applog, "MAX_BYTES", 2_000)
    path = applog.setup_logging(folder=logdir, crash_file=False)
    for i in range(200):
        logging.getLogger("advstudio.test").info("line %d %s", i, "x" * 40)
    _read(path)
    backups = sorted(p.name for p in logdir.iterdir() if p.name.startswith(applog.LOG_FILE + "."))
    assert backups == [f"{applog.LOG_FILE}.{i}" for i in range(1, applog.BACKUPS + 1)]
    assert path.stat().st_size <= 2_000


def test_excepthook_logs_the_traceback(logdir):
    path = applog.setup_logging(folder=logdir, crash_file=False)
    applog.install_excepthook()
    assert sys.excepthook is applog.excepthook
    try:
        raise RuntimeError("boom in the main thread")
    except RuntimeError:
        sys.excepthook(*sys.exc_info())
    text = _read(path)
    assert "Unhandled exception" in text
    assert "Traceback (most recent call last)" in text
    assert "RuntimeError: boom in the main thread" in text
    assert "test_excepthook_logs_the_traceback" in text  # the frame, not only the message


def test_thread_excepthook_logs_the_traceback(logdir):
    path = applog.setup_logging(folder=logdir, crash_file=False)
    applog.install_excepthook()

    def fail():
        raise ValueError("boom in a thread")

    t = threading.Thread(target=fail, name="failing-thread")
    t.start()
    t.join()
    text = _read(path)
    assert "Unhandled exception in thread failing-thread" in text
    assert "ValueError: boom in a thread" in text


def test_no_crash_when_stdout_and_stderr_are_none(logdir, monkeypatch):
    """A windowed build starts with sys.stdout = sys.stderr = None; printing and errors must still work."""
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)
    path = applog.setup_logging(folder=logdir, crash_file=False)
    assert sys.stdout is not None and sys.stderr is not None
    print("printed with no console")
    sys.stdout.flush()
    sys.stderr.write("written to a missing stderr\n")
    import warnings

    warnings.warn("a warning with no console", UserWarning, stacklevel=1)
    applog.install_excepthook()
    try:
        raise KeyError("no console")
    except KeyError:
        sys.excepthook(*sys.exc_info())
    text = _read(path)
    assert "printed with no console" in text
    assert "written to a missing stderr" in text
    assert "a warning with no console" in text
    assert "KeyError: 'no console'" in text


def test_error_message_names_the_log_file(logdir):
    path = applog.setup_logging(folder=logdir, crash_file=False)
    message = applog.error_message(ZeroDivisionError("division by zero"))
    assert "ZeroDivisionError: division by zero" in message
    assert str(path) in message


def test_dialog_is_shown_with_the_log_path_when_a_window_could_show_it(logdir, monkeypatch, qapp):
    path = applog.setup_logging(folder=logdir, crash_file=False)
    shown = []
    monkeypatch.setattr(applog, "dialogs_possible", lambda: True)
    monkeypatch.setattr(applog, "_show_now", shown.append)
    try:
        raise OSError("disk on fire")
    except OSError:
        applog.excepthook(*sys.exc_info())
    assert len(shown) == 1
    assert "OSError: disk on fire" in shown[0] and str(path) in shown[0]


def test_dialog_requested_from_a_worker_thread_is_shown_on_the_gui_thread(logdir, monkeypatch, qapp, qtbot):
    from PySide6.QtCore import QThread

    applog.setup_logging(folder=logdir, crash_file=False)
    monkeypatch.setattr(applog, "_state", {**applog._state, "notifier": None})
    applog.install_excepthook()
    shown = []
    monkeypatch.setattr(applog, "dialogs_possible", lambda: True)
    monkeypatch.setattr(applog, "_show_now", lambda m: shown.append((m, QThread.currentThread() == qapp.thread())))

    def fail():
        raise RuntimeError("boom in the worker")

    t = threading.Thread(target=fail)
    t.start()
    t.join()
    qtbot.waitUntil(lambda: bool(shown), timeout=2000)
    message, on_gui_thread = shown[0]
    assert "RuntimeError: boom in the worker" in message and on_gui_thread


def test_no_dialog_offscreen(logdir, qapp):
    """Offscreen (tests, --self-test) a modal dialog would block forever: errors are only logged."""
    assert not applog.dialogs_possible()


def test_missing_streams_before_logging_is_set_up_do_not_loop(monkeypatch):
    """With no handler anywhere, logging falls back to sys.stderr, which is then the log stream itself."""
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", logging.WARNING)

    class LastResort(logging.StreamHandler):
        """logging's own last resort (it writes to whatever sys.stderr is at the time), recording each message."""

        def __init__(self) -> None:
            super().__init__()
            self.messages: list[str] = []

        @property
        def stream(self):
            return sys.stderr

        @stream.setter
        def stream(self, _value) -> None:
            pass

        def emit(self, record: logging.LogRecord) -> None:
            self.messages.append(record.getMessage())
            super().emit(record)

    last = LastResort()
    last.setLevel(logging.WARNING)
    monkeypatch.setattr(logging, "lastResort", last)
    applog.ensure_std_streams()
    assert (sys.stdout.name, sys.stderr.name) == ("<stdout>", "<stderr>")
    assert not sys.stdout.isatty() and sys.stderr.writable()
    print("no handler yet")  # INFO: below the root's level, dropped quietly
    assert sys.stderr.write("to a stream that logs\n") == len("to a stream that logs\n")
    logging.getLogger("advstudio.test").warning("a warning with nowhere to go")
    # each message reaches the last resort, which writes it to sys.stderr, the log stream: it is logged once more
    # from there, and that second write, already inside the stream, stops instead of going round again
    assert last.messages == ["to a stream that logs", "a warning with nowhere to go", "a warning with nowhere to go"]
