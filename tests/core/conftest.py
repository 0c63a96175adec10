"""Fixtures the core tests share: torchattacks (a test extra, skipped with the reason when absent) and the
bundled robust model."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def torchattacks():
    return pytest.importorskip(
        "torchattacks", reason="torchattacks (a test extra: pip install -c constraints.txt -e '.[test]') is needed "
        "for the cross-checks")


@pytest.fixture(scope="module")
def robust():
    from advstudio.core.resources import robust_model_path
    from advstudio.core.storage import load_model

    model, _ = load_model(robust_model_path())
    return model.eval()
