"""The tree shows the architecture: the README's layout names every module, imports have no
cycle (TYPE_CHECKING imports counted) and point one way: nothing below the pipeline imports
it or a shell, and the pipeline imports no shell."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "wav2text"
SHELLS = ("cli", "arguments", "batch", "cluster", "evaluate", "__main__", "serving")
PIPELINE = "pipeline"
Graph = dict[str, set[str]]


def module_names() -> dict[str, Path]:
    """Dotted names below wav2text ("" for the package itself) to their files."""
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _below(name: str) -> str | None:
    """A dotted name below wav2text ("" for the package), or None for another package's."""
    if name == "wav2text":
        return ""
    return name.removeprefix("wav2text.") if name.startswith("wav2text.") else None


def imported(node: ast.Import | ast.ImportFrom, package: list[str], known: set[str]) -> set[str]:
    """The package's modules one import statement names."""
    if isinstance(node, ast.Import):
        return {m for m in (_below(a.name) for a in node.names) if m in known}
    if node.level:
        parts = package[: len(package) - node.level + 1] + ([node.module] if node.module else [])
        module: str | None = ".".join(parts)
    else:
        module = _below(node.module or "")
    if module is None:
        return set()
    submodules = {f"{module}.{a.name}".lstrip(".") for a in node.names} & known
    rest = {module} if module in known and len(submodules) < len(node.names) else set()
    return submodules | rest


def import_graph() -> Graph:
    """Every import between the package's modules, wherever it is written."""
    names = module_names()
    graph: Graph = {}
    for name, path in names.items():
        parts = [p for p in name.split(".") if p]
        package = parts if path.name == "__init__.py" else parts[:-1]
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom):
                edges |= imported(node, package, set(names))
        graph[name] = edges - {name}
    return graph


def cycles(graph: Graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def tier(name: str) -> int:
    """0: the stages and what they share; 1: the pipeline; 2: the public API and shells."""
    if name == "" or name.split(".")[0] in SHELLS:
        return 2
    return 1 if name == PIPELINE else 0


def upward(graph: Graph) -> list[tuple[str, str]]:
    return sorted((a, b) for a, edges in graph.items() for b in edges if tier(b) > tier(a))


def test_imports_have_no_cycle() -> None:
    assert cycles(import_graph()) == []


def test_no_module_imports_one_above_it() -> None:
    assert upward(import_graph()) == []


def test_the_checks_catch_what_they_guard_against() -> None:
    graph = import_graph()
    graph["rate"] = graph["rate"] | {"model"}  # model -> runtime -> options -> rate
    assert any({"rate", "options"} <= set(c) for c in cycles(graph))
    graph["segments"] = graph["segments"] | {"serving.live", "pipeline"}
    assert ("segments", "pipeline") in upward(graph)
    assert ("segments", "serving.live") in upward(graph)


def test_type_checking_imports_are_counted() -> None:
    source = (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .model import CTCModel\n"
    )
    node = ast.parse(source).body[1].body[0]  # type: ignore[attr-defined]
    assert imported(node, ["estimation"], set(module_names())) == set()  # .model: none there
    assert imported(node, [], set(module_names())) == {"model"}
    assert "model" in import_graph()["estimation.estimator"]  # its TYPE_CHECKING import


def readme_layout(text: str | None = None) -> set[str]:
    """The files and folders the README's layout block names, as paths below wav2text/: a
    name on a line indented 6 belongs to the folder named last at indent 4."""
    text = text if text is not None else (ROOT / "README.md").read_text()
    block = text.split("## Layout", 1)[1].split("\n## ", 1)[0]
    named: set[str] = set()
    folder = ""
    for line in block.splitlines():
        indent = len(line) - len(line.lstrip())
        if indent < 4:  # prose, not the layout itself
            continue
        words = re.findall(r"[\w/]+\.py|\b\w+/(?=\s|$)", line)
        if indent == 4:
            folder = words[0] if words and words[0].endswith("/") else ""
        named |= {folder + w if indent == 6 else w for w in words}
    return named


def tree() -> set[str]:
    files = {  # a subpackage's __init__.py is named by its folder
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if p.name != "__init__.py" or p.parent == PACKAGE
    }
    folders = {
        f"{p.relative_to(PACKAGE)}/"
        for p in PACKAGE.rglob("*")
        if p.is_dir() and p.name != "__pycache__" and "bundled" not in p.parts
    }
    return files | folders


def test_the_readme_layout_names_every_module() -> None:
    named = readme_layout()
    assert tree() - named == set(), "modules missing from the README's layout"
    assert named - tree() == set(), "the README's layout names modules that do not exist"


@pytest.mark.parametrize("line", ["    pipeline.py ", "      decide.py "])
def test_a_module_left_out_of_the_readme_is_caught(line: str) -> None:
    text = (ROOT / "README.md").read_text()
    kept = [row for row in text.splitlines() if not row.startswith(line)]
    assert len(kept) == len(text.splitlines()) - 1
    assert tree() - readme_layout("\n".join(kept))
