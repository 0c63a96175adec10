"""The worker's mailbox on its own: newest request of a kind wins, higher priority runs first, stale answers are
dropped unless the handle keeps them, interactive kinds are served inside long jobs, failures are typed.

The worker's own thread never starts here: the test drains the mailbox itself, so the order is deterministic
and every signal is delivered synchronously."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QThread

from advstudio.core.errors import DatasetError, ModelFileError
from advstudio.gui.worker import JobHandle, Worker


class Record:
    def __init__(self, handle: JobHandle) -> None:
        self.finished, self.failed, self.progressed = [], [], []
        handle.finished.connect(lambda r: self.finished.append(r.value))
        handle.failed.connect(self.failed.append)
        handle.progressed.connect(lambda r: self.progressed.append(r.value))


@pytest.fixture
def worker(qapp):
    """A worker living in a thread that never starts: its wake-up never fires, the test drains by hand."""
    w = Worker()
    thread = QThread()
    w.moveToThread(thread)
    yield w
    w.cancel_event.set()


def test_the_newest_request_of_a_kind_replaces_the_waiting_ones(worker):
    ran = []
    worker.register("echo", lambda ctx, p: ran.append(p) or p)
    handles = [worker.submit("echo", i) for i in range(5)]
    records = [Record(h) for h in handles]
    worker.drain()
    assert ran == [4]  # one run, with the newest payload: no queue builds up
    assert [r.finished for r in records] == [[], [], [], [], [4]]
    assert [h.generation for h in handles] == sorted({h.generation for h in handles})


def test_higher_priority_runs_first_and_ties_keep_their_order(worker):
    order = []
    worker.register("low", lambda ctx, p: order.append("low"), priority=0)
    worker.register("high", lambda ctx, p: order.append("high"), priority=10)
    worker.register("high2", lambda ctx, p: order.append("high2"), priority=10)
    worker.submit("low")
    worker.submit("high2")
    worker.submit("high")
    worker.drain()
    assert order == ["high2", "high", "low"]


@pytest.mark.parametrize("keep_stale", [False, True])
def test_an_answer_overtaken_by_a_newer_request_is_dropped_unless_kept(worker, keep_stale):
    newer = []

    def slow(ctx, payload):
        if payload == "first":
            assert not ctx.superseded()
            newer.append(Record(worker.submit("job", "second", keep_stale=keep_stale)))  # the user moved on
            assert ctx.superseded() and ctx.should_stop()
        return payload

    worker.register("job", slow)
    first = Record(worker.submit("job", "first", keep_stale=keep_stale))
    worker.drain()  # runs "first" (answered while "second" waits), then "second"
    assert first.finished == (["first"] if keep_stale else [])
    assert newer[0].finished == ["second"]


def test_forget_drops_what_is_on_its_way(worker):
    worker.register("job", lambda ctx, p: p)
    handle = worker.submit("job", 1)
    rec = Record(handle)
    handle.forget()
    worker.drain()
    assert rec.finished == [] and rec.failed == []


def test_interactive_requests_are_answered_between_the_batches_of_a_long_job(worker):
    order = []

    def long_job(ctx, _):
        for batch in range(3):
            order.append(f"batch {batch}")
            ctx.progress(batch)
            if batch == 0:
                worker.submit("draw", "stroke")
            ctx.serve_interactive()
        return "trained"

    worker.register("train", long_job, priority=1)
    worker.register("draw", lambda ctx, p: order.append(p) or p, priority=20, interactive=True)
    rec = Record(worker.submit("train"))
    worker.drain()
    assert order == ["batch 0", "stroke", "batch 1", "batch 2"]
    assert rec.progressed == [0, 1, 2] and rec.finished == ["trained"]


@pytest.mark.parametrize(("exc", "kind"), [
    (DatasetError("No MNIST folder is set."), "dataset"),
    (ModelFileError("bad.safetensors: not a safetensors file"), "model_file"),
    (ValueError("cannot reshape array of size 25"), "internal"),
])
def test_failures_carry_a_typed_error_and_a_readable_message(worker, exc, kind):
    def fail(ctx, p):
        raise exc

    worker.register("job", fail)
    rec = Record(worker.submit("job"))
    worker.drain()
    assert rec.finished == [] and len(rec.failed) == 1
    failure = rec.failed[0]
    assert failure.error == kind and failure.kind == "job"
    assert str(exc) in failure.message
    if kind == "internal":  # an unexpected error names its type and where it happened
        assert failure.message.startswith("ValueError") and "line" in failure.message


def test_nothing_is_delivered_after_cancel(worker):
    worker.register("job", lambda ctx, p: p)
    rec = Record(worker.submit("job", 1))
    worker.cancel_event.set()
    worker.drain()
    assert rec.finished == []


def test_submitting_an_unknown_kind_fails_loudly(worker):
    with pytest.raises(KeyError):
        worker.submit("nope")
