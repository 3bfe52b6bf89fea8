"""What the labs' buttons do, without widgets (``05_full_transfer``'s Style Lab, ``04_style_layers``' explorer).

Everything here is a plain function or class tested headless; :mod:`.widgets` only wires controls to it:

* :func:`settings_from_controls`, :func:`control_defaults`, :func:`slider_range`: control values ↔ settings;
* :func:`load_uploaded`: the image in a FileUpload value;
* :func:`check_poolable`: an image too thin for VGG19's pooling is refused in one line, with the size that works;
* :class:`LabRunner`: ``stylize`` in a background thread with a stop flag;
* :class:`LabSession`: Run, Stop and the end of a run as one state machine that writes the status line —
  every failure becomes one line there (:func:`error_status`), a second Run while running is ignored with a
  note, and Stop after the end leaves the finished run's status alone.
"""

from __future__ import annotations

import html
import logging
import math
import threading
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import numpy as np

from nstutils.errors import CallbackError, ImageError, NSTError, describe_error
from nstutils.images import load_image, open_image_bytes
from nstutils.recipes import PAPER_STYLE_LAYERS
from nstutils.run import stylize
from nstutils.settings import ObjectiveSettings, RunSettings, field_spec, make_settings
from nstutils.vgg19 import min_side, paper_layer_name

log = logging.getLogger(__name__)

#: Style layers offered as checkboxes (the paper's choice), in paper names.
LAB_STYLE_LAYERS = PAPER_STYLE_LAYERS

#: The part of each setting's range a slider shows: ``(low, high)``, narrowed to the setting's own
#: bounds (:func:`~nstutils.settings.field_spec`). Weights are shown as powers of ten.
LAB_WINDOWS: Dict[str, Tuple[float, float]] = {"content_weight": (0.0, 8.0), "style_weight": (-5.0, 3.0),
                                               "tv_weight": (0.0, 200.0), "steps": (1, 1000), "max_dim": (64, 1024)}

#: The status line while a run is asked to end.
STOPPING = "Stopping after this step…"
#: The note a Run click gets while a run is going (the run goes on).
ALREADY_RUNNING = "Already running: this click was ignored; press Stop to end the run first."


class RunInProgressError(NSTError, RuntimeError):
    """A lab was asked to start a run while one is still going."""


def slider_range(name: str, log: bool = False) -> Tuple[float, float]:
    """``(low, high)`` of the slider for setting ``name``: the lab's window within the setting's bounds
    (in powers of ten with ``log``; a minimum of 0 has no logarithm and leaves the window's end)."""
    spec = field_spec(name)
    low, high = LAB_WINDOWS[name]
    minimum, maximum = spec.minimum, spec.maximum
    if log:
        minimum = float(np.log10(minimum)) if minimum else None
        maximum = float(np.log10(maximum)) if maximum else None
    if minimum is not None:
        low = max(low, minimum)
    if maximum is not None:
        high = min(high, maximum)
    return low, high


def settings_from_controls(values: Dict[str, Any]) -> Dict[str, Any]:
    """Turn control values into ``stylize`` keyword arguments.

    Weights come from log sliders as powers of ten (``log_style_weight=-2`` → 1e-2);
    layers from checkbox dicts ``{"conv1_1": True, ...}``. Missing values take the
    defaults of :mod:`nstutils.settings`. Raises :class:`~nstutils.errors.SettingsError`
    for impossible settings.
    """
    overrides: Dict[str, Any] = {}
    for key in ("style_layers", "content_layers"):
        if key in values:
            overrides[key] = [name for name, on in values[key].items() if on]
    for key in ("content_weight", "style_weight"):
        if f"log_{key}" in values:
            overrides[key] = 10.0 ** values[f"log_{key}"]
    for key, name in (("tv_weight", "tv_weight"), ("steps", "steps"), ("size", "max_dim"),
                      ("optimizer", "optimizer"), ("init", "init")):
        if key in values:
            overrides[name] = values[key]
    for key in ("steps", "max_dim"):
        if key in overrides:
            overrides[key] = int(overrides[key])
    settings = make_settings(**overrides)
    objective, run = settings.objective, settings.run
    return {"content_layers": list(objective.content_layers), "style_layers": list(objective.style_layers),
            "content_weight": objective.content_weight, "style_weight": objective.style_weight,
            "tv_weight": objective.tv_weight, "steps": run.steps, "max_dim": run.max_dim,
            "optimizer": run.optimizer, "init": run.init}


