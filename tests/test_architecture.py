"""The layout ARCHITECTURE.md describes, checked on the real import graph (grimp parses every module of the
apps and of ``bench/``, function-level imports included; ``if TYPE_CHECKING:`` imports excluded).

- Dependencies point one way: ``audits -> emergencies -> qms``; ``bench`` sits above all three and no app
  imports it.
- No import circle anywhere (a strongly connected component of more than one module).
- No module of the apps over ~400 lines, none named with a sub-domain suffix (``forms_ccb.py``).
"""

import re
import sys
import textwrap
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
# Higher may import lower, never the reverse.
LAYERS = {"qms": 0, "emergencies": 1, "audits": 2, "bench": 3}
APPS = ("qms", "emergencies", "audits")
MAX_LINES = 400
# A layer's name joined to a sub-domain's (``selectors_ccb.py``, ``ccb_signals.py``): the layer is a package.
LAYER_NAMES = "models|services|selectors|forms|views|api|admin|widgets|signals|receivers|urls|tasks"
SUFFIXED = re.compile(rf"^(?:(?:{LAYER_NAMES})_\w+|\w+_(?:{LAYER_NAMES}))\.py$")


def import_graph(packages) -> dict[str, set[str]]:
    graph = grimp.build_graph(*packages, exclude_type_checking_imports=True, cache_dir=None)
    return {module: set(graph.find_modules_directly_imported_by(module)) for module in graph.modules}


def direction_violations(graph: dict[str, set[str]], layers: dict[str, int]) -> list[str]:
    """Every import from a lower layer up to a higher one, as "importer -> imported"."""
    return sorted(
        f"{importer} -> {imported}"
        for importer, targets in graph.items()
        for imported in targets
        if layers[imported.split(".")[0]] > layers[importer.split(".")[0]]
    )


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, targets = work[-1]
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph.get(target, ())))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        cycles.append(sorted(component))
    return cycles


@pytest.fixture(scope="module")
def project_graph():
    return import_graph(LAYERS)


def test_dependencies_point_one_way(project_graph):
    assert direction_violations(project_graph, LAYERS) == []


def test_no_import_cycles(project_graph):
    assert import_cycles(project_graph) == []


def app_modules():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def test_no_module_too_long_to_read():
    long = {str(p.relative_to(ROOT)): n for p in app_modules() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_no_sub_domain_suffixes():
    assert [str(p.relative_to(ROOT)) for p in app_modules() if SUFFIXED.match(p.name)] == []


# The checks themselves: a tree of three toy layers with the faults they must find.
def write_tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


@pytest.fixture
def toy_graph(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))

    def build(files: dict[str, str]) -> dict[str, set[str]]:
        write_tree(tmp_path, files)
        packages = sorted({name.split("/")[0] for name in files})
        try:
            return import_graph(packages)
        finally:
            for name in [m for m in sys.modules if m.split(".")[0] in packages]:
                del sys.modules[name]

    return build


TOY_LAYERS = {"toy_qms": 0, "toy_emergencies": 1, "toy_audits": 2}
CLEAN = {
    "toy_qms/__init__.py": "",
    "toy_qms/models.py": "X = 1\n",
    "toy_emergencies/__init__.py": "",
    "toy_emergencies/services.py": "from toy_qms.models import X\n",
    "toy_audits/__init__.py": "",
    "toy_audits/receivers.py": "import toy_emergencies.services\n",
}


def test_a_clean_tree_passes(toy_graph):
    graph = toy_graph(CLEAN)
    assert direction_violations(graph, TOY_LAYERS) == []
    assert import_cycles(graph) == []


def test_the_lifecycle_importing_oversight_is_refused_even_inside_a_function(toy_graph):
    graph = toy_graph(
        {
            **CLEAN,
            "toy_emergencies/views.py": """
                def page():
                    from toy_audits.receivers import on_change  # a lazy import is still an import
                    return on_change
            """,
        }
    )
    assert direction_violations(graph, TOY_LAYERS) == ["toy_emergencies.views -> toy_audits.receivers"]


def test_the_project_importing_either_app_is_refused(toy_graph):
    graph = toy_graph({**CLEAN, "toy_qms/urls.py": "import toy_emergencies.services\nimport toy_audits\n"})
    assert direction_violations(graph, TOY_LAYERS) == [
        "toy_qms.urls -> toy_audits",
        "toy_qms.urls -> toy_emergencies.services",
    ]


def test_a_circle_is_found_however_long(toy_graph):
    graph = toy_graph(
        {
            **CLEAN,
            "toy_emergencies/selectors.py": "from toy_emergencies import forms\n",
            "toy_emergencies/forms.py": "def f():\n    from toy_emergencies import services\n",
            "toy_emergencies/services.py": "from toy_qms.models import X\nfrom toy_emergencies import selectors\n",
        }
    )
    assert import_cycles(graph) == [["toy_emergencies.forms", "toy_emergencies.selectors", "toy_emergencies.services"]]


def test_type_checking_imports_are_not_dependencies(toy_graph):
    graph = toy_graph(
        {
            **CLEAN,
            "toy_qms/typing.py": """
                from typing import TYPE_CHECKING
                if TYPE_CHECKING:
                    from toy_emergencies.services import X
            """,
        }
    )
    assert direction_violations(graph, TOY_LAYERS) == []


def test_the_suffix_rule_names_the_old_layout():
    old = ("forms_ccb.py", "ccb_signals.py", "selectors_patch.py", "views_procedures.py", "security_receivers.py")
    assert [n for n in old if SUFFIXED.match(n)] == list(old)
    assert not any(SUFFIXED.match(n) for n in ("ccb.py", "patches.py", "procedure_drafts.py", "signals.py"))
