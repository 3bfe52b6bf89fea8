"""What a run started from a terminal shows and obeys: its progress bar and re-estimates, previews and
checkpoints on the way, and the signals that stop it (the ``nst stylize`` command, :mod:`nstutils.cli`)."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from .checkpoints import checkpoint_path, comparable_settings, save_checkpoint
from .cost import PaceWatch, progress_total
from .images import save_image


class CtrlC:
    """SIGINT, SIGTERM, SIGHUP (``timeout``, ``docker stop``, a closing terminal): the first stops the run, the
    best image is saved and the status is 128 + the signal (130, 143, 129); the second exits at once."""

    def __init__(self):
        self.count = 0
        self.signum = int(signal.SIGINT)

    @property
    def name(self) -> str:
        return "Ctrl-C" if self.signum == signal.SIGINT else signal.Signals(self.signum).name

    @property
    def status(self) -> int:  # the shell's way of saying which signal: 128 + its number
        return 128 + self.signum

    def __call__(self, signum=None, frame=None) -> None:
        self.count += 1
        if self.count == 1 and signum is not None:
            self.signum = int(signum)
        if self.count >= 2:
            print(f"\nnst: second {self.name}, exiting without saving", file=sys.stderr, flush=True)
            os._exit(self.status)
        print(f"\nnst: {self.name}: stopping after this step and saving the best image so far "
              "(press Ctrl-C to quit at once)", file=sys.stderr, flush=True)


#: The signals that stop a run like Ctrl-C (SIGHUP does not exist on Windows).
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class RunReporter:
    """The run's callback: progress bar, re-estimates when the pace changes (:class:`~nstutils.cost.PaceWatch`),
    previews, checkpoints, and the Ctrl-C stop."""

    def __init__(self, args, output: Path, settings, run, done_steps: int, interrupted: CtrlC,
                 seconds_per_step: float):
        self.args, self.output, self.run, self.done_steps = args, output, run, done_steps
        self.interrupted = interrupted
        self.checkpoint, self.settings = checkpoint_path(output), comparable_settings(settings)
        self.pace = PaceWatch(seconds_per_step, lambda step: progress_total(run, step) - step)
        self.bar = None
        if not args.quiet:
            from tqdm import tqdm

            self.bar = tqdm(total=done_steps + progress_total(run, 0), initial=done_steps, unit="step",
                            desc="stylize", dynamic_ncols=True)

    def __call__(self, progress) -> bool:
        step = self.done_steps + progress.step
        if self.bar is not None:
            self._show(progress)
        revised = self.pace.observe(progress.step)
        if revised:  # the machine is slower (or faster) than the estimate said: say so, once per change
            (self.bar.write if self.bar is not None else print)(f"nst: {revised}", file=sys.stderr)
        every = self.args.preview_every
        if every and step % every == 0:
            save_image(progress.image, self.output.with_name(f"{self.output.stem}-step{step:04d}{self.output.suffix}"),
                       overwrite=True)
        if self.args.checkpoint_every and step % self.args.checkpoint_every == 0:
            save_checkpoint(self.checkpoint, progress.image, step, self.settings, progress.state)
        return self.interrupted.count > 0

    def _show(self, progress) -> None:
        run = self.run
        self.bar.total = self.done_steps + progress_total(run, progress.step)  # adaptive: honest ETA
        self.bar.update(1)
        postfix = {"loss": f"{progress.losses['total']:.4g}"}
        if run.adaptive and progress.improvement is not None:
            postfix["gain"] = f"{progress.improvement:.2%}/{run.stop_window} (stops < {run.stop_tolerance:.1%})"
        self.bar.set_postfix(postfix)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
