#!/usr/bin/env python
"""steerattn's import map from the exported modules (ast): which module imports which, at module level or inside a
function, and in which notebook each is defined. Reports import circles and imports of a later notebook's module.

    python scripts/import_map.py          # the map, then the problems; exit 1 if there are any
"""
import ast, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = "steerattn"


def module_notebooks(lib=ROOT/PKG) -> dict:
    "module -> the notebook it is exported from (nbdev's '# %% ../nbs/X.ipynb' markers)."
    out = {}
    for f in sorted(lib.glob("*.py")):
        m = re.search(r"# %% \.\./nbs/([^ ]+\.ipynb)", f.read_text(encoding="utf-8"))
        if m: out[f.stem] = m.group(1)
    return out


def imports(path) -> list[tuple[str, bool]]:
    "(steerattn module imported, inside a function?) for every import in `path`."
    tree, out = ast.parse(Path(path).read_text(encoding="utf-8")), []
    def visit(node, in_fn):
        for ch in ast.iter_child_nodes(node):
            fn = in_fn or isinstance(ch, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(ch, ast.ImportFrom):
                mod = ("." * ch.level + (ch.module or ""))
                if ch.level == 1 and ch.module: out.append((ch.module.split(".")[0], fn))
                elif ch.level == 1: out.extend((a.name, fn) for a in ch.names)
                elif mod.startswith(PKG + "."): out.append((mod.split(".")[1], fn))
            elif isinstance(ch, ast.Import):
                out.extend((a.name.split(".")[1], fn) for a in ch.names if a.name.startswith(PKG + "."))
            elif isinstance(ch, ast.Call) and getattr(ch.func, "attr", getattr(ch.func, "id", "")) == "import_module" and ch.args \
                    and isinstance(ch.args[0], ast.Constant) and str(ch.args[0].value).startswith(PKG + "."):
                out.append((ch.args[0].value.split(".")[1], True))
            visit(ch, fn)
    visit(tree, False)
    return out


def problems(lib=ROOT/PKG) -> list[str]:
    "Import circles (also through imports inside functions) and imports of a later notebook's module."
    nbs = module_notebooks(lib)
    graph = {m: imports(lib/f"{m}.py") for m in nbs}
    out = []
    for m, deps in graph.items():
        for d, in_fn in deps:
            if d not in nbs: continue
            if nbs[d] > nbs[m]: out.append(f"{m} ({nbs[m]}) imports the later {d} ({nbs[d]}){' inside a function' if in_fn else ''}")
    seen, stack, cycles = set(), [], set()
    def dfs(m):
        if m in stack: cycles.add(" -> ".join(stack[stack.index(m):] + [m])); return
        if m in seen: return
        seen.add(m); stack.append(m)
        for d, _ in graph.get(m, []):
            if d in graph: dfs(d)
        stack.pop()
    for m in graph: dfs(m)
    return out + [f"import circle: {c}" for c in sorted(cycles)]


if __name__ == "__main__":
    nbs = module_notebooks()
    for m, nb in sorted(nbs.items(), key=lambda x: x[1]):
        deps = sorted({d + ("*" if fn else "") for d, fn in imports(ROOT/PKG/f"{m}.py") if d in nbs})
        print(f"{nb:<36} {m:<16} <- {', '.join(deps)}")
    p = problems()
    print("\n" + ("\n".join(p) if p else "no circle, nothing imports a later notebook (* = import inside a function)"))
    sys.exit(bool(p))
