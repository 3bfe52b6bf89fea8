"""``08_audio``'s figures, players and its balance widget, on top of :mod:`nstutils.audio` and
:mod:`nstutils.audio_style`.

* :func:`players`: labelled audio players side by side, as plain HTML (they play in JupyterLab and in
  the exported HTML alike);
* :func:`show_spectrograms`: log spectrograms side by side, time across in seconds, frequency up in Hz;
* :func:`balance_transfer`: a transfer at a content/style balance (the widget's Run, a tested function);
* :class:`AudioLab`: choose the style and the balance, press **Run**, listen and look. The run happens
  in the kernel (a few seconds to half a minute); every failure ends in the status line.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any, Mapping, Sequence

import numpy as np

from nstutils.audio import HOP, N_FFT, SAMPLE_RATE, wav_bytes
from nstutils.audio_style import STYLE_WEIGHT, AudioResult, default_steps, transfer_audio
from nstutils.sounds import SOUNDS, load_sound

from .lab import error_status, guarded, status_word

#: The highest frequency the figures show: the course's sounds have little above it.
SHOWN_HZ = 4000.0
#: The balance slider: log₁₀ of the style weight (the content weight stays 1).
LOG_STYLE_WEIGHTS = (0.0, 4.0)


def players(sounds: Mapping[str, Any], rate: int = SAMPLE_RATE):
    """One audio player per ``{caption: wave}``, side by side (an ``IPython.display.HTML``)."""
    from IPython.display import HTML

    cells = []
    for caption, wave in sounds.items():
        data = base64.b64encode(wav_bytes(wave, rate)).decode("ascii")
        cells.append(f"<div style='display:inline-block;margin-right:1.5em;text-align:center'>"
                     f"<div>{html.escape(caption)}</div>"
                     f"<audio controls preload='auto' src='data:audio/wav;base64,{data}'></audio></div>")
    return HTML("".join(cells))


def _draw_spectrogram(ax, spec: np.ndarray, title: str, rate: int, hop: int, n_fft: int) -> None:
    spec = np.asarray(spec, np.float32)
    if spec.ndim == 3:
        spec = spec[0]
    top = min(spec.shape[1], int(SHOWN_HZ * n_fft / rate) + 1)
    seconds = spec.shape[0] * hop / rate
    ax.imshow(spec[:, :top].T, origin="lower", aspect="auto", cmap="magma",
              extent=(0.0, seconds, 0.0, top * rate / n_fft))
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("seconds")


def show_spectrograms(spectrograms: Mapping[str, Any], rate: int = SAMPLE_RATE, hop: int = HOP,
                      n_fft: int = N_FFT, size: float = 3.6):
    """Log spectrograms ``{title: [frames, bins]}`` side by side, up to :data:`SHOWN_HZ`; returns the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(spectrograms), figsize=(size * 1.3 * len(spectrograms), size), squeeze=False)
    for ax, (title, spec) in zip(axes[0], spectrograms.items()):
        _draw_spectrogram(ax, spec, title, rate, hop, n_fft)
    axes[0][0].set_ylabel("Hz")
    fig.tight_layout()
    return fig


def spectrogram_png(spec: Any, title: str = "", width: float = 5.0, height: float = 3.0) -> bytes:
    """A PNG of one log spectrogram (no pyplot, no global state: safe from a widget's handler)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=80)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    _draw_spectrogram(ax, spec, title, SAMPLE_RATE, HOP, N_FFT)
    ax.set_ylabel("Hz")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def balance_transfer(content: Any, style: Any, log_style_weight: float, steps: int | None = None,
                     **options: Any) -> AudioResult:
    """:func:`~nstutils.audio_style.transfer_audio` with ``style_weight = 10 ** log_style_weight`` (the content
    weight stays 1); ``content`` and ``style`` are waves or course sound names."""
    seconds = options.pop("seconds", 5.0)
    waves = [load_sound(source, seconds) for source in (content, style)]
    return transfer_audio(*waves, steps=steps, style_weight=10.0 ** float(log_style_weight), **options)


class AudioLab:
    """Move the content/style balance and hear it (``08_audio``).

    ``content`` is a wave; the style is chosen among ``styles`` (course sound names). **Run** makes
    ``steps`` L-BFGS steps with the other ``options`` of :func:`balance_transfer`.
    """

    def __init__(self, content: Any, styles: Sequence[str] = ("organ", "rain"), steps: int | None = None,
                 seconds: float = 5.0, **options: Any):
        import ipywidgets as widgets

        self.content, self.seconds, self.options = content, seconds, options
        self.steps = steps or default_steps()
        self.style = widgets.Dropdown(options=[name for name in styles if name in SOUNDS], description="style")
        low, high = LOG_STYLE_WEIGHTS
        self.log_style_weight = widgets.FloatSlider(value=float(np.log10(STYLE_WEIGHT)), min=low, max=high, step=0.5,
                                                    description="log₁₀ style", continuous_update=False,
                                                    readout_format=".1f", style={"description_width": "90px"})
        self.run_button = widgets.Button(description="Run", button_style="success", icon="play")
        self.status = widgets.HTML("Choose a style and a balance, then press Run.")
        self.player = widgets.Audio(value=b"", format="wav", autoplay=False, loop=False)
        self.picture = widgets.Image(value=b"", format="png", layout=widgets.Layout(width="400px"))
        self.result: AudioResult | None = None
        self.run_button.on_click(guarded(self.run, self._show))
        self.widget = widgets.VBox([widgets.HBox([self.style, self.log_style_weight, self.run_button]), self.status,
                                    self.player, self.picture])

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    def _show(self, text: str) -> None:
        self.status.value = text

    def run(self) -> None:
        """What Run does: the transfer at the chosen balance, then its sound and spectrogram (or the error)."""
        weight = self.log_style_weight.value
        self.run_button.disabled = True
        self._show(f"Running {self.steps} steps with style weight 10^{weight:g}…")
        try:
            result = balance_transfer(self.content, self.style.value, weight, self.steps, seconds=self.seconds,
                                      **self.options)
            self.result = result
            self.player.value = wav_bytes(result.wave, result.rate)
            self.picture.value = spectrogram_png(result.spectrogram, f"{self.style.value}, style weight 10^{weight:g}")
            self._show(f"{status_word(result.run)}: {result.message}, {result.run.seconds:.0f} s")
        except Exception as exc:  # noqa: BLE001 - every failure goes to the status line
            self._show(error_status(exc))
        finally:
            self.run_button.disabled = False
