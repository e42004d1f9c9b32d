"""The shape of the package (issue 21), checked from its source: data flows one way (no import
cycle), the compiled C core is reached through one bindings layer, and the public namespace
holds public names only, the renamed ones still answering with a DeprecationWarning.

The import graph is built with ``ast`` from the files of the checkout's ``ann/``: nothing is
imported to build it. Every ``import`` and ``from ... import`` counts wherever it is written --
at module level, inside a function (a "lazy" import still runs, and a cycle through one fails
as soon as both functions are called), inside a class. A package's ``__init__`` importing its
own modules is no cycle: Python imports a package before any module of it, but a module reaches
back into its package only through an import statement of its own, which counts.

Imports under ``if TYPE_CHECKING:`` do not count: they are never executed, so they cannot make
an import fail or see a half-initialised module, and annotating a parameter with the class of
the caller (``FitRun(network: Network)``) is documentation, not a dependency of behaviour. They
are collected all the same (``type_only``), so a test can see them. Dynamic imports
(``importlib.import_module``, which ``ann.__getattr__`` and ``ann.cli`` use to load a public
name or a command's module on first use) are not in the graph.

Each check is also run on small packages written to a temporary folder, with the mistake it
exists to catch, so that none of them passes vacuously.
"""

from __future__ import annotations

import ast
import textwrap
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import run_python

import ann

SOURCE = Path(__file__).resolve().parents[1] / "ann"

# The bindings layer: the only package whose modules may use cffi's ``ffi`` and ``lib``, and
# the one module of it that imports the compiled extension.
BINDINGS = "_c"
CORE = "_core"


# ---- reading the source ---------------------------------------------------------------------


@dataclass
class Module:
    name: str
    path: Path
    is_package: bool
    imports: set[str] = field(default_factory=set)  # modules of the package, run at import
    type_only: set[str] = field(default_factory=set)  # under `if TYPE_CHECKING:` only
    imports_core: bool = False  # imports the compiled extension (CORE)
    uses_cffi: list[str] = field(default_factory=list)  # "line N: lib.x" / "imports ffi"


def module_names(root: Path) -> dict[str, tuple[Path, bool]]:
    """Every module under root (a package folder): dotted name -> (file, is it a package)."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if package else parts)
        found[name] = (path, package)
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, type_only: bool = False):
    """(node, under TYPE_CHECKING?) for every node below ``node``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for item in child.body:
                yield item, True
                yield from _walk(item, True)
            for item in child.orelse:
                yield item, type_only
                yield from _walk(item, type_only)
            continue
        yield child, type_only
        yield from _walk(child, type_only)


def _targets(node: ast.AST, module: str, is_package: bool, names: set[str]) -> set[str]:
    """The modules an import statement of ``module`` loads (of the package, and the core).
    Not the packages above them: Python imports those first, but that runs a package's
    ``__init__``, never the importing module again, so it is no edge of a cycle."""
    core = f"{module.split('.')[0]}.{CORE}"
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    loaded = {source}  # `from .x import name`: module x; `from . import name`: the package
    for alias in node.names:  # `from . import _idx` loads the module ann._idx
        if f"{source}.{alias.name}" in names or f"{source}.{alias.name}" == core:
            loaded.add(f"{source}.{alias.name}")
    return loaded


def read_package(root: Path) -> dict[str, Module]:
    """The modules of the package folder ``root`` with what each imports and how it uses cffi."""
    names = module_names(root)
    modules = {}
    for name, (path, is_package) in names.items():
        m = Module(name, path, is_package)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, type_only in _walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                loaded = _targets(node, name, is_package, set(names))
                if f"{root.name}.{CORE}" in loaded:
                    m.imports_core = True
                inside = {t for t in loaded if t in names and t != name}
                (m.type_only if type_only else m.imports).update(inside)
                if isinstance(node, ast.ImportFrom) and not type_only:
                    cffi = sorted({a.name for a in node.names} & {"ffi", "lib"})
                    if cffi:
                        m.uses_cffi.append(f"line {node.lineno}: imports {', '.join(cffi)}")
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in ("ffi", "lib")
            ):
                m.uses_cffi.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
        m.type_only -= m.imports
        modules[name] = m
    return modules


