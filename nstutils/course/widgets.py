"""Widget labs: the Style Lab (``05_full_transfer``) and the layer explorer (``04_style_layers``).

Widgets are thin. The work is done by plain functions that are tested without a
browser — :func:`settings_from_controls`, :func:`load_uploaded`,
:func:`~nstutils.course.plots.loss_plot_png` and :class:`LabRunner` — and the widget classes only wire them to controls. A run
happens on the **Run** button, in a background thread, so the kernel stays free to
receive **Stop** and to update the live preview and loss plot.

The controls are built from the settings' own fields (:func:`nstutils.settings.field_spec`):
their bounds, choices and help texts; a slider needs two ends, so where a setting is unbounded
the lab's window (:data:`LAB_WINDOWS`) gives the other end. The layers offered are the paper's
(:mod:`nstutils.recipes`).
"""

from __future__ import annotations

import os
import tempfile
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from nstutils.color import preserve_color
from nstutils.cost import describe_run
from nstutils.data import list_images
from nstutils.errors import ImageError, NSTError
from nstutils.images import image_to_bytes, load_image, open_image_file
from nstutils.recipes import LAB_CONTENT_LAYERS, PAPER_CONTENT_LAYER, PAPER_STYLE_LAYERS
from nstutils.run import stylize
from nstutils.settings import ObjectiveSettings, RunSettings, field_spec, make_settings
from nstutils.vgg19 import paper_layer_name

from .experiments import weights_for_ratio
from .plots import loss_plot_png

#: Style layers offered as checkboxes (the paper's choice), in paper names.
LAB_STYLE_LAYERS = PAPER_STYLE_LAYERS

#: The part of each setting's range a slider shows: ``(low, high)``, narrowed to the setting's own
#: bounds (:func:`~nstutils.settings.field_spec`). Weights are shown as powers of ten.
LAB_WINDOWS: Dict[str, Tuple[float, float]] = {"content_weight": (0.0, 8.0), "style_weight": (-5.0, 3.0),
                                               "tv_weight": (0.0, 200.0), "steps": (1, 1000), "max_dim": (64, 1024)}


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
    data = bytes(content)
    if not data:
        raise ImageError(f"{name}: the file is empty")
    suffix = os.path.splitext(name)[1] or ".img"
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "upload" + suffix)
        with open(path, "wb") as handle:
            handle.write(data)
        try:
            image = open_image_file(path)
        except ImageError as exc:
            raise ImageError(str(exc).replace(path, name)) from None
        return load_image(image)


class LabRunner:
    """Runs ``stylize`` in a background thread with a stop flag.

    ``on_progress(progress, history)`` is called every ``every`` steps (from the worker
    thread) and ``on_done(result, error)`` once at the end. ``stop()`` asks the run to end
    after the current step; the result then holds the best image so far.
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

    def start(self, content, style, **options: Any) -> None:
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
        except BaseException as exc:  # reported in the status line, never lost in a thread
            self.error = exc
        if self.on_done is not None:
            self.on_done(self.result, self.error)


def _slider(kind, name: str, value, step, description: str, log: bool = False, **style):
    """A slider for setting ``name``: its range from :func:`slider_range`, its tooltip the setting's help."""
    low, high = slider_range(name, log)
    return kind(value=value, min=low, max=high, step=step, description=description,
                description_tooltip=field_spec(name).help, continuous_update=False, **style)


def _dropdown(name: str, value: str):
    """A drop-down of setting ``name``'s choices (:func:`~nstutils.settings.field_spec`), tooltip its help."""
    import ipywidgets as widgets

    spec = field_spec(name)
    return widgets.Dropdown(options=list(spec.choices), value=value, description=name,
                            description_tooltip=spec.help)


def _image_widget(image=None, width: int = 256):
    import ipywidgets as widgets

    return widgets.Image(value=image_to_bytes(image) if image is not None else b"", format="png",
                         layout=widgets.Layout(width=f"{width}px"))


