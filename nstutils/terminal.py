"""What a run started from a terminal shows and obeys: its progress bar and re-estimates, previews and
checkpoints on the way, and the signals that stop it (the ``nst stylize`` command, :mod:`nstutils.cli`)."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from .checkpoints import checkpoint_path, comparable_settings, save_checkpoint
from .cost import PaceWatch, progress_total
from .errors import describe_error
from .images import save_image


def signal_name(signum: int) -> str:
    """How messages name a stop signal: ``Ctrl-C`` for SIGINT, else its name (``SIGTERM``)."""
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


class StopSignal(KeyboardInterrupt):
    """A stop signal that came before the run began (start-up: loading, fetching, measuring): the command
    ends at once, unwinding like Ctrl-C, so no half-written file stays, with status 128 + the signal."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = int(signum)
        self.name, self.status = signal_name(self.signum), 128 + self.signum


def stop_at_once(signum, frame=None) -> None:
    """The stop signals' handler outside a run: raise :class:`StopSignal`."""
    raise StopSignal(signum)


class CtrlC:
    """SIGINT, SIGTERM, SIGHUP (``timeout``, ``docker stop``, a closing terminal): the first stops the run, the
    best image is saved and the status is 128 + the signal (130, 143, 129); the second exits at once."""

    def __init__(self):
        self.count = 0
        self.signum = int(signal.SIGINT)

    @property
    def name(self) -> str:
        return signal_name(self.signum)

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
    previews, checkpoints, and the Ctrl-C stop. A preview or checkpoint that cannot be written (a full disk)
    is said in one line and not tried again; the run goes on."""

    def __init__(self, args, output: Path, settings, run, done_steps: int, interrupted: CtrlC,
                 seconds_per_step: float):
        self.args, self.output, self.run, self.done_steps = args, output, run, done_steps
        self.interrupted = interrupted
        self.every = {"preview": args.preview_every, "checkpoint": args.checkpoint_every}
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
            self._say(f"nst: {revised}")
        preview = self.output.with_name(f"{self.output.stem}-step{step:04d}{self.output.suffix}")
        self._write("preview", step, lambda: save_image(progress.image, preview, overwrite=True))
        self._write("checkpoint", step,
                    lambda: save_checkpoint(self.checkpoint, progress.image, step, self.settings, progress.state))
        return self.interrupted.count > 0

    def _write(self, what: str, step: int, write) -> None:
        """Write a preview or checkpoint when one is due; a failure is one line, and the last try."""
        every = self.every[what]
        if not every or step % every:
            return
        try:
            write()
        except OSError as error:  # OutputError included: a full disk, a folder made read-only meanwhile
            self.every[what] = 0
            self._say(f"nst: could not write the {what} at step {step} ({describe_error(error)}); no more "
                      f"{what}s in this run, which goes on")

    def _say(self, line: str) -> None:
        (self.bar.write if self.bar is not None else print)(line, file=sys.stderr)

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
