"""How the house is laid out, measured: modules, their sizes and their functions', import circles, and
whether the analysis wing's floors import one way only (reading → fitting → deciding → evaluating →
advising).

Every import counts, at the top of a module, inside a function or under `if TYPE_CHECKING`: a circle
broken by hiding one of its imports is still a circle to a reader.

    python benchmarks/layout.py
"""

from __future__ import annotations

import ast
import statistics
from pathlib import Path

import networkx as nx

SRC = Path(__file__).resolve().parents[1] / "src"
FLOORS = ("reading", "fitting", "deciding", "evaluating", "advising")


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted((SRC / "scalinglab").rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports(path: Path, known: set[str]) -> set[str]:
    """The project's modules that `path` imports (a name imported from a package that is a module of
    its own counts as that module)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom) and node.module in known:
            subs = {f"{node.module}.{a.name}" for a in node.names} & known
            out |= subs or {node.module}
            if len(subs) < len(node.names):
                out.add(node.module)
    return out


def functions(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    return [(n.end_lineno - n.lineno + 1, n.name) for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def floor(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) > 2 and parts[1] == "analysis" and parts[2] in FLOORS:
        return FLOORS.index(parts[2])
    return None


def main() -> None:
    mods = modules()
    graph = nx.DiGraph()
    for name, path in mods.items():
        graph.add_node(name)
        for target in imports(path, set(mods)):
            # A package's __init__ importing its own modules is how it re-exports them, not a circle.
            if target != name and not (target.startswith(name + ".") and path.name == "__init__.py"):
                graph.add_edge(name, target)
    lines = {name: len(path.read_text().splitlines()) for name, path in mods.items()}
    code = {n: k for n, k in lines.items() if not mods[n].name == "__init__.py"}
    funcs = [(k, f"{n}.{f}") for n, p in mods.items() for k, f in functions(p)]
    largest = max(code, key=code.get)
    longest = max(funcs)
    print(f"modules: {len(code)} (+ {len(mods) - len(code)} package __init__), {sum(lines.values())} lines")
    print(f"module lines: median {statistics.median(code.values()):.0f}, largest {code[largest]} ({largest})")
    print(f"function lines: median {statistics.median(k for k, _ in funcs):.0f} over {len(funcs)}, "
          f"largest {longest[0]} ({longest[1]})")
    analysis = {n: k for n, k in code.items() if n.startswith("scalinglab.analysis")}
    print(f"analysis: {len(analysis)} modules, {sum(analysis.values())} lines, "
          + ", ".join(f"{f} {sum(1 for n in analysis if floor(n) == i)}" for i, f in enumerate(FLOORS)))
    circles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    print(f"import circles: {len(circles)}")
    for c in circles:
        print("  " + " ↔ ".join(c))
    upward = [(a, b) for a, b in graph.edges if floor(a) is not None and floor(b) is not None and floor(b) > floor(a)]
    print(f"analysis imports against the floors' order: {len(upward)}")
    for a, b in upward:
        print(f"  {a} → {b}")


if __name__ == "__main__":
    main()
