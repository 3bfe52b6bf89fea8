"""Keep the course notebooks clean: no outputs, no execution counts, normalised JSON.

    python -m nstutils.notebooks check notebooks   # exit 1 and list offenders
    python -m nstutils.notebooks clean notebooks   # strip outputs in place

``make test`` runs the check, so a notebook committed with outputs fails CI.
"""

from __future__ import annotations

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


def main(argv: List[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] not in ("check", "clean"):
        print("usage: python -m nstutils.notebooks check|clean FOLDER", file=sys.stderr)
        return 2
    command, folder = argv
    paths = sorted(Path(folder).glob("*.ipynb"))
    bad = 0
    for path in paths:
        if command == "clean":
            path.write_text(normalised_text(json.loads(path.read_text(encoding="utf-8"))), encoding="utf-8")
            continue
        for problem in problems(path):
            print(f"{path}: {problem}", file=sys.stderr)
            bad += 1
    if command == "check":
        print(f"{len(paths)} notebooks checked, {bad} problems")
    return 1 if bad else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
