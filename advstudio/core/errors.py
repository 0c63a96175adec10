"""The errors the core raises, under one base class, each with a `kind` that says who should hear about it.

The window's worker turns any exception into a typed failure by this `kind` (a missing dataset offers the
"Choose MNIST folder…" button, a bad model file keeps the current model, a cancelled job is not an error), and
the CLI prints the message of any `AdvStudioError` as one line. The messages are written for the user: they
say which file and what is wrong."""

from __future__ import annotations


class AdvStudioError(Exception):
    """Base of every error the core raises on purpose; `kind` is one of KINDS."""

    kind = "internal"


KINDS = ("dataset", "model_file", "input", "cancelled", "internal")


class DatasetError(AdvStudioError):
    """MNIST (or another IDX dataset) is missing or unreadable; the message names the file, the problem and how
    to get the data."""

    kind = "dataset"


class ModelFileError(AdvStudioError):
    """A model file that cannot be used; the message says which file and why."""

    kind = "model_file"


class InputImageError(AdvStudioError, ValueError):
    """An image that cannot be turned into a digit (unreadable file, or no ink)."""

    kind = "input"


class LessonError(AdvStudioError, ValueError):
    """A lesson file that cannot be used; the message names the file, the step and the field."""

    kind = "input"


class SettingsError(AdvStudioError, ValueError):
    """A settings file that cannot be used (not a regular file, too large, too deeply nested, not JSON of the
    right shape); the app moves it aside and starts with defaults."""

    kind = "input"


class Cancelled(AdvStudioError):
    """Long work stopped because its cancel event was set (checked between batches or steps)."""

    kind = "cancelled"


class AttackCancelled(Cancelled):
    """An attack stopped between two of its steps."""


class EvaluationCancelled(Cancelled):
    """A robustness curve or evaluation stopped between batches."""


class TrainingCancelled(Cancelled):
    """The training generator stopped between batches."""


class ActivationsCancelled(Cancelled):
    """An activation-statistics pass stopped between batches."""


class DetectionCancelled(Cancelled):
    """Fitting or evaluating the detector stopped between batches."""


def error_kind(exc: BaseException) -> str:
    """The failure kind of any exception: its own for ours, "internal" for anything else."""
    return exc.kind if isinstance(exc, AdvStudioError) else "internal"
