"""Checkpoints of a long run: the current image, the step count, the settings and the
optimiser state, written atomically so that ``nst stylize --resume`` can go on after a
crash or Ctrl-C. Introduced with the command line in ``05_full_transfer``.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from .errors import SettingsError
from .settings import Settings


@dataclass
class Checkpoint:
    """What a checkpoint holds: ``image`` ``[H, W, 3]``, the ``step`` it was taken at, the
    ``settings`` (:func:`comparable_settings`) and the optimiser ``state`` (Adam: m, v, t)."""

    image: np.ndarray
    step: int
    settings: Dict[str, Any]
    state: Optional[Dict[str, Any]]


def checkpoint_path(output: Path) -> Path:
    """Where ``--checkpoint-every`` keeps its state: ``OUTPUT.checkpoint.npz``."""
    return output.with_name(output.name + ".checkpoint.npz")


def comparable_settings(settings: Settings) -> Dict[str, Any]:
    """The settings that must match for a resume (steps may differ only by what is left)."""
    data = settings.to_dict()
    for key in ("steps", "max_steps"):
        data.pop(key, None)
    return data


def save_checkpoint(path: Path, image: np.ndarray, step: int, settings: Dict[str, Any],
                    state: Optional[Dict[str, Any]]) -> None:
    """Atomically write the current image, step count, settings and optimiser state; a file that cannot be
    written raises :class:`~nstutils.errors.OutputError` (one line) and leaves no temporary file."""
    from .cache import atomic_path, write_fault

    arrays = {"image": np.asarray(image, np.float32), "step": np.array(step),
              "settings": np.array(json.dumps(settings, sort_keys=True))}
    for key, value in (state or {}).items():
        arrays[f"state_{key}"] = np.asarray(value)
    try:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, **arrays)
    except OSError as error:
        raise write_fault(path, error) from None


def load_checkpoint(path: Path) -> Checkpoint:
    """The :class:`Checkpoint` at ``path``, or SettingsError if there is none or it is unusable."""
    if not path.exists():
        raise SettingsError(f"--resume: no checkpoint at {path}; run with --checkpoint-every N first")
    try:
        with np.load(path) as data:
            state = {key[6:]: data[key] for key in data.files if key.startswith("state_")}
            if "t" in state:
                state["t"] = int(state["t"])
            return Checkpoint(image=data["image"], step=int(data["step"]),
                              settings=json.loads(str(data["settings"])), state=state or None)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise SettingsError(f"--resume: checkpoint {path} is damaged ({exc}); delete it and start again") from None


def resume_start(checkpoint: Checkpoint, path: Path, settings: Settings, content_shape) -> np.ndarray:
    """The start image ``[1, H, W, 3]`` of a resumed run; SettingsError unless ``checkpoint`` was made
    by the same settings, has steps left, and fits the content's size."""
    if checkpoint.settings != comparable_settings(settings):
        raise SettingsError(f"--resume: {path} was made with different settings; use the same options")
    if checkpoint.step >= settings.run.step_limit:
        raise SettingsError(f"--resume: the checkpoint already has all {settings.run.step_limit} steps")
    image = checkpoint.image
    start = image[np.newaxis] if image.ndim == 3 else image
    if start.shape != tuple(content_shape):
        raise SettingsError("--resume: the checkpoint's image size differs from this run's")
    return start
