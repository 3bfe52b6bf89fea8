"""Widget labs: the Style Lab (``05_full_transfer``) and the layer explorer (``04_style_layers``).

Widgets are thin. What the buttons do lives in :mod:`.lab` as plain functions tested without a
browser — :func:`~.lab.settings_from_controls`, :func:`~.lab.load_uploaded`,
:func:`~.lab.check_poolable`, :class:`~.lab.LabRunner` and :class:`~.lab.LabSession` — and the
widget classes only wire controls to them. A run happens on the **Run** button, in a background
thread, so the kernel stays free to receive **Stop** and to update the live preview and loss plot.
Every failure ends in the status line, never as a traceback from a click.

The controls are built from the settings' own fields (:func:`nstutils.settings.field_spec`):
their bounds, choices and help texts; a slider needs two ends, so where a setting is unbounded
the lab's window (:data:`~.lab.LAB_WINDOWS`) gives the other end. The layers offered are the paper's
(:mod:`nstutils.recipes`). Every label has room for its whole text (checked in a browser by
``tests/test_browser.py``).
"""

from __future__ import annotations

from typing import Any, Dict

import numpy as np

from nstutils.color import preserve_color
from nstutils.cost import describe_run
from nstutils.data import list_images
from nstutils.images import image_to_bytes, load_image
from nstutils.recipes import LAB_CONTENT_LAYERS, PAPER_CONTENT_LAYER
from nstutils.run import style_size
from nstutils.settings import field_spec, make_settings

from .experiments import weights_for_ratio
from .lab import (LAB_STYLE_LAYERS, LAB_WINDOWS, LabRunner, LabSession, Plan, RunInProgressError,  # noqa: F401
                  check_poolable, control_defaults, guarded, load_uploaded, settings_from_controls, slider_range,
                  status_word)
from .plots import loss_plot_png

#: Room for the longest label ("log₁₀ content") at JupyterLab's default font, for every labelled control.
LABEL_STYLE = {"description_width": "110px"}
#: Labelled controls are this wide, so the slider keeps its usual length beside the wider label.
CONTROL_WIDTH = "420px"


def _slider(kind, name: str, value, step, description: str, log: bool = False, **style):
    """A slider for setting ``name``: its range from :func:`slider_range`, its tooltip the setting's help."""
    import ipywidgets as widgets

    low, high = slider_range(name, log)
    return kind(value=value, min=low, max=high, step=step, description=description,
                description_tooltip=field_spec(name).help, continuous_update=False, style=LABEL_STYLE,
                layout=widgets.Layout(width=CONTROL_WIDTH), **style)


def _dropdown(name: str, value: str, options=None, description: str = ""):
    """A drop-down of setting ``name``'s choices (:func:`~nstutils.settings.field_spec`), tooltip its help;
    or of ``options`` (the course images) when given."""
    import ipywidgets as widgets

    spec = field_spec(name) if options is None else None
    return widgets.Dropdown(options=list(spec.choices) if spec else options, value=value,
                            description=description or name, description_tooltip=spec.help if spec else None,
                            style=LABEL_STYLE, layout=widgets.Layout(width=CONTROL_WIDTH))


def _image_widget(image=None, width: int = 256):
    import ipywidgets as widgets

    return widgets.Image(value=image_to_bytes(image) if image is not None else b"", format="png",
                         layout=widgets.Layout(width=f"{width}px"))


def _upload(what: str):
    """An upload button beside a drop-down: "upload" and the file count, its full sense in the tooltip."""
    import ipywidgets as widgets

    return widgets.FileUpload(accept="image/*", description="upload", tooltip=f"upload your own {what} image",
                              layout=widgets.Layout(width="auto"))


def _checkboxes(names, ticked) -> Dict[str, Any]:
    import ipywidgets as widgets

    return {name: widgets.Checkbox(value=name in ticked, description=name, indent=False,
                                   layout=widgets.Layout(width="auto")) for name in names}


