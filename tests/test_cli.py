"""The nst command: a real run, one-line errors, and no overwrite without --force."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from nstutils.cli import main


def run_nst(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "nstutils.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


@pytest.fixture
def image_files(tmp_path, tiny_content, tiny_style):
    content, style = tmp_path / "content.png", tmp_path / "style.png"
    Image.fromarray((tiny_content[0] * 255).astype(np.uint8)).save(content)
    Image.fromarray((tiny_style[0] * 255).astype(np.uint8)).save(style)
    return content, style


def test_stylize_writes_the_result_and_refuses_to_overwrite(image_files, tmp_path):
    content, style = image_files
    out = tmp_path / "out.jpg"
    done = run_nst("stylize", content, style, "-o", out, "--size", 64, "--steps", 3, "--quiet")
    assert done.returncode == 0, done.stderr
    assert Image.open(out).size == (64, 48)
    before = out.read_bytes()
    again = run_nst("stylize", content, style, "-o", out, "--size", 64, "--steps", 3, "--quiet")
    assert again.returncode != 0
    assert "already exists" in again.stderr and "--force" in again.stderr
    assert "Traceback" not in again.stderr
    assert out.read_bytes() == before
    forced = run_nst("stylize", content, style, "-o", out, "--size", 64, "--steps", 3, "--quiet", "--force")
    assert forced.returncode == 0, forced.stderr


@pytest.mark.parametrize("args, message", [
    (["missing.jpg", "{style}", "-o", "{out}"], "no such file"),
    (["{content}", "{style}", "-o", "{out}", "--style-weight", "-5"], "style_weight"),
    (["{content}", "{style}", "-o", "{out}", "--steps", "0"], "steps"),
    (["{content}", "{style}", "-o", "{out}", "--optimizer", "sgd"], "unknown optimizer"),
    (["{content}", "{style}", "-o", "{out}", "--style-layers", "conv1_1,conv6_1"], "unknown VGG19 layer"),
    (["{content}", "{style}", "-o", "{out_xyz}"], "extension"),
])
def test_bad_input_gives_one_line(image_files, tmp_path, capsys, args, message):
    content, style = image_files
    values = {"content": content, "style": style, "out": tmp_path / "out.jpg", "out_xyz": tmp_path / "out.xyz"}
    code = main(["stylize", *[a.format(**values) for a in args], "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and err.startswith("nst: error:")
    assert not (tmp_path / "out.jpg").exists()


def test_images_lists_the_registry(capsys):
    assert main(["images"]) == 0
    out = capsys.readouterr().out
    assert "starry_night" in out and "Vincent van Gogh" in out and "astronaut" in out


def test_preserve_color_and_previews(image_files, tmp_path, capsys):
    from nstutils.color import rgb_to_yiq
    from nstutils.images import load_image

    content, style = image_files
    plain, kept = tmp_path / "plain.png", tmp_path / "kept.png"
    common = [str(content), str(style), "--size", "64", "--steps", "4", "--optimizer", "adam", "--quiet"]
    assert main(["stylize", *common, "-o", str(plain), "--preview-every", "2"]) == 0
    assert sorted(p.name for p in tmp_path.glob("plain-step*.png")) == ["plain-step0002.png", "plain-step0004.png"]
    assert main(["stylize", *common, "-o", str(kept), "--preserve-color"]) == 0
    chroma = lambda path: rgb_to_yiq(load_image(path)[0])[..., 1:]
    photo = chroma(content)
    assert np.abs(chroma(kept) - photo).mean() < np.abs(chroma(plain) - photo).mean()
    assert "GiB of memory" in capsys.readouterr().err  # the estimate is printed before the run


def test_a_diverging_run_saves_the_best_image_and_says_so_in_one_line(image_files, tmp_path, capsys):
    content, style = image_files
    out = tmp_path / "diverged.png"
    code = main(["stylize", str(content), str(style), "-o", str(out), "--size", "48", "--steps", "3",
                 "--style-weight", "1e37", "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and out.exists()
    errors = [line for line in err.splitlines() if line.startswith("nst: error:")]
    assert len(errors) == 1 and "diverged" in errors[0] and "best image so far" in errors[0]
    assert "Lower the style/content weights" in errors[0] and "Traceback" not in err


@pytest.mark.parametrize("flag", ["--preview-every", "--checkpoint-every", "--steps", "--seed"])
def test_negative_counts_are_refused_in_one_line(image_files, tmp_path, capsys, flag):
    content, style = image_files
    code = main(["stylize", str(content), str(style), "-o", str(tmp_path / "out.jpg"), flag, "-2", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("nst: error:") and flag in err
    assert "whole number ≥" in err


def test_options_are_built_from_the_settings_field_specs():
    from nstutils.cli import build_parser
    from nstutils.settings import OBJECTIVE_FIELDS, RUN_FIELDS, field_spec

    stylize = build_parser()._subparsers._group_actions[0].choices["stylize"]
    actions = {action.dest: action for action in stylize._actions}
    for name in OBJECTIVE_FIELDS + RUN_FIELDS:
        spec = field_spec(name)
        assert spec.help in actions[name].help
        assert tuple(actions[name].choices or ()) == spec.choices
    assert tuple(actions["optimizer"].choices) == ("lbfgs", "adam", "gd")


def test_the_notebook_tools_are_not_an_nst_command(capsys):
    assert main(["notebooks", "check", "notebooks"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_a_preview_that_cannot_be_written_is_one_line_and_the_run_goes_on(image_files, tmp_path, capsys):
    content, style = image_files
    out = tmp_path / "out.png"
    (tmp_path / "out-step0002.png").mkdir()  # a folder where the first preview would go
    code = main(["stylize", str(content), str(style), "-o", str(out), "--size", "48", "--steps", "4",
                 "--optimizer", "adam", "--quiet", "--preview-every", "2"])
    err = capsys.readouterr().err
    assert code == 0 and Image.open(out).size == (48, 36), err
    lines = [line for line in err.splitlines() if "preview" in line]
    assert len(lines) == 1 and lines[0].startswith("nst: could not write the preview at step 2 (could not write ")
    assert "no more previews in this run, which goes on" in lines[0] and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["content.png", "out-step0002.png", "out.png", "style.png"]


def test_a_broken_progress_display_keeps_the_picture(image_files, tmp_path, capsys, monkeypatch):
    from nstutils import terminal

    def closed_terminal(self, progress):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(terminal.RunReporter, "_show", closed_terminal)
    content, style = image_files
    out = tmp_path / "out.png"
    code = main(["stylize", str(content), str(style), "-o", str(out), "--size", "48", "--steps", "4",
                 "--optimizer", "adam"])
    err = capsys.readouterr().err
    assert code == 1 and Image.open(out).size == (48, 36) and "Traceback" not in err
    assert err.strip().splitlines()[-1] == (f"nst: error: the progress display failed at step 1 (Input/output "
                                            f"error); the best image so far is in {out}")


@pytest.mark.parametrize("signum, status, name", [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "Ctrl-C")])
def test_a_stop_signal_during_start_up_is_one_line(tmp_path, capsys, monkeypatch, signum, status, name):
    from nstutils import cli

    def signalled(settings):  # the signal arrives while the cache is checked, before any step
        os.kill(os.getpid(), signum)
        time.sleep(5)  # the handler runs here
        raise AssertionError("the signal did not stop the start-up")

    monkeypatch.setattr(cli, "_check_cache", signalled)
    before = signal.getsignal(signum)
    code = main(["stylize", "astronaut", "coffee", "-o", str(tmp_path / "out.png"), "--size", "32", "--quiet"])
    err = capsys.readouterr().err
    assert code == status and signal.getsignal(signum) is before  # the handlers are put back
    assert err == f"nst: stopped by {name} during start-up, before the first step: no picture was written\n"
    assert list(tmp_path.iterdir()) == []
