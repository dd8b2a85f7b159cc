"""The house's shape: each folder of livechip/ is a layer, and a module imports only from its own layer or the
layers below it; no two modules import each other, not even through a chain or an import inside a function.

    core < formats < apu < model < realtime < control < engine < tui < cli
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "livechip"
LAYERS = ["core", "formats", "apu", "model", "realtime", "control", "engine", "tui", "cli"]
MAX_LINES = 450


def modules():
    """{dotted name: path} of every module in the package."""
    out = {}
    for p in PACKAGE.rglob("*.py"):
        parts = p.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


def imports(path, known):
    """The package's modules `path` imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
        else:
            continue
        for n in names:
            while n and n not in known:
                n = n.rpartition(".")[0]
            if n.startswith("livechip."):
                found.add(n)
    return found


def layer(module):
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def graph():
    mods = modules()
    return {m: imports(p, mods) - {m} for m, p in mods.items()}


def test_every_module_lives_in_a_layer():
    stray = [m for m in modules() if m not in ("livechip", "livechip.__main__") and
             m.split(".")[1] not in LAYERS]
    assert not stray, f"modules outside the layer folders: {stray}"


def test_imports_only_go_down():
    up = []
    for m, deps in graph().items():
        if layer(m) is None:
            continue
        up += [f"{m} -> {d}" for d in deps if layer(d) is not None and layer(d) > layer(m)]
    assert not up, "imports from a higher layer:\n" + "\n".join(sorted(up))


def test_no_import_loops():
    g = graph()
    g = {m: {d for d in deps if d in g and not m.startswith(d + ".")} for m, deps in g.items()}
    loops, state = [], {}

    def visit(m, stack):
        state[m] = 1
        for d in sorted(g[m]):
            if d.startswith(m + ".") or d == "livechip":
                continue                       # a package's __init__ may gather its own modules
            if state.get(d) == 1:
                loops.append(" -> ".join(stack[stack.index(d):] + [d]))
            elif d not in state:
                visit(d, stack + [d])
        state[m] = 2

    for m in sorted(g):
        if m not in state:
            visit(m, [m])
    assert not loops, "import loops:\n" + "\n".join(loops)


def test_no_file_is_over_the_limit():
    long = {str(p.relative_to(PACKAGE.parent)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"files over {MAX_LINES} lines: {long}"
