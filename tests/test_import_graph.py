"""The package's import graph: no cycles, and no private name taken from another module.

:func:`import_problems` reads every module of the ``recsys`` package with :mod:`ast` (imports
inside functions count too, since a cycle through a late import is still a cycle) and reports

* every import cycle (a strongly connected group of modules), shown as one closed path;
* every ``from recsys.x import _name`` (or ``x._name`` through an imported module) of a
  private name defined in another module. Private *modules* (``recsys._atomic``) may be
  imported; their private names may not.

An edge goes to the module that an import executes by name: ``import recsys`` and
``from recsys.data import load`` point to the package's ``__init__``, while
``from recsys.data import download`` points to the sub-module ``recsys.data.download``. The
parents a Python import also runs implicitly are not edges (every module would otherwise sit
in a cycle with ``recsys/__init__.py``).

Imports under ``if TYPE_CHECKING:`` are not edges: they never run (a module may name
another's class in its annotations without depending on it at run time).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "recsys"


def _module_names(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file under the package ``root``."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    """Absolute name of ``from <level dots><target> import ...`` written in ``module``."""
    if not level:
        return target or ""
    base = module.split(".")
    base = base[: len(base) - level + (1 if is_package else 0)]
    return ".".join(base + ([target] if target else []))


def _is_type_checking(node: ast.AST) -> bool:
    """``if TYPE_CHECKING:`` (or ``if typing.TYPE_CHECKING:``)."""
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` except those only type checkers read (``if TYPE_CHECKING:``
    bodies; their ``else`` branches run and are kept)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if _is_type_checking(node):
            stack.extend(node.orelse)
            stack.append(node.test)
        else:
            stack.extend(ast.iter_child_nodes(node))


def _imports(module: str, path: Path, modules: dict[str, Path]
             ) -> tuple[set[str], list[tuple[str, str]]]:
    """Modules of the package that ``module`` imports, and the (module, name) pairs of names
    it takes from them (``from m import name`` and ``alias.name`` for an imported module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    edges: set[str] = set()
    names: list[tuple[str, str]] = []
    aliases: dict[str, str] = {}
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    edges.add(alias.name)
                    if alias.asname:
                        aliases[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, is_package, node.level, node.module)
            if source not in modules:
                continue
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if submodule in modules:  # ``from package import module``
                    edges.add(submodule)
                    aliases[alias.asname or alias.name] = submodule
                else:
                    edges.add(source)
                    names.append((source, alias.name))
    for node in _runtime_nodes(tree):  # ``alias._name`` on a module imported under ``alias``
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in aliases):
            names.append((aliases[node.value.id], node.attr))
    edges.discard(module)
    return edges, names


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected group of more than one module (Tarjan), as a closed path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_closed_path(graph, set(group)) for group in groups]


def _closed_path(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A path ``a -> b -> ... -> a`` inside one strongly connected group (breadth first)."""
    start = min(group)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & group):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if nxt not in previous:
                    previous[nxt] = node
                    following.append(nxt)
        frontier = following
    return sorted(group)  # pragma: no cover - a strongly connected group always closes


def _in_scope(module: str, scope: tuple[str, ...] | None) -> bool:
    return scope is None or any(module == s or module.startswith(s + ".") for s in scope)


def import_problems(root: Path = ROOT, scope: tuple[str, ...] | None = None) -> list[str]:
    """One line per import cycle and per private name imported across modules.

    Parameters
    ----------
    root : Path
        The package folder (``recsys/``).
    scope : tuple of str, optional
        Module names (and their sub-modules) to report on: a cycle is reported when one of
        its modules is in scope, a private import when the importing or the imported module
        is. None: the whole package.
    """
    modules = _module_names(root)
    graph: dict[str, set[str]] = {}
    problems = []
    for module, path in modules.items():
        graph[module], names = _imports(module, path, modules)
        for source, name in names:
            private = name.startswith("_") and not name.startswith("__")
            if private and source != module and (
                    _in_scope(module, scope) or _in_scope(source, scope)):
                problems.append(f"{module} takes the private name {name} from {source}")
    for cycle in _cycles(graph):
        if any(_in_scope(m, scope) for m in cycle):
            problems.append("import cycle: " + " -> ".join(cycle))
    return problems


def test_the_package_has_no_import_cycles_and_no_private_imports():
    assert import_problems() == []


def test_the_checker_finds_cycles_and_private_imports(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from pkg.sub import a\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "a.py").write_text("def f():\n    from pkg.sub import b\n")
    (package / "sub" / "b.py").write_text("import pkg\nfrom pkg.sub.c import _hidden\n")
    (package / "sub" / "c.py").write_text("from . import d as dee\nx = dee._secret\n_hidden = 1\n")
    (package / "sub" / "d.py").write_text("from pkg.sub.c import x\n_secret = 2\n")
    (package / "sub" / "e.py").write_text(  # a typing-only import is no edge
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.sub import f\n")
    (package / "sub" / "f.py").write_text("from pkg.sub import e\n")
    problems = import_problems(package)
    assert "pkg.sub.b takes the private name _hidden from pkg.sub.c" in problems
    assert "pkg.sub.c takes the private name _secret from pkg.sub.d" in problems
    assert "import cycle: pkg -> pkg.sub.a -> pkg.sub.b -> pkg" in problems
    assert "import cycle: pkg.sub.c -> pkg.sub.d -> pkg.sub.c" in problems
    assert len(problems) == 4
    assert import_problems(package, scope=("pkg.sub.d",)) == [
        "pkg.sub.c takes the private name _secret from pkg.sub.d",
        "import cycle: pkg.sub.c -> pkg.sub.d -> pkg.sub.c",
    ]
