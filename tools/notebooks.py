"""Keep the course notebooks clean (committed without outputs, in nbformat's canonical JSON).

    python tools/notebooks.py check notebooks   # exit 1 and list offenders
    python tools/notebooks.py clean notebooks   # strip outputs in place

A developer tool of this repository, not part of the ``nstutils`` wheel: it needs only the
standard library. ``make check-notebooks`` (part of ``make test``) runs the check, so a notebook committed with
outputs fails CI; ``make clean-notebooks`` runs the other. The learners' notebooks are nbgrader's own
``generate_assignment`` output (``make student``, see ``teach/README.md``), and the nbgrader cell metadata is
``tools/nbgrader_cells.py``'s.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import List


def _clean(nb: dict) -> dict:
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        cell.get("metadata", {}).pop("execution", None)
        cell.get("metadata", {}).pop("collapsed", None)
        cell.get("metadata", {}).pop("scrolled", None)
    nb.get("metadata", {}).pop("widgets", None)
    return nb


def normalised_text(nb: dict) -> str:
    """The canonical text of a clean notebook (what ``nbformat`` writes: 1-space indent, sorted keys)."""
    return json.dumps(_clean(nb), indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def problems(path: Path) -> List[str]:
    """Why ``path`` is not a clean, normalised notebook (empty list when it is)."""
    text = path.read_text(encoding="utf-8")
    nb = json.loads(text)
    found = []
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("outputs"):
            found.append(f"cell {index} has outputs")
        if cell.get("execution_count") is not None:
            found.append(f"cell {index} has an execution count")
    if not found and text != normalised_text(json.loads(text)):
        found.append("not normalised (run `make clean-notebooks`)")
    return found


def _check_or_clean(action: str, folder: Path) -> int:
    paths = sorted(folder.glob("*.ipynb"))
    bad = 0
    for path in paths:
        if action == "clean":
            path.write_text(normalised_text(json.loads(path.read_text(encoding="utf-8"))), encoding="utf-8")
            continue
        for problem in problems(path):
            print(f"{path}: {problem}", file=sys.stderr)
            bad += 1
    if action == "check":
        print(f"{len(paths)} notebooks checked, {bad} problems")
    return 1 if bad else 0


def main(argv: List[str] | None = None) -> int:
    """``check|clean FOLDER``; exit 0 when clean, 1 on problems."""
    parser = argparse.ArgumentParser(prog="tools/notebooks.py", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("check", "clean"), help="check: fail on outputs; clean: strip them")
    parser.add_argument("folder", type=Path, help="the notebooks' folder")
    args = parser.parse_args(argv)
    return _check_or_clean(args.action, args.folder)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