def cycles(modules: dict[str, Module]) -> list[list[str]]:
    """Every import cycle, one path per strongly connected component (Tarjan's algorithm),
    as [a, b, ..., a]."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(modules[v].imports):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in modules[v].imports:
                components.append(sorted(component))

    for v in sorted(modules):
        if v not in index:
            connect(v)
    return [_path_through(component, modules) for component in components]


def _path_through(component: list[str], modules: dict[str, Module]) -> list[str]:
    """One cycle inside a strongly connected component, to show in a failure."""
    members = set(component)
    path = [component[0]]
    while True:
        step = min(t for t in modules[path[-1]].imports if t in members)
        if step in path:
            return path[path.index(step) :] + [step]
        path.append(step)


def bindings_problems(modules: dict[str, Module]) -> list[str]:
    """Who imports the compiled core or uses ffi/lib outside the bindings layer."""
    problems = []
    importers = sorted(m.name for m in modules.values() if m.imports_core)
    bindings = f"{next(iter(modules)).split('.')[0]}.{BINDINGS}"
    if importers != [bindings]:
        problems.append(f"the compiled core must be imported by {bindings} alone, not {importers}")
    for m in modules.values():
        inside = m.name == bindings or m.name.startswith(bindings + ".")
        if m.uses_cffi and not inside:
            problems += [f"{m.name}, {use}" for use in m.uses_cffi]
    return problems


# ---- the package --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def package() -> dict[str, Module]:
    return read_package(SOURCE)


def test_the_import_graph_has_no_cycle(package):
    found = cycles(package)
    assert found == [], "import cycles: " + "; ".join(" -> ".join(c) for c in found)


def test_the_graph_sees_every_kind_of_import(package):
    """The graph holds the edges that made the cycles of issue 21, through imports of every
    kind: module level, function-local, `from . import`, between a package and its modules."""
    edges = {(m.name, t) for m in package.values() for t in m.imports}
    for edge in (
        ("ann._reference", "ann._augment"),  # module level
        ("ann._network", "ann._trace"),  # function-local (Network.trace)
        ("ann._backend", "ann._reference"),  # `from . import _reference`, in a function
        ("ann._c.net", "ann._c"),  # `from . import check, ffi, lib`: a module of a package
        ("ann.cli", "ann.cli._output"),  # a package's __init__ imports its module
        ("ann._load", "ann._locate"),
    ):
        assert edge in edges, edge
    assert "ann._network" in package["ann._fit"].type_only  # FitRun's annotations


def test_only_the_bindings_layer_touches_the_compiled_core(package):
    assert bindings_problems(package) == []


def test_the_bindings_layer_is_where_the_cffi_calls_are(package):
    """Not vacuous: the layer does use ffi and lib, and other modules reach it by name."""
    assert package["ann._c"].imports_core
    assert package["ann._c.net"].uses_cffi and package["ann._c.ops"].uses_cffi
    assert "ann._c" in package["ann._backend"].imports


# ---- the checks catch what they exist for -------------------------------------------------------


def write_package(root: Path, files: dict[str, str]) -> Path:
    """A package ``pkg`` in root from {relative path: source}."""
    for relative, text in files.items():
        path = root / "pkg" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root / "pkg"


def test_a_cycle_through_a_function_local_import_is_found(tmp_path):
    root = write_package(
        tmp_path,
        {
            "__init__.py": "",
            "_a.py": "from ._b import g\n\ndef f():\n    return g()\n",
            "_b.py": "def g():\n    from . import _a\n    return _a\n",
            "_c.py": "from . import _a\n",
        },
    )
    assert cycles(read_package(root)) == [["pkg._a", "pkg._b", "pkg._a"]]


def test_a_longer_cycle_through_from_import_forms_is_found(tmp_path):
    root = write_package(
        tmp_path,
        {
            "__init__.py": "",
            "_data.py": "def load():\n    from ._sets import spec\n",
            "_sets.py": "import pkg._fetch\nspec = 1\n",
            "_fetch.py": "from . import _data\n",
        },
    )
    assert cycles(read_package(root)) == [["pkg._data", "pkg._sets", "pkg._fetch", "pkg._data"]]


def test_a_cycle_through_a_subpackage_is_found(tmp_path):
    root = write_package(
        tmp_path,
        {
            "__init__.py": "",
            "_c/__init__.py": "from .. import _constants\n",
            "_c/net.py": "",
            "_constants.py": "from ._c import net\n",
        },
    )
    assert cycles(read_package(root)) == [["pkg._c", "pkg._constants", "pkg._c"]]


def test_a_package_importing_its_modules_is_no_cycle_unless_one_reaches_back(tmp_path):
    files = {
        "__init__.py": "",
        "cli/__init__.py": "from ._output import say\nfrom .train import run\n",
        "cli/_output.py": "def say():\n    pass\n",
        "cli/train.py": "from ._output import say\nfrom .. import _fit\n",
        "_fit.py": "",
    }
    assert cycles(read_package(write_package(tmp_path / "fine", files))) == []
    files["cli/_output.py"] = "from . import run\n"  # a name of the half-run __init__
    found = cycles(read_package(write_package(tmp_path / "back", files)))
    assert found == [["pkg.cli", "pkg.cli._output", "pkg.cli"]]


def test_imports_for_type_checkers_only_make_no_cycle(tmp_path):
    root = write_package(
        tmp_path,
        {
            "__init__.py": "",
            "_fit.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from ._network import Network\n"
            ),
            "_network.py": "from ._fit import run\n",
        },
    )
    package = read_package(root)
    assert cycles(package) == []
    assert package["pkg._fit"].type_only == {"pkg._network"}


def test_the_cffi_check_finds_every_way_around_the_layer(tmp_path):
    root = write_package(
        tmp_path,
        {
            "__init__.py": "",
            "_c/__init__.py": "from .._core import ffi, lib\n",
            "_c/net.py": "from . import lib\nlib.ann_net_create()\n",
            "_threads.py": "def n():\n    from ._c import lib\n    return lib.get()\n",
            "_constants.py": "from . import _core\n",
            "_trace.py": "import pkg._core\n",
        },
    )
    problems = "\n".join(bindings_problems(read_package(root)))
    assert "pkg._threads, line 2: imports lib" in problems
    assert "pkg._threads, line 3: lib.get" in problems
    assert "not ['pkg._c', 'pkg._constants', 'pkg._trace']" in problems
    assert "pkg._c.net" not in problems


# ---- the public namespace -----------------------------------------------------------------------

RENAMED = {"normalize": "scale_pixels", "preset": "get_preset"}


def test_dir_shows_the_public_names_only():
    shown = [n for n in dir(ann) if not (n.startswith("__") and n.endswith("__"))]
    assert shown == sorted(ann.__all__)
    assert "annotations" not in dir(ann) and "TYPE_CHECKING" not in dir(ann)
    assert not set(RENAMED) & set(dir(ann)) and "presets" not in dir(ann)


def test_every_public_name_resolves_where_the_docs_say():
    for name in ann.__all__:
        value = getattr(ann, name)
        assert value is not None, name
    assert ann.load_mnist.__module__ == ann.load_dataset.__module__  # beside the loader
    assert ann.backend_info.__module__ == "ann._backend"


@pytest.mark.parametrize("old,new", sorted(RENAMED.items()))
def test_a_renamed_function_warns_and_still_works(old, new):
    with pytest.warns(DeprecationWarning, match=f"ann.{old} is deprecated: use ann.{new}"):
        function = getattr(ann, old)
    assert function is getattr(ann, new)
    with pytest.warns(DeprecationWarning):  # every use warns, not the first only
        getattr(ann, old)


def test_the_renamed_presets_mapping_warns_and_still_works():
    with pytest.warns(DeprecationWarning, match=r"ann.list_presets\(\) and ann.get_preset"):
        presets = ann.presets
    assert list(presets) == ann.list_presets()
    assert list(presets)[:3] == ["seed", "fast", "best"]  # the README's first three
    assert all(presets[name] is ann.get_preset(name) for name in ann.list_presets())


def test_scale_pixels_divides_by_255_only():
    assert list(ann.scale_pixels(bytes([0, 51, 255]))) == pytest.approx([0.0, 0.2, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ann.scale_pixels(b"\x00")  # the new name does not warn


def test_from_ann_import_star_gives_no_deprecated_name():
    space: dict[str, object] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exec("from ann import *", space)
    assert not set(RENAMED) & set(space) and "presets" not in space


def test_the_sklearn_classes_are_ann_names_without_scikit_learn():
    """What MLPClassifier raises and warns can be caught by ann's names, also in a program
    that never loads scikit-learn."""
    code = (
        "import sys, warnings, ann\n"
        "try:\n"
        "    ann.MLPClassifier().predict([[1.0]])\n"
        "except ann.NotFittedError as exc:\n"
        "    print(type(exc) is ann.NotFittedError, isinstance(exc, ValueError))\n"
        "with warnings.catch_warnings(record=True) as seen:\n"
        "    warnings.simplefilter('always')\n"
        "    ann.MLPClassifier(hidden_layer_sizes=(2,), max_iter=1, random_state=0)"
        ".fit([[0.0], [1.0], [0.0], [1.0]], [0, 1, 0, 1])\n"
        "print(any(issubclass(w.category, ann.ConvergenceWarning) for w in seen))\n"
        "print('sklearn' in sys.modules)\n"
    )
    out = run_python(code, cwd=Path.home())
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True", "True", "False"]


def test_the_sklearn_classes_catch_with_scikit_learn_loaded_too():
    exceptions = pytest.importorskip("sklearn.exceptions")
    for catch in (ann.NotFittedError, exceptions.NotFittedError):
        with pytest.raises(catch):
            ann.MLPClassifier().predict([[1.0]])
    with pytest.warns(ann.ConvergenceWarning) as seen:
        ann.MLPClassifier(hidden_layer_sizes=(2,), max_iter=1, random_state=0).fit(
            [[0.0], [1.0], [0.0], [1.0]], [0, 1, 0, 1]
        )
    assert any(issubclass(w.category, exceptions.ConvergenceWarning) for w in seen)
