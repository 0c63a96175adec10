"""An ONNX classifier in the window: the bundled CNN exported to ONNX opens like a model file, reads the drawing as
the torch model does, is attacked, shows its activations, and is explained (saliency and Grad-CAM through the ONNX
graph); a hostile ONNX file is refused with its message and the model in use stays."""

from __future__ import annotations

import numpy as np
import pytest

from advstudio.gui.demo import digit_strokes


@pytest.fixture
def onnx_file(tmp_path):
    from advstudio.core.onnx import export_onnx
    from advstudio.core.resources import bundled_model_path
    from advstudio.core.storage import load_model

    model, meta = load_model(bundled_model_path())
    return export_onnx(model, tmp_path / "cnn.onnx", {**meta, "name": "the CNN as ONNX"})


def test_an_onnx_model_works_everywhere_in_the_window(make_window, qtbot, onnx_file):
    w = make_window()
    w.ctx.request_strokes(digit_strokes(3))
    qtbot.waitUntil(lambda: w.ctx.analysis is not None, timeout=20000)
    torch_probs = np.array(w.ctx.analysis.prediction.probs)
    with qtbot.waitSignal(w.ctx.modelReady, timeout=30000) as blocker:
        w.studio.open_model(str(onnx_file))
    info = blocker.args[0]
    assert info.name == "the CNN as ONNX" and info.meta["architecture"] == "ONNX"
    assert info.meta["input_range"] == "0-1" and info.meta["outputs"] == "logits"
    qtbot.waitUntil(lambda: w.ctx.analysis is not None and w.ctx.model_info is info, timeout=20000)
    w.ctx.request_eps(0.3)
    qtbot.waitUntil(lambda: abs(w.ctx.analysis.attack.eps - 0.3) < 1e-9, timeout=20000)
    a = w.ctx.analysis
    np.testing.assert_allclose(a.prediction.probs, torch_probs, atol=1e-5)  # the same network, read from ONNX
    assert np.abs(a.attack.perturbation).max() == pytest.approx(0.3, abs=1e-6)  # its gradient exists
    with qtbot.waitSignal(w.explain.attributionShown, timeout=30000) as shown:
        w.show_tab("explain")
    row = shown.args[0].rows[0]
    assert row.model_name == "the CNN as ONNX" and row.maps.max() > 0
    page = w.explain.panel.attribution
    with qtbot.waitSignal(w.explain.attributionShown, timeout=30000) as shown:
        page.method.setCurrentIndex(page.method.findData("gradcam"))
    assert shown.args[0].rows[0].maps.max() > 0  # Grad-CAM through the graph's last Conv and its ReLU
    from advstudio.core.explain.attribution import gradcam_layer
    from advstudio.core.storage import load_model

    assert gradcam_layer(load_model(onnx_file)[0])[0].startswith("layers.relu")
    w.show_tab("attack")
    w.show_dock("activations")
    qtbot.waitUntil(lambda: w.activations.data is not None, timeout=30000)
    assert len(w.activations.data.comparison.shifts) == 3  # the three ReLUs of the graph


def test_a_hostile_onnx_file_is_refused_and_the_model_stays(make_window, qtbot, tmp_path, onnx_file):
    errors = []
    w = make_window(report_error=lambda title, message: errors.append(message))
    before = w.ctx.model_info
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(onnx_file.read_bytes()[:5000])
    w.studio.open_model(str(bad))
    qtbot.waitUntil(lambda: bool(errors), timeout=20000)
    assert "broken.onnx" in errors[-1]
    assert w.ctx.model_info is before


def test_the_file_menu_says_what_onnx_files_expect(make_window, qtbot, onnx_file, settings):
    w = make_window()
    with qtbot.waitSignal(w.ctx.modelReady, timeout=30000):
        w.studio.open_model(str(onnx_file))
    assert w.ctx.model_info.meta["input_range"] == "0-1"  # what the file says
    acts = w.actions_.onnx
    assert acts["input_range:file"].isChecked()
    with qtbot.waitSignal(w.ctx.modelReady, timeout=30000) as blocker:
        acts["input_range:mnist"].trigger()  # the model in use is opened again, normalized first
    assert blocker.args[0].meta["input_range"] == "mnist-normalized"
    assert settings.value("model/onnx_input") == "mnist"
    w2 = make_window()  # remembered: a new window opens ONNX files the same way
    assert w2.actions_.onnx["input_range:mnist"].isChecked()
