"""What ``nst audio CONTENT STYLE -o OUT.wav`` does (``08_audio``): check everything before the first step,
say how long it will take (timed on this machine), show a progress bar, obey Ctrl-C/SIGTERM/SIGHUP by
keeping the best sound so far, and write the WAV atomically.

:mod:`nstutils.cli` parses the options and calls :func:`check_audio_command` (no TensorFlow needed)
then :func:`run_audio_command`.
"""

from __future__ import annotations

import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Tuple

import numpy as np

from .audio import SAMPLE_RATE, AudioError, check_wav_output, check_wave, write_wav
from .audio_style import (AudioSettings, PreparedAudio, audio_run_settings, default_griffin_lim_iterations,
                          finish_audio, prepare_audio)
from .cost import EVALUATIONS_PER_STEP, CostEstimate, PaceWatch
from .errors import NSTError
from .sounds import load_sound
from .terminal import STOP_SIGNALS, CtrlC

#: The projected L-BFGS's memory (pairs of float32 vectors of the spectrogram's size, ``minimize_lbfgs``'s
#: default) and the other such vectors it keeps (point, gradient, trial, direction, best, …).
LBFGS_HISTORY = 20
LBFGS_VECTORS = 8


@dataclass
class AudioCommand:
    """The checked inputs of one ``nst audio`` run."""

    output: Path
    content: np.ndarray
    style: np.ndarray
    settings: AudioSettings
    steps: int
    iterations: int


def check_audio_command(args: Any) -> AudioCommand:
    """Everything that can be refused before TensorFlow starts: the output, the options, both sounds (one
    :class:`~nstutils.errors.NSTError` line each)."""
    output = check_wav_output(args.output, overwrite=args.force)
    settings = AudioSettings(**{name: value for name in ("content_weight", "style_weight", "filters")
                                if (value := getattr(args, name)) is not None}).validated()
    content = check_wave(load_sound(args.content), f"the content {args.content}")
    style = check_wave(load_sound(args.style), f"the style {args.style}")
    steps = audio_run_settings(args.steps).steps
    iterations = default_griffin_lim_iterations() if args.griffin_lim is None else args.griffin_lim
    return AudioCommand(output, content, style, settings, steps, iterations)


def peak_memory_so_far() -> float:
    """This process's largest resident memory so far, in bytes (Linux reports KiB, macOS bytes; 0 where the
    system does not say, as on Windows)."""
    try:
        import resource
    except ImportError:
        return 0.0
    peak = float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return peak if sys.platform == "darwin" else peak * 1024


def estimate_transfer(prepared: PreparedAudio, steps: int, iterations: int) -> Tuple[CostEstimate, float]:
    """``(estimate, seconds per step)`` of a transfer, from two loss+gradient evaluations timed here (after one
    that traces the graph): the steps at that pace, Griffin–Lim's iterations (each about an evaluation's
    STFT work, counted as a tenth of one), and the memory used so far plus what L-BFGS will keep."""
    objective, start = prepared.objective, prepared.start
    objective.value_and_gradient(start)
    began = time.perf_counter()
    for _ in range(2):
        objective.value_and_gradient(start)
    per_step = (time.perf_counter() - began) / 2 * EVALUATIONS_PER_STEP["lbfgs"]
    lbfgs_bytes = (2 * LBFGS_HISTORY + LBFGS_VECTORS) * start.size * 4
    seconds = per_step * steps + 0.1 * per_step * iterations
    return CostEstimate(seconds=seconds, peak_bytes=peak_memory_so_far() + lbfgs_bytes), per_step


def describe_transfer(command: AudioCommand, prepared: PreparedAudio, estimate: CostEstimate) -> str:
    """The line said before the run: the work and its estimate."""
    frames, bins = prepared.start.shape[1:]
    return (f"{command.steps} L-BFGS steps on {command.content.size / SAMPLE_RATE:.1f} s of sound ({frames} frames × "
            f"{bins} bins, {command.settings.filters} random filters), then {command.iterations} Griffin–Lim "
            f"iterations: {estimate} (timed on this machine)")


class AudioProgress:
    """The run's callback: a progress bar with the loss, a re-estimate when the pace changes, and the stop
    asked by a signal."""

    def __init__(self, steps: int, per_step: float, interrupted: CtrlC, quiet: bool):
        self.interrupted = interrupted
        self.pace = PaceWatch(per_step, lambda step: steps - step)
        self.bar = None
        if not quiet:
            from tqdm import tqdm

            self.bar = tqdm(total=steps, unit="step", desc="audio", dynamic_ncols=True)

    def __call__(self, progress) -> bool:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix({"loss": f"{progress.losses['total']:.4g}"})
        revised = self.pace.observe(progress.step)
        if revised:
            (self.bar.write if self.bar is not None else print)(f"nst: {revised}", file=sys.stderr)
        return self.interrupted.count > 0

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_audio_command(args: Any, command: AudioCommand) -> int:
    """Prepare, estimate, run and write; the exit status (0, or 128 + the signal that stopped the run)."""
    from .run import run_optimizer

    prepared = prepare_audio(command.content, command.style, command.settings, init=args.init, seed=args.seed)
    estimate, per_step = estimate_transfer(prepared, command.steps, command.iterations)
    print(f"nst: {describe_transfer(command, prepared, estimate)}", file=sys.stderr, flush=True)
    interrupted = CtrlC()
    previous = {signum: signal.signal(signum, interrupted) for signum in STOP_SIGNALS}
    progress = None
    try:
        print("nst: running (Ctrl-C stops and keeps the best sound so far)", file=sys.stderr, flush=True)
        progress = AudioProgress(command.steps, per_step, interrupted, args.quiet)
        result = run_optimizer(prepared.objective, prepared.start, audio_run_settings(command.steps, args.seed),
                               callback=progress)
        progress.close()
        sound = finish_audio(prepared, result, command.iterations, args.phase, args.seed)
        target, why = write_wav_or_fallback(sound.wave, command.output, args.force)
    finally:
        if progress is not None:
            progress.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    how = (f"stopped by {interrupted.name} after {len(result.history)} steps: the best sound so far"
           if interrupted.count else result.message)
    status = interrupted.status if interrupted.count else 0
    if why:
        print(f"nst: error: could not write {command.output} ({why}); the sound ({how}) is in {target}",
              file=sys.stderr)
        return status or 1
    print(f"nst: wrote {target} ({how}; {result.seconds:.0f} s)")
    return status


def write_wav_or_fallback(wave: np.ndarray, path: Path, overwrite: bool) -> Tuple[Path, str]:
    """Write at ``path``, else in the working or the temp folder under a free name: ``(where, why not at path)``."""
    try:
        return write_wav(path, wave, overwrite=overwrite), ""
    except (OSError, AudioError) as error:  # a full disk, the folder gone, a file that appeared meanwhile
        reason = str(error) if isinstance(error, NSTError) else f"{type(error).__name__}: {error}"
    for folder in (Path.cwd(), Path(tempfile.gettempdir())):
        for index in range(1000):
            candidate = folder / f"{path.stem}{f'-{index}' if index else ''}.wav"
            if candidate != path and not candidate.exists():
                break
        try:
            return write_wav(candidate, wave), reason
        except (OSError, AudioError):
            continue
    raise AudioError(f"could not write {path} ({reason}) nor a copy in the working or the temp folder")

