"""nstutils.settings: pure validation, and field metadata the CLI and widgets read (field_spec)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields

import pytest

from nstutils.errors import SettingsError
from nstutils.recipes import TUTORIAL_CONTENT_LAYERS, TUTORIAL_STYLE_LAYERS, TUTORIAL_STYLE_WEIGHT
from nstutils.settings import (OBJECTIVE_FIELDS, RUN_FIELDS, FieldSpec, ObjectiveSettings, RunSettings, field_spec,
                               make_settings)


def test_every_field_has_a_spec_with_help_and_kind():
    for name in OBJECTIVE_FIELDS + RUN_FIELDS:
        spec = field_spec(name)
        assert isinstance(spec, FieldSpec) and spec.name == name and spec.help and spec.kind
        if spec.kind == "choice":
            assert spec.choices and spec.default in spec.choices
        else:
            assert spec.choices == ()


def test_specs_match_the_dataclass_defaults_and_the_recipes():
    for cls in (ObjectiveSettings, RunSettings):
        for item in fields(cls):
            assert field_spec(item.name).default == item.default
    assert field_spec("content_layers").default == TUTORIAL_CONTENT_LAYERS
    assert field_spec("style_layers").default == TUTORIAL_STYLE_LAYERS
    assert field_spec("style_weight").default == TUTORIAL_STYLE_WEIGHT
    assert field_spec("optimizer").choices == ("lbfgs", "adam", "gd")
    with pytest.raises(SettingsError, match="Did you mean 'style_weight'"):
        field_spec("style_wieght")


@pytest.mark.parametrize("name", ["max_dim", "style_scale", "steps", "seed", "stop_window", "max_steps"])
def test_validation_enforces_the_bounds_the_spec_states(name):
    spec = field_spec(name)
    whole = spec.kind == "int"
    below = spec.minimum - 1 if whole else spec.minimum / 2
    with pytest.raises(SettingsError):
        make_settings(**{name: below})
    make_settings(**{name: spec.minimum})
    if spec.maximum is not None:
        with pytest.raises(SettingsError):
            make_settings(**{name: spec.maximum + 1})
        make_settings(**{name: spec.maximum})


def test_validation_is_pure_no_tensorflow_and_auto_stays_auto():
    code = ("import sys; from nstutils.settings import make_settings; "
            "s = make_settings(style_layer_weights=[1, 2, 3, 4, 5], max_dim=64); "
            "assert s.objective.compute_dtype == 'auto', s; "
            "assert 'tensorflow' not in sys.modules, 'settings imported TensorFlow'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
