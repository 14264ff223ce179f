"""What code a job's numbers depend on: the package modules its entry modules import, hashed by
their normalized syntax trees.

A job depends on the modules it runs, found by following `import` statements inside the package
from its entry modules (parent packages included, since importing a module runs them). Each module
counts by its syntax tree without docstrings or line numbers, so a comment, a docstring or a
reformatted line changes no digest, and a module that no entry imports is never read.

Words for people never shape a number, so they count nowhere:
- what a `raise` statement passes to its exception (the error message) is dropped from the tree;
- the TEXT_MODULES (exception classes, recovery hints) are neither hashed nor followed; a test
  keeps them free of anything that computes.
Standard library only: the Snakefile imports it at every plan.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

PACKAGE = __name__.split(".")[0]
ROOT = Path(__file__).resolve().parent
# Modules of words only: the errors a job can raise and the commands that recover from them.
TEXT_MODULES = (f"{PACKAGE}.errors", f"{PACKAGE}.recovery")


def module_file(name: str, root: Path = ROOT) -> Path | None:
    """The source file of a package module (a package's __init__.py) under `root`, or None."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = Path(root).joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _absolute(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    anchor = importer.split(".")
    anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
    return ".".join([*anchor, node.module] if node.module else anchor)


def _stamp(path: Path) -> tuple[str, int, int]:
    """A file as the caches below key it: an edited file is read again."""
    stat = path.stat()
    return str(path), stat.st_mtime_ns, stat.st_size


def imported_modules(name: str, root: Path = ROOT) -> set[str]:
    """Package modules that module `name` imports anywhere in its body (function-level imports too)."""
    path = module_file(name, root)
    if path is None:
        return set()
    return {module for module in _imports(name, *_stamp(path)) if module_file(module, root) is not None}


# One Snakemake plan hashes the same modules for many jobs: each file is parsed once per content.
@functools.lru_cache(maxsize=4096)
def _imports(name: str, path: str, mtime_ns: int, size: int) -> frozenset[str]:
    found = set()
    for node in ast.walk(ast.parse(Path(path).read_text(), path)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, name, Path(path).name == "__init__.py")
            found.add(base)
            # `from package import submodule` imports the submodule too
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return frozenset(found)


def _with_parents(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


def closure(entries: tuple[str, ...] | list[str], root: Path = ROOT) -> list[str]:
    """Every package module that importing `entries` runs, sorted."""
    missing = [entry for entry in entries if module_file(entry, root) is None]
    if missing:
        raise ValueError(f"no such module in the {PACKAGE} package: {', '.join(missing)}")
    todo, seen = [m for entry in entries for m in _with_parents(entry)], set()
    while todo:
        module = todo.pop()
        if module in seen or module in TEXT_MODULES or module_file(module, root) is None:
            continue
        seen.add(module)
        for imported in imported_modules(module, root):
            todo.extend(_with_parents(imported))
    return sorted(seen)


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
    return tree


def _strip_error_messages(tree: ast.AST) -> ast.AST:
    """`raise SomeError(...)` keeps the exception's name and loses what it is told."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            node.exc.args, node.exc.keywords = [], []
    return tree


def normalized_source(path: Path) -> str:
    """The module's syntax tree without docstrings, comments, positions or error messages."""
    return _normalized(*_stamp(Path(path)))


@functools.lru_cache(maxsize=4096)
def _normalized(path: str, mtime_ns: int, size: int) -> str:
    tree = _strip_error_messages(_strip_docstrings(ast.parse(Path(path).read_text(), path)))
    return ast.dump(tree, annotate_fields=True, include_attributes=False)


def digest(entries: tuple[str, ...] | list[str], root: Path = ROOT) -> str:
    """A short hash of the code that importing `entries` runs (see the module docstring). `root` is
    the package's source directory: the Snakefile hashes its own checkout's, the jobs their own."""
    hasher = hashlib.sha256()
    for module in closure(entries, root):
        hasher.update(module.encode() + b"\0" + normalized_source(module_file(module, root)).encode() + b"\0")
    return hasher.hexdigest()[:16]


# The entry modules of each workflow stage; the analyses name theirs in grokstudy.analyses.registry.
# A job that builds or loads a model adds the module of the architecture its model spec names
# (grokstudy.models.architecture_module), which the model interface imports by name.
DATA = ("grokstudy.jobs.prepare",)
TRAINING = ("grokstudy.jobs.train",)
CURVE_FIGURES = ("grokstudy.jobs.figure",)
CLAIMS = ("grokstudy.jobs.claims",)
REPORT = ("grokstudy.jobs.report",)
ANALYSIS = ("grokstudy.jobs.analyze",)
ANALYSIS_NULLS = ("grokstudy.jobs.analyze_nulls",)
ANALYSIS_FIGURE = ("grokstudy.jobs.analysis_figure",)
MONITOR = ("grokstudy.jobs.monitor",)
MONITOR_BAND = ("grokstudy.jobs.monitor_band",)
MONITOR_TUNING = ("grokstudy.jobs.monitor_tune",)
MONITOR_LEADS = ("grokstudy.jobs.monitor_leads",)
MONITOR_FIGURES = ("grokstudy.jobs.monitor_figures",)
# Imported by name where a preset scores monitors (the report's monitors table).
MONITORS_VIEW = "grokstudy.monitors.verdicts"


def training(architecture_module: str) -> tuple[str, ...]:
    """The entry modules of a training job: the loop and the run's architecture."""
    return (*TRAINING, architecture_module)
