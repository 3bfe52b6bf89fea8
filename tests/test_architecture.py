"""The package's layers, read from its source: an engine that knows nothing of the course, and
the course on top of it (README, "How it is built").

Each rule is checked over every module of ``nstutils``, counting imports written inside
functions, so a cycle or a layer breach hidden in a function body fails here.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nstutils"
COURSE = "nstutils.course"
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: Dict[str, Path] = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def resolve(importer: str, node: ast.ImportFrom, is_package: bool = False) -> str:
    """The absolute module an ``ImportFrom`` names (relative imports resolved against ``importer``)."""
    if not node.level:
        return node.module or ""
    package = importer.split(".")
    if not is_package:
        package = package[:-1]
    package = package[: len(package) - (node.level - 1)]
    return ".".join(package + ([node.module] if node.module else []))


def imports_of(name: str) -> List[Tuple[str, str, int]]:
    """``(module, imported name or "", line)`` for every nstutils import in ``name``, anywhere in it."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, "", node.lineno) for alias in node.names if alias.name.startswith("nstutils")]
        elif isinstance(node, ast.ImportFrom):
            target = resolve(name, node, MODULES[name].name == "__init__.py")
            if not target.startswith("nstutils"):
                continue
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                if submodule in MODULES:  # `from . import data` imports a module, not a name
                    found.append((submodule, "", node.lineno))
                else:
                    found.append((target, alias.name, node.lineno))
    return found


def graph() -> Dict[str, Set[str]]:
    edges: Dict[str, Set[str]] = {}
    for name in MODULES:
        targets = {target for target, _, _ in imports_of(name) if target in MODULES and target != name}
        # importing a package's submodule runs the package's __init__ first, but that is not a cycle
        # of the code's own making: only the modules named count
        edges[name] = targets
    return edges


def find_cycle(edges: Dict[str, Set[str]]) -> List[str]:
    state: Dict[str, int] = {}  # 1 while on the path being walked, 2 once every path from it is done
    stack: List[str] = []

    def visit(nodes) -> List[str]:
        """Depth first from each of ``nodes`` in turn: the first cycle met, closed ([a, b, a]), or []."""
        for node in nodes:
            if state.get(node) == 1:
                return stack[stack.index(node):] + [node]
            if node in state:
                continue
            state[node] = 1
            stack.append(node)
            cycle = visit(sorted(edges.get(node, ())))
            if cycle:
                return cycle
            stack.pop()
            state[node] = 2
        return []

    return visit(sorted(edges))


def test_the_checker_finds_a_cycle_and_resolves_relative_imports():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) == []
    two_up = ast.parse("from ..errors import NSTError").body[0]
    assert resolve("nstutils.course.check.core", two_up) == "nstutils.course.errors"
    assert resolve("nstutils.course.check", two_up, is_package=True) == "nstutils.course.errors"
    assert resolve("nstutils.course.paper", two_up) == "nstutils.errors"
    here = ast.parse("from . import data").body[0]
    assert resolve("nstutils", here, is_package=True) == "nstutils"


def test_no_import_cycle_counting_imports_inside_functions():
    cycle = find_cycle(graph())
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_the_engine_never_imports_the_course():
    assert COURSE in MODULES, "the course layer lives in nstutils/course/"
    breaches = [f"{name}:{line} imports {target}"
                for name in MODULES if not name.startswith(COURSE)
                for target, _, line in imports_of(name) if target.startswith(COURSE)]
    assert not breaches, breaches


def test_no_private_name_is_imported_from_another_module():
    private = [f"{name}:{line} imports {target}.{imported}"
               for name in MODULES
               for target, imported, line in imports_of(name)
               if imported.startswith("_") and not imported.startswith("__") and target != name]
    private += [f"{name}:{line} imports {target}"
                for name in MODULES
                for target, _, line in imports_of(name)
                if any(part.startswith("_") and not part.startswith("__") for part in target.split("."))]
    assert not private, private


