"""The notebook checker used by `make test`: outputs and unnormalised JSON are caught, clean passes."""

from __future__ import annotations

import json

from nstutils.notebooks import main, normalised_text, problems


def _notebook(outputs):
    return {"cells": [{"cell_type": "code", "execution_count": 3 if outputs else None, "metadata": {},
                       "outputs": outputs, "source": "1 + 1"}],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def test_outputs_are_reported_and_cleaned(tmp_path):
    path = tmp_path / "dirty.ipynb"
    path.write_text(json.dumps(_notebook([{"output_type": "execute_result", "data": {"text/plain": "2"},
                                           "execution_count": 3, "metadata": {}}])))
    found = problems(path)
    assert "cell 0 has outputs" in found and "cell 0 has an execution count" in found
    assert main(["check", str(tmp_path)]) == 1
    assert main(["clean", str(tmp_path)]) == 0
    assert problems(path) == [] and main(["check", str(tmp_path)]) == 0


def test_unnormalised_json_is_reported(tmp_path):
    path = tmp_path / "compact.ipynb"
    path.write_text(json.dumps(_notebook([])))  # no indentation
    assert problems(path) == ["not normalised (run `make clean-notebooks`)"]
    path.write_text(normalised_text(_notebook([])))
    assert problems(path) == []
