"""The report's first page (core/report/findings.py): the student's name and the date, then what they found (kept
attacks in one plain line each, the side-by-side verdict, the lesson's progress) before the appendix; and no
folder of any machine in its commands or model locations (core/report/paths.py)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from test_report import _attack, _session

from advstudio.core.report.findings import attack_line, compare_verdict, plain_date
from advstudio.core.report.page import APPENDIX, build_report_html
from advstudio.core.report.paths import scrub_paths

MACHINE_PATHS = ("/work/", "/home/", "/tmp/", "C:\\", "/Users/", "~/")


def _text(html: str) -> str:
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "data:…", html)


def _side(role: str, name: str, clean: int, adv: int | None, message: str | None = None) -> dict:
    return {"model": name, "role": role, "clean_label": clean, "adv_label": adv, "clean_conf": 0.99,
            "adv_conf": 0.9 if adv is not None else None, "message": message,
            "adversarial": np.zeros((28, 28), np.float32) if adv is not None else None}


def _findings(session: dict) -> dict:
    session["student"] = "<b>x</b> & co"
    session["compare"] = {"eps": 0.25, "method": "fgsm", "target": None, "image": np.zeros((28, 28), np.float32),
                          "sides": [_side("standard", "Std CNN", 7, 3), _side("robust", "Robust CNN", 7, 7)]}
    session["lesson"] = {"title": "First steps", "steps": [{"id": s, "title": f"Step <{s}>"} for s in "abcde"],
                         "done": ["a", "c"]}
    return session


@pytest.mark.parametrize(("text", "expected"), [
    ("advstudio train --data ../shared/mnist --init /work/artifacts/pgd/init.safetensors --out /tmp/r/x.pt",
     "advstudio train --data <MNIST folder> --init init.safetensors --out x.pt"),
    ("--data=/home/ada/mnist --model '/home/ada/My Models/m.safetensors'",
     "--data=<MNIST folder> --model m.safetensors"),
    (r"--init C:\Users\ada\m.pt --out D:/models/n.pt --x \\server\share\o.pt --y ~/p.pt",
     "--init m.pt --out n.pt --x o.pt --y p.pt"),
    ("step 2.5*eps/steps, ε/σ, 1/255, a / b", "step 2.5*eps/steps, ε/σ, 1/255, a / b"),  # no path: unchanged
    ("--out advstudio/resources/mnist_cnn.safetensors", "--out advstudio/resources/mnist_cnn.safetensors"),
])
def test_commands_keep_their_shape_without_machine_folders(text, expected):
    assert scrub_paths(text) == expected


def test_the_findings_come_first_with_the_name_escaped():
    html = build_report_html(_findings(_session()))
    text = _text(html)
    order = ["<h1>", "Student", "Date", "What I found", "Attacks I kept", "Attack 1: 3 → 8", "Attack 2: 7 → 2",
             "Side by side", "Lesson: 2 of 5 steps done", "Robustness curves", "Activation shifts", APPENDIX,
             "The models and their recipes", "The attacks' settings", "Attack 1 (ε = 0.284): the numbers"]
    at = [text.find(s) for s in order]
    assert -1 not in at and at == sorted(at), dict(zip(order, at))
    assert "<td>&lt;b&gt;x&lt;/b&gt; &amp; co</td>" in html and "<b>x</b>" not in html
    assert "1 January 2026" in text  # the date in words (local time: the day may differ only by the zone)
    assert "A 3 read as 8 at ε = 0.284 (pixel units)." in text and "A 7 read as 2 at ε = 0.137 (pixel units)." in text
    assert "The robust model “Robust CNN” held at ε = 0.25 (pixel units); the standard model “Std CNN” was fooled." \
        in text
    assert "the standard model “Std CNN” was fooled: the 7 read as 3 (90%)" in text
    assert "✓ step 1: Step &lt;a&gt;" in text and "✓ step 3: Step &lt;c&gt;" in text and "Step &lt;b&gt;" not in text
    assert html.count('class="images"') == 3  # two kept attacks, one side-by-side row
    assert "on “Test CNN”" not in text  # one model: no need to name it in every line
    two = _findings(_session())
    two["attacks"][1]["model"] = "Robust CNN"
    text = _text(build_report_html(two))
    assert "A 3 read as 8 at ε = 0.284 (pixel units) on “Test CNN”." in text
    assert "A 7 read as 2 at ε = 0.137 (pixel units) on “Robust CNN”." in text


def test_no_machine_path_reaches_the_report():
    s = _findings(_session())
    model = s["models"][0]
    model["path"] = "/home/ada/models/mine.safetensors"
    model["meta"]["command"] = ("advstudio train --data /home/ada/mnist --init /work/artifacts/a.safetensors "
                                r"--out C:\Users\ada\b.safetensors --checkpoint /tmp/c.ckpt")
    model["meta"]["recipe"]["init"] = "/work/artifacts/a.safetensors"
    model["meta"]["reproduce"] = ["advstudio train --data ../shared/mnist --out /tmp/robust/x.safetensors"]
    for raster in (False, True):
        text = _text(build_report_html(s, raster=raster))
        for bad in MACHINE_PATHS + ("../shared",):
            assert bad not in text, bad
        assert "<td>mine.safetensors</td>" in text and "--init a.safetensors" in text
        assert "--out b.safetensors" in text and "--data &lt;MNIST folder&gt;" in text and "x.safetensors" in text


def test_the_plain_lines_and_verdicts():
    held = _attack(3, 0.05, 4, 4)
    assert attack_line(held) == "a 4 still read as 4 at ε = 0.05 (pixel units): not fooled"
    assert attack_line(held, name_model=True) == "a 4 still read as 4 at ε = 0.05 (pixel units) on “Test CNN”: not fooled"
    aimed = dict(_attack(4, 0.2, 1, 7), method="fgsm-targeted", target=7)
    assert attack_line(aimed) == "a 1 read as 7 at ε = 0.2 (pixel units) with targeted FGSM, aimed at 7"
    cw = dict(_attack(5, 0.1, 9, 4), eps=None, attack_title="C&W", method="cw", target=None)
    assert attack_line(cw) == "a 9 read as 4 by C&W"
    untargeted_with_form_target = dict(_attack(6, 0.1, 2, 5), target=8)  # the form's target, not aimed at
    assert attack_line(untargeted_with_form_target) == "a 2 read as 5 at ε = 0.1 (pixel units)"
    both = {"eps": 0.1, "sides": [_side("standard", "A", 1, 1), _side("robust", "B", 1, 1)]}
    assert compare_verdict(both) == "Both models held at ε = 0.1 (pixel units)."
    lost = {"eps": 0.4, "sides": [_side("standard", "A", 1, 2), _side("robust", "B", 1, 2)]}
    assert compare_verdict(lost) == "Both models were fooled at ε = 0.4 (pixel units)."
    one = {"eps": 0.3, "sides": [_side("standard", "A", 1, 2), _side("robust", "B", 1, None, "not installed")]}
    assert compare_verdict(one) == "The standard model “A” was fooled at ε = 0.3 (pixel units)."
    assert plain_date("not a date") == "not a date"


def test_an_empty_session_says_no_name_and_what_is_missing():
    text = _text(build_report_html({}))
    assert "<td>(no name)</td>" in text and "No attack was kept" in text
    assert "Side by side tab was not used" in text and "No guided lesson was loaded" in text
    assert text.find("What I found") < text.find(APPENDIX) < text.find("No model was loaded")
    unfollowed = build_report_html({"lesson": {"title": "L", "steps": [{"id": "a", "title": "A"}], "done": []}})
    assert "Lesson: 0 of 1 steps done" in unfollowed and "was not followed" in unfollowed
