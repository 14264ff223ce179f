"""Code dependencies: a job's digest follows the modules its entry imports, and only what they compute."""

import textwrap
from pathlib import Path

import pytest

from grokstudy import code_digest
from grokstudy.analyses import registry


def _package(root, files: dict[str, str]):
    for name, text in files.items():
        path = root / "grokstudy" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root / "grokstudy"


@pytest.fixture
def package(tmp_path):
    return _package(
        tmp_path,
        {
            "__init__.py": '"""Top."""\n',
            "stage.py": (
                '"""Entry."""\nfrom grokstudy.sub import helper\nfrom . import shared\n\n'
                "def f():\n    return helper.g() + 1\n"
            ),
            "shared.py": "X = 1\n",
            "sub/__init__.py": "",
            "sub/helper.py": "def g():\n    import grokstudy.deep\n    return 2\n",
            "deep.py": "Y = 3\n",
            "unrelated.py": "Z = 4\n",
        },
    )


def test_the_closure_follows_imports_parents_and_function_level_imports(package):
    assert code_digest.closure(["grokstudy.stage"], root=package) == [
        "grokstudy",
        "grokstudy.deep",
        "grokstudy.shared",
        "grokstudy.stage",
        "grokstudy.sub",
        "grokstudy.sub.helper",
    ]


def test_comments_docstrings_and_layout_change_no_digest(package):
    before = code_digest.digest(["grokstudy.stage"], root=package)
    stage = package / "stage.py"
    stage.write_text(
        '"""Entry, reworded."""\nfrom grokstudy.sub import helper  # why\nfrom . import shared\n\n\n'
        'def f():\n    """Docs."""\n    return (helper.g()\n            + 1)\n'
    )
    (package / "new_module.py").write_text("W = 5\n")
    (package / "unrelated.py").write_text("Z = 5\n")
    assert code_digest.digest(["grokstudy.stage"], root=package) == before


@pytest.mark.parametrize("module", ["stage.py", "deep.py", "shared.py"])
def test_a_changed_number_anywhere_in_the_closure_changes_the_digest(package, module):
    before = code_digest.digest(["grokstudy.stage"], root=package)
    path = package / module
    text = path.read_text()
    path.write_text(text.replace("1", "7") if module == "stage.py" else text.replace("= ", "= 10 + "))
    assert code_digest.digest(["grokstudy.stage"], root=package) != before


def test_an_unknown_entry_module_is_refused(package):
    with pytest.raises(ValueError, match=r"no such module in the grokstudy package: grokstudy\.missing"):
        code_digest.closure(["grokstudy.missing"], root=package)


def test_the_stages_of_the_study_import_only_their_own_code():
    training = set(code_digest.closure(code_digest.training("grokstudy.models.gpt2")))
    assert "grokstudy.training.step" in training and "grokstudy.models.gpt2" in training
    # A GPT-2 run depends on no other architecture; a looped run on GPT-2's, which it extends.
    assert not {m for m in training if m.startswith("grokstudy.models.looped")}
    looped = set(code_digest.closure(code_digest.training("grokstudy.models.looped_gpt2")))
    assert {"grokstudy.models.gpt2", "grokstudy.models.looped_gpt2"} <= looped
    assert not {m for m in training if m.startswith(("grokstudy.analyses", "grokstudy.figures", "grokstudy.claims"))}
    assert "grokstudy.cli" not in training
    per_analysis = {a.name: set(code_digest.closure([*code_digest.ANALYSIS, a.module])) for a in registry.ANALYSES}
    # Each analysis reads its own module, never another analysis's.
    for name, modules in per_analysis.items():
        others = {a.module for a in registry.ANALYSES if a.name != name}
        assert registry.BY_NAME[name].module in modules and not modules & others, name
    # The registry is read by the Snakefile only: adding a row changes no analysis job's code.
    assert all("grokstudy.analyses.registry" not in modules for modules in per_analysis.values())


def test_error_messages_change_no_digest_but_what_is_raised_does(package):
    stage = package / "stage.py"
    stage.write_text(stage.read_text() + "\n\ndef check(x):\n    if x:\n        raise ValueError(f'bad {x}')\n")
    before = code_digest.digest(["grokstudy.stage"], root=package)
    stage.write_text(stage.read_text().replace("f'bad {x}'", "f'x is {x}, which is not allowed'"))
    assert code_digest.digest(["grokstudy.stage"], root=package) == before
    stage.write_text(stage.read_text().replace("raise ValueError", "raise KeyError"))
    assert code_digest.digest(["grokstudy.stage"], root=package) != before


def test_the_text_modules_hold_words_only_and_no_stage_reads_them():
    """Exception classes and recovery hints: no digest covers them, so they must compute nothing."""
    import ast
    import inspect

    from grokstudy import errors, recovery

    assert all(
        issubclass(obj, Exception)
        for _, obj in inspect.getmembers(errors, inspect.isclass)
        if obj.__module__ == errors.__name__
    )
    imported = {
        node.module
        for node in ast.walk(ast.parse(inspect.getsource(recovery)))
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("grokstudy")
    }
    assert imported <= {"grokstudy.artifacts.classes"}
    returns = [fn.__annotations__.get("return") for _, fn in inspect.getmembers(recovery, inspect.isfunction)]
    assert all(r in (str, Path) or "str" in str(r) for r in returns), returns
    for stage in (code_digest.DATA, code_digest.TRAINING, code_digest.ANALYSIS, code_digest.CLAIMS):
        modules = code_digest.closure(stage)
        assert not set(modules) & set(code_digest.TEXT_MODULES)
        assert not [m for m in modules if m.startswith(("grokstudy.artifacts", "grokstudy.cli", "grokstudy.config"))]


def _package_modules() -> list[str]:
    modules = []
    for path in sorted(code_digest.ROOT.rglob("*.py")):
        parts = list(path.relative_to(code_digest.ROOT.parent).with_suffix("").parts)
        modules.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return modules


def test_no_two_modules_import_each_other_even_through_others():
    """No import cycle in the package, function-level imports included (a depth-first search)."""
    graph = {m: code_digest.imported_modules(m) - {m} for m in _package_modules()}
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for imported in sorted(graph.get(module, ())):
            assert state.get(imported) != "open", " -> ".join([*path, module, imported])
            if imported not in state:
                visit(imported, [*path, module])
        state[module] = "done"

    for module in graph:
        if module not in state:
            visit(module, [])