def control_defaults() -> Dict[str, Any]:
    """The Style Lab's starting control values, from the settings' defaults."""
    objective, run = ObjectiveSettings(), RunSettings()
    return {"log_content_weight": float(np.log10(objective.content_weight)),
            "log_style_weight": float(np.log10(objective.style_weight)), "tv_weight": objective.tv_weight,
            "style_layers": {paper_layer_name(n) for n in objective.style_layers},
            "content_layers": {paper_layer_name(n) for n in objective.content_layers},
            "optimizer": run.optimizer, "init": run.init}


def load_uploaded(value: Any) -> np.ndarray:
    """The image in an ``ipywidgets.FileUpload`` value (``[1, H, W, 3]``), or ImageError."""

    files = list(value.values()) if isinstance(value, dict) else list(value or ())
    if not files:
        raise ImageError("no file uploaded yet")
    item = files[-1]
    name = item.get("name", "upload") if isinstance(item, dict) else getattr(item, "name", "upload")
    content = item["content"] if isinstance(item, dict) else item.content
    return load_image(open_image_bytes(bytes(content), name))  # decoded in memory: no temp file to fail


def check_poolable(image: np.ndarray, layers: Iterable[str], what: str, size: int, scale: float = 1.0,
                   original: Optional[Tuple[int, ...]] = None, largest: int = LAB_WINDOWS["max_dim"][1]) -> None:
    """Raise :class:`~nstutils.errors.ImageError` in one line if ``image`` (loaded at long side
    ``size × scale`` from an image of shape ``original``) has a side too short for VGG19's pooling up to
    ``layers``, naming the size that would work (or, past the lab's ``largest`` size, asking for a less
    elongated image). ``original`` gives the true proportions, which a 1-px side has lost."""
    height, width = np.shape(image)[-3:-1]
    need = min_side(layers)
    if min(height, width) >= need:
        return
    tall, wide = (original or np.shape(image))[-3:-1]
    works = math.ceil(need * max(tall, wide) / max(1, min(tall, wide)) / scale)
    fix = (f"set size to {works} or more" if works <= largest
           else f"crop it: it would need size {works}, more than the lab's {largest}")
    raise ImageError(f"the {what} image is {width}×{height} px at size {size}, but VGG19's pooling needs at least "
                     f"{need} px on each side for the layers chosen: {fix}")


def error_status(error: BaseException) -> str:
    """One status line for ``error``: an :class:`~nstutils.errors.NSTError`'s message as it is, an OSError
    (a full or read-only folder) in words with its file; a failed preview (the run's callback,
    :class:`~nstutils.errors.CallbackError`) says so, the best image so far being shown; anything else is
    ``unexpected error: Type: message``, also logged with its traceback, for a bug report."""
    cause = error.__cause__ if isinstance(error, CallbackError) and error.__cause__ is not None else error
    if not isinstance(cause, (NSTError, OSError)):
        log.error("unexpected error in a lab", exc_info=(type(cause), cause, cause.__traceback__))
    text = describe_error(cause)
    if not isinstance(cause, (NSTError, OSError)):
        text = f"unexpected error: {text}"
    if cause is not error:
        text = f"the preview failed at step {error.step} ({text}); the run stopped there, its best image is shown"
    return f"<span style='color:#b00'>⚠ {html.escape(text)}</span>"


