"""Where a student is in a lesson, kept in the app's settings per lesson file (core/lesson.py reads the stored
values back, forgiving anything broken), so the lesson resumes there after a restart."""

from __future__ import annotations

from PySide6.QtCore import QSettings

from advstudio.core.lesson import PROGRESS_GROUP, Lesson, LessonProgress, progress_key, progress_values, read_progress


def _group(lesson: Lesson) -> str:
    return f"{PROGRESS_GROUP}/{progress_key(lesson)}"


def load_progress(settings: QSettings, lesson: Lesson) -> LessonProgress:
    group = _group(lesson)
    return read_progress(lesson, settings.value(f"{group}/step", 1), settings.value(f"{group}/done", ""))


def store_progress(settings: QSettings, lesson: Lesson, index: int, done: set[str]) -> None:
    step, ids = progress_values(lesson, LessonProgress(index, frozenset(done)))
    settings.setValue(f"{_group(lesson)}/step", step)
    settings.setValue(f"{_group(lesson)}/done", ids)