class StyleLab:
    """The Style Lab: choose or upload images, set weights, layers, steps and size; Run and Stop.

    ``display(StyleLab().widget)``, or just ``StyleLab()`` as a cell's last line.
    """

    def __init__(self, content: str = "tubingen", style: str = "starry_night", size: int = 256, steps: int = 100,
                 preview_every: int = 5):
        import ipywidgets as widgets

        names = list_images()
        self.content_choice = _dropdown("", content, names, "content")
        self.style_choice = _dropdown("", style, names, "style")
        self.content_upload, self.style_upload = _upload("content"), _upload("style")
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
        self.style_layers = _checkboxes(LAB_STYLE_LAYERS, defaults["style_layers"])
        self.content_layers = _checkboxes(LAB_CONTENT_LAYERS, defaults["content_layers"])
        self.keep_colors = widgets.Checkbox(value=False, description="keep the photo's colours", indent=False,
                                            layout=widgets.Layout(width="auto"))
        self.run_button = widgets.Button(description="Run", button_style="success", icon="play")
        self.stop_button = widgets.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.preview = _image_widget(None, 320)
        self.loss_plot = widgets.Image(value=loss_plot_png([]), format="png", layout=widgets.Layout(width="360px"))
        self.status = widgets.HTML("Ready: press Run.")
        for widget, css in ((self.run_button, "nst-run"), (self.stop_button, "nst-stop"), (self.preview, "nst-preview"),
                            (self.loss_plot, "nst-loss-plot"), (self.status, "nst-status")):
            widget.add_class(css)
        show = self._show
        self.session = LabSession(show, self._busy, self._show_progress, self._show_result, every=preview_every)
        self.runner = self.session.runner
        self.run_button.on_click(guarded(self.run, show))
        self.stop_button.on_click(guarded(self.stop, show))
        layers = widgets.VBox([widgets.HTML("<b>style layers</b>"), *self.style_layers.values(),
                               widgets.HTML("<b>content layers</b>"), *self.content_layers.values()])
        controls = widgets.VBox([widgets.HBox([self.content_choice, self.content_upload]),
                                 widgets.HBox([self.style_choice, self.style_upload]),
                                 self.log_content_weight, self.log_style_weight, self.tv_weight, self.steps, self.size,
                                 self.optimizer, self.init, self.keep_colors,
                                 widgets.HBox([self.run_button, self.stop_button])])
        self.widget = widgets.VBox([widgets.HBox([controls, layers]), self.status,
                                    widgets.HBox([self.preview, self.loss_plot])])
        self.widget.add_class("nst-style-lab")
        self._content = None

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

    def _show(self, text: str) -> None:
        self.status.value = text

    def _busy(self, flag: bool) -> None:
        self.run_button.disabled, self.stop_button.disabled = flag, not flag

    @staticmethod
    def _source(upload, choice):
        return load_uploaded(upload.value) if upload.value else choice.value

    def _prepare(self) -> Plan:
        """Check the settings and load both images at their run sizes, refusing what VGG19 cannot take."""
        options = settings_from_controls(self.values())
        settings = make_settings(**options)
        size = options["max_dim"]
        content_full = load_image(self._source(self.content_upload, self.content_choice))
        style_full = load_image(self._source(self.style_upload, self.style_choice))
        content = load_image(content_full, max_dim=size)
        style = load_image(style_full, max_dim=style_size(settings.run))
        layers = options["content_layers"] + options["style_layers"]
        check_poolable(content, layers, "content", size, original=content_full.shape)
        check_poolable(style, layers, "style", size, settings.run.style_scale, original=style_full.shape)
        plan = describe_run(settings.run, content.shape, settings.objective.compute_dtype)
        self._content = content
        return content, style, options, f"Running {plan}…"

    def run(self) -> None:
        """What the Run button does: check everything, then start the background run (ignored while one goes)."""
        self.session.run(self._prepare)

    def stop(self) -> None:
        """What the Stop button does: end the run after this step; after the end it changes nothing."""
        self.session.stop()

    def _shown(self, image):
        """The image as displayed: with the photo's colours when that box is ticked."""
        if not self.keep_colors.value:
            return image
        return preserve_color(image, self._content[0])

    def _show_progress(self, progress, history) -> str:
        self.preview.value = image_to_bytes(self._shown(progress.image))
        self.loss_plot.value = loss_plot_png(history)
        return (f"step {progress.step}/{progress.steps} · loss {progress.losses['total']:.4g} · "
                f"{progress.seconds:.0f} s")

    def _show_result(self, result) -> None:
        self.preview.value = image_to_bytes(self._shown(result.image))
        self.loss_plot.value = loss_plot_png(result.history)
        colour = "#b00" if result.stop_reason == "diverged" else "inherit"
        self.status.value = (f"<span style='color:{colour}'>{status_word(result)}: {result.message}, "
                             f"{result.seconds:.0f} s</span>")


class LayerExplorer:
    """Toggle style layers and the content/style ratio, then Run (``04_style_layers``)."""

    def __init__(self, content: str = "tubingen", style: str = "starry_night", size: int = 128, steps: int = 50):
        import ipywidgets as widgets

        self.content, self.style = content, style
        self.size, self.steps = size, steps
        self.style_layers = _checkboxes(LAB_STYLE_LAYERS, ("conv1_1", "conv2_1", "conv3_1"))
        self.log_ratio = widgets.FloatSlider(value=-3.0, min=-6.0, max=0.0, step=0.5, description="log₁₀ α/β",
                                             continuous_update=False, style=LABEL_STYLE,
                                             layout=widgets.Layout(width=CONTROL_WIDTH))
        self.run_button = widgets.Button(description="Run", button_style="success")
        self.output = _image_widget(None, 320)
        self.status = widgets.HTML("Choose layers and a ratio, then press Run.")
        self.session = LabSession(self._show, self._busy, on_result=self._show_result)
        self.runner = self.session.runner
        self.run_button.on_click(guarded(self.run, self._show))
        self.widget = widgets.VBox([widgets.HBox(list(self.style_layers.values())), self.log_ratio,
                                    self.run_button, self.status, self.output])

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    def _show(self, text: str) -> None:
        self.status.value = text

    def _busy(self, flag: bool) -> None:
        self.run_button.disabled = flag

    def _prepare(self) -> Plan:
        layers = [name for name, box in self.style_layers.items() if box.value]
        content = load_image(self.content, max_dim=self.size)
        content_weight, style_weight = weights_for_ratio(10.0 ** self.log_ratio.value, content.shape,
                                                         PAPER_CONTENT_LAYER)
        options = settings_from_controls({
            "style_layers": {name: True for name in layers}, "content_layers": {PAPER_CONTENT_LAYER: True},
            "log_content_weight": np.log10(content_weight), "log_style_weight": np.log10(style_weight),
            "tv_weight": 0.0, "steps": self.steps, "size": self.size, "init": "noise"})
        style = load_image(self.style, max_dim=style_size(make_settings(**options).run))
        every_layer = options["content_layers"] + options["style_layers"]
        check_poolable(content, every_layer, "content", self.size)
        check_poolable(style, every_layer, "style", self.size)
        return content, style, options, f"Running with {', '.join(layers) or 'no style layers'}…"

    def run(self) -> None:
        """What the Run button does (a click while a run goes is ignored with a note)."""
        self.session.run(self._prepare)

    def _show_result(self, result) -> None:
        self.output.value = image_to_bytes(result.image)
        self.status.value = f"{status_word(result)}: {result.message}"