class LabRunner:
    """Runs ``stylize`` in a background thread with a stop flag.

    ``on_progress(progress, history)`` is called every ``every`` steps (from the worker
    thread) and ``on_done(result, error)`` once at the end. ``stop()`` asks the run to end
    after the current step; the result then holds the best image so far. If ``on_progress`` raises,
    the run ends there too and ``on_done`` gets both: the result so far and the
    :class:`~nstutils.errors.CallbackError`.
    """

    def __init__(self, on_progress: Optional[Callable] = None, on_done: Optional[Callable] = None, every: int = 1):
        self.on_progress = on_progress
        self.on_done = on_done
        self.every = max(1, int(every))
        self.result = None
        self.error: Optional[BaseException] = None
        self.history: List[Dict[str, float]] = []
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, content: Any, style: Any, **options: Any) -> None:
        """Begin a run; raises :class:`RunInProgressError` if one is already going."""
        if self.running:
            raise RunInProgressError("a run is already in progress; press Stop first")
        self._stop.clear()
        self.result, self.error, self.history = None, None, []
        self._thread = threading.Thread(target=self._work, args=(content, style, options), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Wait for the run to end; True if it has."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    def _work(self, content, style, options) -> None:
        def callback(progress) -> bool:
            self.history.append(dict(progress.losses))
            if self.on_progress is not None and (progress.step % self.every == 0 or progress.step == progress.steps):
                self.on_progress(progress, self.history)
            return self._stop.is_set()

        try:
            self.result = stylize(content, style, callback=callback, **options)
        except CallbackError as exc:  # the preview failed: the run so far is kept, and the error shown
            self.result, self.error = exc.result, exc
        except BaseException as exc:  # reported in the status line, never lost in a thread
            self.error = exc
        if self.on_done is not None:
            self.on_done(self.result, self.error)


#: What a lab's ``prepare`` returns: ``(content, style, stylize options, status line while running)``.
Plan = Tuple[Any, Any, Dict[str, Any], str]


class LabSession:
    """Run, Stop and the end of a run for one lab, writing every outcome to its status line.

    ``show(html)`` sets the status line; ``busy(flag)`` enables or disables the buttons;
    ``on_progress(progress, history)`` draws the preview and returns the status line for that step
    (kept back once Stop was pressed); ``on_result(result)`` draws the end (the best image so far when the
    preview failed, whose error then goes to the status line). A lock orders the kernel's
    clicks and the worker's steps and end of run, so Stop can never overwrite the finished status.
    """

    def __init__(self, show: Callable[[str], None], busy: Callable[[bool], None] = lambda flag: None,
                 on_progress: Optional[Callable] = None, on_result: Optional[Callable] = None, every: int = 1):
        self.show, self.busy = show, busy
        self.on_progress, self.on_result = on_progress, on_result
        self.active = self.stopping = False
        self._lock = threading.RLock()
        self.runner = LabRunner(on_progress=self._progress, on_done=self._done, every=every)

    def run(self, prepare: Callable[[], Plan]) -> bool:
        """What Run does: ``prepare()`` checks and loads everything, then the run starts. True if it did."""
        with self._lock:
            if self.active:
                self.show(ALREADY_RUNNING)
                return False
            try:
                content, style, options, message = prepare()
                self.active, self.stopping = True, False
                self.busy(True)
                self.show(message)
                self.runner.start(content, style, **options)
            except Exception as exc:  # noqa: BLE001 - every failure goes to the status line
                self.active = False
                self.busy(False)
                self.show(error_status(exc))
                return False
            return True

    def stop(self) -> bool:
        """What Stop does: ask a going run to end; after the end, leave the status alone. True if asked."""
        with self._lock:
            if not self.active:
                return False
            self.runner.stop()
            self.stopping = True
            self.show(STOPPING)
            return True

    def _progress(self, progress, history) -> None:
        with self._lock:
            line = self.on_progress(progress, history) if self.on_progress is not None else None
            if line and not self.stopping:
                self.show(line)

    def _done(self, result, error) -> None:
        with self._lock:
            self.active = False
            try:
                self.busy(False)
                if result is not None and self.on_result is not None:  # after a failed preview: the best so far
                    self.on_result(result)
                if error is not None:
                    self.show(error_status(error))
            except Exception as exc:  # noqa: BLE001 - drawing the result failed; say so
                self.show(error_status(exc))


def guarded(handler: Callable[[], Any], show: Callable[[str], None]) -> Callable[[Any], None]:
    """A click handler calling ``handler()`` whose every exception is shown with ``show``, never raised."""

    def on_click(_button: Any = None) -> None:
        try:
            handler()
        except Exception as exc:  # noqa: BLE001 - a click handler must not raise
            show(error_status(exc))

    return on_click


def status_word(result: Any) -> str:
    """One word for the status line: done, converged, stopped early or diverged."""
    return {"finished": "done", "converged": "done (converged)", "diverged": "diverged"}.get(
        result.stop_reason, "stopped early")
