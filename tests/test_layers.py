"""The package imports one way: no module reaches, even from inside a function, one that reaches it back.

The layer order itself is import-linter's contract in pyproject.toml (run by .ci/run); a cycle
inside one layer is invisible to that contract, so it is checked here on the same import graph.
"""

from __future__ import annotations

import grimp


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative): the groups of modules that import each other in a loop."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return groups


def import_graph() -> dict[str, set[str]]:
    graph = grimp.build_graph("zoo")  # every import statement, function-local ones included
    return {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}


def test_the_checker_finds_a_cycle_it_is_shown():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


def test_no_module_of_zoo_is_in_an_import_cycle():
    cycles = strongly_connected(import_graph())
    assert cycles == [], (
        "import cycles (break them by passing what the lower module needs as an argument): "
        + "; ".join(" <-> ".join(group) for group in cycles)
    )