class StyleLab:
    """The Style Lab: choose or upload images, set weights, layers, steps and size; Run and Stop.

    ``display(StyleLab().widget)``, or just ``StyleLab()`` as a cell's last line.
    """

    def __init__(self, content: str = "tubingen", style: str = "starry_night", size: int = 256, steps: int = 100,
                 preview_every: int = 5):
        import ipywidgets as widgets

        names = list_images()
        self.content_choice = widgets.Dropdown(options=names, value=content, description="content")
        self.style_choice = widgets.Dropdown(options=names, value=style, description="style")
        self.content_upload = widgets.FileUpload(accept="image/*", description="upload content")
        self.style_upload = widgets.FileUpload(accept="image/*", description="upload style")
        defaults = control_defaults()
        self.log_content_weight = _slider(widgets.FloatSlider, "content_weight", defaults["log_content_weight"], 0.5,
                                          "log₁₀ content", log=True, readout_format=".1f")
        self.log_style_weight = _slider(widgets.FloatSlider, "style_weight", defaults["log_style_weight"], 0.5,
                                        "log₁₀ style", log=True, readout_format=".1f")
        self.tv_weight = _slider(widgets.FloatSlider, "tv_weight", defaults["tv_weight"], 5.0, "TV weight",
                                 readout_format=".1f")
        self.steps = _slider(widgets.IntSlider, "steps", steps, 1, "steps")
        self.size = _slider(widgets.IntSlider, "max_dim", size, 32, "size")
        self.optimizer = _dropdown("optimizer", defaults["optimizer"])
        self.init = _dropdown("init", defaults["init"])
        self.style_layers = {name: widgets.Checkbox(value=name in defaults["style_layers"], description=name,
                                                    indent=False) for name in LAB_STYLE_LAYERS}
        self.content_layers = {name: widgets.Checkbox(value=name in defaults["content_layers"], description=name,
                                                      indent=False)
                               for name in LAB_CONTENT_LAYERS}
        self.keep_colors = widgets.Checkbox(value=False, description="keep the photo's colours", indent=False)
        self.run_button = widgets.Button(description="Run", button_style="success", icon="play")
        self.stop_button = widgets.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.preview = _image_widget(None, 320)
        self.loss_plot = widgets.Image(value=loss_plot_png([]), format="png", layout=widgets.Layout(width="360px"))
        self.status = widgets.HTML("Ready: press Run.")
        for widget, css in ((self.run_button, "nst-run"), (self.stop_button, "nst-stop"), (self.preview, "nst-preview"),
                            (self.loss_plot, "nst-loss-plot"), (self.status, "nst-status")):
            widget.add_class(css)
        self.runner = LabRunner(on_progress=self._show_progress, on_done=self._finished, every=preview_every)
        self.run_button.on_click(lambda _: self.run())
        self.stop_button.on_click(lambda _: self.stop())
        layers = widgets.VBox([widgets.HTML("<b>style layers</b>"), *self.style_layers.values(),
                               widgets.HTML("<b>content layers</b>"), *self.content_layers.values()])
        controls = widgets.VBox([self.content_choice, self.content_upload, self.style_choice, self.style_upload,
                                 self.log_content_weight, self.log_style_weight, self.tv_weight, self.steps, self.size,
                                 self.optimizer, self.init, self.keep_colors,
                                 widgets.HBox([self.run_button, self.stop_button])])
        self.widget = widgets.VBox([widgets.HBox([controls, layers]), self.status,
                                    widgets.HBox([self.preview, self.loss_plot])])

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    def values(self) -> Dict[str, Any]:
        return {
            "log_content_weight": self.log_content_weight.value, "log_style_weight": self.log_style_weight.value,
            "tv_weight": self.tv_weight.value, "steps": self.steps.value, "size": self.size.value,
            "optimizer": self.optimizer.value, "init": self.init.value,
            "style_layers": {k: w.value for k, w in self.style_layers.items()},
            "content_layers": {k: w.value for k, w in self.content_layers.items()},
        }

    def _image(self, upload, choice):
        return load_uploaded(upload.value) if upload.value else choice.value

    def run(self) -> None:
        """What the Run button does: validate everything, then start the background run."""
        if self.runner.running:
            self.status.value = "Already running: press Stop first."
            return
        try:
            options = settings_from_controls(self.values())
            content = self._image(self.content_upload, self.content_choice)
            style = self._image(self.style_upload, self.style_choice)
        except NSTError as exc:
            self.status.value = f"<span style='color:#b00'>⚠ {exc}</span>"
            return
        self._content = load_image(content, max_dim=options["max_dim"])
        self.run_button.disabled, self.stop_button.disabled = True, False
        settings = make_settings(**options)
        plan = describe_run(settings.run, self._content.shape, settings.objective.compute_dtype)
        self.status.value = f"Running {plan}…"
        self.runner.start(self._content, style, **options)

    def _shown(self, image):
        """The image as displayed: with the photo's colours when that box is ticked."""
        if not self.keep_colors.value:
            return image
        return preserve_color(image, self._content[0])

    def stop(self) -> None:
        self.runner.stop()
        self.status.value = "Stopping after this step…"

    def _show_progress(self, progress, history) -> None:
        self.preview.value = image_to_bytes(self._shown(progress.image))
        self.loss_plot.value = loss_plot_png(history)
        self.status.value = (f"step {progress.step}/{progress.steps} · loss {progress.losses['total']:.4g} · "
                             f"{progress.seconds:.0f} s")

    def _finished(self, result, error) -> None:
        self.run_button.disabled, self.stop_button.disabled = False, True
        if error is not None:
            self.status.value = f"<span style='color:#b00'>⚠ {error}</span>"
            return
        self.preview.value = image_to_bytes(self._shown(result.image))
        self.loss_plot.value = loss_plot_png(result.history)
        colour = "#b00" if result.stop_reason == "diverged" else "inherit"
        self.status.value = (f"<span style='color:{colour}'>{_status_word(result)}: {result.message}, "
                             f"{result.seconds:.0f} s</span>")