def long_functions(source: str) -> List[Tuple[str, int]]:
    tree = ast.parse(source)
    return [(node.name, node.end_lineno - node.lineno + 1) for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]


def test_the_length_rule_sees_a_long_function():
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    assert long_functions(f"def f():\n{body}\n") == [("f", MAX_FUNCTION_LINES + 1)]
    assert long_functions("def g():\n    return 1\n") == []


def test_functions_and_modules_are_short_enough_to_read():
    too_long = [f"{name}.{function} ({lines} lines)" for name, path in MODULES.items()
                for function, lines in long_functions(path.read_text(encoding="utf-8"))]
    too_long += [f"{name} ({n} lines)" for name, path in MODULES.items()
                 if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES]
    assert not too_long, too_long


def test_no_dated_history_tables_in_comments():
    pattern = re.compile(r"\s\((?:before|now)\)", re.IGNORECASE)
    found = [f"{name}:{i}" for name, path in MODULES.items()
             for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert not found, found


def test_every_exception_the_package_raises_is_from_the_nsterror_family():
    """``raise ValueError(...)`` and friends reach users as tracebacks; raise an NSTError subclass."""
    builtin = {"ValueError", "RuntimeError", "TypeError", "KeyError", "OSError", "IOError", "Exception",
               "FileNotFoundError", "FileExistsError", "PermissionError", "IndexError", "AssertionError"}
    found = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                func = node.exc.func
                called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                if called in builtin:
                    found.append(f"{name}:{node.lineno} raises {called}")
    assert not found, found


def test_the_wheel_holds_no_developer_tooling():
    assert not (PACKAGE / "notebooks.py").exists(), "notebook cleaning and checking belong in tools/"


BLOCKER = textwrap.dedent("""
    import importlib.abc, sys

    class Block(importlib.abc.MetaPathFinder):
        BLOCKED = ("matplotlib", "ipywidgets", "IPython", "jupyterlab", "jupyter_server", "notebook")

        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in self.BLOCKED:
                raise ImportError(f"{name} is blocked by the test")
            return None

    sys.meta_path.insert(0, Block())
""")


def run_blocked(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(PACKAGE.parent)]),
               NSTUTILS_FAST="1", TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600,
                          cwd=tmp_path)


def test_the_blocker_really_blocks(tmp_path):
    done = run_blocked("import matplotlib", tmp_path)
    assert done.returncode != 0 and "blocked by the test" in done.stderr


def test_stylize_and_the_cli_need_no_notebook_packages(tmp_path):
    """Someone who only calls ``stylize`` or ``nst stylize`` needs neither JupyterLab nor matplotlib."""
    library = run_blocked(textwrap.dedent("""
        import numpy as np, sys
        from nstutils import stylize
        rng = np.random.default_rng(0)
        result = stylize(rng.uniform(size=(40, 48, 3)).astype("float32"),
                         rng.uniform(size=(40, 48, 3)).astype("float32"), max_dim=48, steps=2)
        assert result.image.shape == (40, 48, 3), result.image.shape
        assert not any(m.split(".")[0] in ("matplotlib", "ipywidgets", "IPython") for m in sys.modules)
        print("library ok")
    """), tmp_path)
    assert library.returncode == 0, library.stderr[-3000:]
    assert "library ok" in library.stdout
    rng = __import__("numpy").random.default_rng(1)
    from PIL import Image
    for name in ("photo.png", "painting.png"):
        Image.fromarray((rng.uniform(size=(40, 48, 3)) * 255).astype("uint8")).save(tmp_path / name)
    cli = run_blocked(textwrap.dedent(f"""
        import sys
        from nstutils.cli import main
        sys.exit(main(["stylize", {str(tmp_path / 'photo.png')!r}, {str(tmp_path / 'painting.png')!r},
                       "-o", {str(tmp_path / 'out.png')!r}, "--size", "48", "--steps", "2"]))
    """), tmp_path)
    assert cli.returncode == 0, cli.stderr[-3000:] + cli.stdout[-2000:]
    assert (tmp_path / "out.png").is_file()
