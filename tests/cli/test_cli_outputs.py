"""Output paths are checked before any work starts, never renamed onto another file, and only regular files
are replaced; symlinked outputs are refused. Killed atomic writes leave no temporary files for long (issue 18)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time

import pytest

from advstudio.core.files import (
    DEAD_WRITER_AGE_S,
    STALE_TEMP_AGE_S,
    OutputRefused,
    atomic_write_text,
    check_output_file,
    remove_stale_temps,
)

TRAIN = ("--epochs", 1, "--no-curve", "--eval-limit", 10)


def _refused(rc: int, err: str, *needles: str, code: int = 1) -> None:
    assert rc == code, err
    assert "error:" in err and "Traceback" not in err, err
    for n in needles:
        assert n in err, err


def _untrained(out: str) -> None:
    assert "training on" not in out and "epoch 1" not in out, out  # refused before any training


def test_out_pointing_at_a_folder_is_refused_before_training(cli, tiny_mnist, tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    rc, out, err = cli("train", "--data", tiny_mnist, "--out", folder, *TRAIN)
    _refused(rc, err, "must end in .safetensors", code=2)
    (tmp_path / "models.safetensors").mkdir()
    rc, out, err = cli("train", "--data", tiny_mnist, "--out", tmp_path / "models.safetensors", *TRAIN)
    _refused(rc, err, "is a folder")
    _untrained(out)


def test_out_with_another_suffix_is_never_renamed_onto_an_existing_model(cli, tiny_mnist, tmp_path):
    model, sidecar = tmp_path / "model.safetensors", tmp_path / "model.json"
    model.write_bytes(b"the user's model")
    sidecar.write_text('{"architecture": "theirs"}')
    rc, out, err = cli("train", "--data", tiny_mnist, "--out", tmp_path / "model.v2", *TRAIN)
    _refused(rc, err, "model.v2", "model.v2.safetensors", code=2)
    _untrained(out)
    assert model.read_bytes() == b"the user's model" and sidecar.read_text() == '{"architecture": "theirs"}'
    assert not (tmp_path / "model.v2.safetensors").exists()


def test_out_naming_a_json_file_never_overwrites_it(cli, tiny_mnist, tmp_path):
    victim = tmp_path / "victim.json"
    victim.write_text('{"mine": true}')
    rc, out, err = cli("train", "--data", tiny_mnist, "--out", victim, *TRAIN)
    _refused(rc, err, "must end in .safetensors", code=2)
    assert victim.read_text() == '{"mine": true}'


def test_a_users_json_where_the_sidecar_goes_is_not_overwritten(cli, tiny_mnist, tmp_path):
    users = tmp_path / "digits.json"
    users.write_text('{"mine": true}')
    rc, out, err = cli("train", "--data", tiny_mnist, "--out", tmp_path / "digits.safetensors", *TRAIN)
    _refused(rc, err, "digits.json", "not the metadata of an Adversarial Studio model")
    _untrained(out)
    assert users.read_text() == '{"mine": true}' and not (tmp_path / "digits.safetensors").exists()


def test_retraining_over_our_own_model_and_sidecar_is_allowed(cli, tiny_mnist, tmp_path):
    out = tmp_path / "m.safetensors"
    for seed in (1, 2):
        rc, _, err = cli("train", "--data", tiny_mnist, "--out", out, "--seed", seed, *TRAIN)
        assert rc == 0, err
    assert json.loads(out.with_suffix(".json").read_text())["seed"] == 2


def test_symlinked_json_output_is_refused_and_left_a_link(cli, tiny_mnist, tmp_path):
    target = tmp_path / "real.json"
    target.write_text("keep")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    rc, out, err = cli("evaluate", "--data", tiny_mnist, "--json-out", link)
    _refused(rc, err, "symbolic link")
    assert "accuracy" not in out  # refused before the evaluation
    assert link.is_symlink() and target.read_text() == "keep"


@pytest.mark.timeout(30)
def test_fifo_as_json_output_is_refused_not_replaced(cli, tiny_mnist, tmp_path):
    fifo = tmp_path / "out.json"
    os.mkfifo(fifo)
    rc, _, err = cli("evaluate", "--data", tiny_mnist, "--json-out", fifo)
    _refused(rc, err, "not a regular file")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_device_nodes_are_refused_as_outputs_without_writing():
    with pytest.raises(OutputRefused, match="not a regular file"):
        check_output_file("/dev/null")
    with pytest.raises(OutputRefused, match="not a regular file"):
        atomic_write_text("/dev/null", "never written")
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)


def test_checkpoint_and_out_must_be_different_files(cli, tiny_mnist, tmp_path):
    out = tmp_path / "m.safetensors"
    rc, out_text, err = cli("train", "--data", tiny_mnist, "--out", out, "--checkpoint", out, *TRAIN)
    _refused(rc, err, "two outputs")
    _untrained(out_text)


def test_output_inside_a_file_or_an_unwritable_folder_is_refused(cli, tiny_mnist, tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    rc, _, err = cli("evaluate", "--data", tiny_mnist, "--json-out", plain / "r.json")
    _refused(rc, err, "is a file, not a folder")
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            rc, _, err = cli("evaluate", "--data", tiny_mnist, "--json-out", locked / "r.json")
            _refused(rc, err, "no permission")
        finally:
            locked.chmod(0o700)


def test_json_output_never_overwrites_the_model_it_reads(cli, tiny_mnist, tmp_path):
    from advstudio.core.resources import bundled_model_path

    copy = tmp_path / "m.safetensors"
    copy.write_bytes(bundled_model_path().read_bytes())
    rc, _, err = cli("evaluate", "--data", tiny_mnist, "--model", copy, "--json-out", copy)
    _refused(rc, err, "also an input")
    assert copy.read_bytes() == bundled_model_path().read_bytes()


def test_attack_checks_its_png_outputs_first(cli, tmp_path):
    from PIL import Image

    img = tmp_path / "seven.png"
    Image.new("L", (28, 28), 255).save(img)
    outdir = tmp_path / "pngs"
    outdir.mkdir()
    (outdir / "seven_clean.png").mkdir()  # a folder where a PNG goes
    rc, out, err = cli("attack", img, "--out", outdir)
    _refused(rc, err, "seven_clean.png", "is a folder")
    assert not (outdir / "seven_adversarial.png").exists()
    rc, _, err = cli("attack", img, "--out", img)
    _refused(rc, err, "is not a folder")


# --- stale temporary files of killed atomic writes -----------------------------------------------------------


def _age(path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temps_are_removed_and_only_ours(tmp_path):
    target = tmp_path / "m.safetensors"
    old = tmp_path / f".m.safetensors.{os.getpid()}.abcd1234.tmp"  # ours, older than the limit
    old_style = tmp_path / ".m.safetensors.k2j4_x9q.tmp"  # an earlier version's name, old
    dead = tmp_path / f".m.safetensors.{_dead_pid()}.zzzz0000.tmp"  # its writer is gone
    live = tmp_path / f".m.safetensors.{os.getpid()}.live0000.tmp"  # a write in progress
    fresh_dead = tmp_path / f".m.safetensors.{_dead_pid()}.new00000.tmp"  # writer gone, but seconds old
    users = tmp_path / ".m.safetensors.my-notes.tmp"  # not our pattern
    other = tmp_path / f".other.safetensors.{os.getpid()}.abcd1234.tmp"  # another target's
    for p in (old, old_style, dead, live, fresh_dead, users, other):
        p.write_bytes(b"x")
    link = tmp_path / f".m.safetensors.{os.getpid()}.link0000.tmp"
    link.symlink_to(users)
    for p in (old, old_style, users, other):
        _age(p, STALE_TEMP_AGE_S + 60)
    _age(dead, DEAD_WRITER_AGE_S + 5)
    os.utime(link, (time.time() - STALE_TEMP_AGE_S - 60,) * 2, follow_symlinks=False)

    removed = remove_stale_temps(target)
    assert sorted(removed) == sorted([old, old_style, dead])
    for p in (live, fresh_dead, users, other, link):
        assert os.path.lexists(p), p


def test_the_next_run_removes_a_killed_writes_temp(cli, tiny_mnist, tmp_path):
    out = tmp_path / "m.safetensors"
    leftover = tmp_path / f".m.safetensors.{_dead_pid()}.abcdefgh.tmp"
    leftover.write_bytes(b"half a model")
    _age(leftover, DEAD_WRITER_AGE_S + 5)
    rc, _, err = cli("train", "--data", tiny_mnist, "--out", out, *TRAIN)
    assert rc == 0, err
    assert not leftover.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