def _status_word(result) -> str:
    """One word for the status line: done, converged, stopped early or diverged."""
    return {"finished": "done", "converged": "done (converged)", "diverged": "diverged"}.get(
        result.stop_reason, "stopped early")


class LayerExplorer:
    """Toggle style layers and the content/style ratio, then Run (``04_style_layers``)."""

    def __init__(self, content: str = "tubingen", style: str = "starry_night", size: int = 128, steps: int = 50):
        import ipywidgets as widgets

        self.content, self.style = content, style
        self.size, self.steps = size, steps
        self.style_layers = {name: widgets.Checkbox(value=name in ("conv1_1", "conv2_1", "conv3_1"), description=name,
                                                    indent=False) for name in LAB_STYLE_LAYERS}
        self.log_ratio = widgets.FloatSlider(value=-3.0, min=-6.0, max=0.0, step=0.5, description="log₁₀ α/β",
                                             continuous_update=False)
        self.run_button = widgets.Button(description="Run", button_style="success")
        self.output = _image_widget(None, 320)
        self.status = widgets.HTML("Choose layers and a ratio, then press Run.")
        self.run_button.on_click(lambda _: self.run())
        self.runner = LabRunner(on_done=self._finished)
        self.widget = widgets.VBox([widgets.HBox(list(self.style_layers.values())), self.log_ratio,
                                    self.run_button, self.status, self.output])

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    def run(self) -> None:
        layers = [name for name, box in self.style_layers.items() if box.value]
        try:
            shape = load_image(self.content, max_dim=self.size).shape
            content_weight, style_weight = weights_for_ratio(10.0 ** self.log_ratio.value, shape,
                                                             PAPER_CONTENT_LAYER)
            options = settings_from_controls({
                "style_layers": {name: True for name in layers}, "content_layers": {PAPER_CONTENT_LAYER: True},
                "log_content_weight": np.log10(content_weight), "log_style_weight": np.log10(style_weight),
                "tv_weight": 0.0, "steps": self.steps, "size": self.size, "init": "noise"})
        except NSTError as exc:
            self.status.value = f"<span style='color:#b00'>⚠ {exc}</span>"
            return
        self.status.value = f"Running with {', '.join(layers) or 'no style layers'}…"
        self.run_button.disabled = True
        self.runner.start(self.content, self.style, **options)

    def _finished(self, result, error) -> None:
        self.run_button.disabled = False
        if error is not None:
            self.status.value = f"<span style='color:#b00'>⚠ {error}</span>"
            return
        self.output.value = image_to_bytes(result.image)
        self.status.value = f"{_status_word(result)}: {result.message}"
