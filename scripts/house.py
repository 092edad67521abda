#!/usr/bin/env python
"""The house's figures (issue 25): import problems (scripts/import_map.py), exported cell sizes, how many exported
cells have a test or example within the next two cells, and `plot_*` functions defined outside viz.

    python scripts/house.py            # the figures, one line per notebook, then the totals
    python scripts/house.py --json F   # also write them to F
"""
import argparse, ast, json, re, statistics, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/"scripts"))
from import_map import problems  # noqa: E402

EXPORT = re.compile(r"(?m)^#\|\s*export")


def _src(c): return "".join(c["source"]) if isinstance(c["source"], list) else c["source"]


def cell_figures(path) -> list[dict]:
    "One row per exported cell of `path`: its size (lines, `#|` directives not counted) and whether a test follows."
    cells = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
    rows = []
    for i, c in enumerate(cells):
        s = _src(c)
        if c["cell_type"] != "code" or not EXPORT.search(s): continue
        lines = [l for l in s.strip("\n").split("\n") if not l.startswith("#|")]
        nxt = cells[i+1:i+3]
        tested = any(n["cell_type"] == "code" and not EXPORT.search(_src(n)) and _src(n).strip() for n in nxt)
        rows.append(dict(lines=len(lines), tested=tested, first=lines[0][:60]))
    return rows


def plots_outside_viz(lib=ROOT/"steerattn") -> list[str]:
    "`module.plot_*` functions defined in a module other than viz."
    out = []
    for f in sorted(lib.glob("*.py")):
        if f.stem == "viz": continue
        for n in ast.parse(f.read_text(encoding="utf-8")).body:
            if isinstance(n, ast.FunctionDef) and n.name.startswith("plot_"): out.append(f"{f.stem}.{n.name}")
    return out


def figures(nbs=None) -> dict:
    nbs = nbs or sorted((ROOT/"nbs").glob("[0-9]*.ipynb"))
    per = {p.name: cell_figures(p) for p in nbs}
    rows = [r for v in per.values() for r in v]
    sizes = [r["lines"] for r in rows]
    return dict(notebooks={k: dict(cells=len(v), median=statistics.median([r["lines"] for r in v]) if v else None,
                                   over_40=sum(r["lines"] > 40 for r in v), tested=sum(r["tested"] for r in v))
                           for k, v in per.items()},
                exported_cells=len(rows), median_lines=statistics.median(sizes), over_40=sum(s > 40 for s in sizes),
                tested_share=round(sum(r["tested"] for r in rows) / len(rows), 3),
                plots_outside_viz=plots_outside_viz(), import_problems=problems())


if __name__ == "__main__":
    ap = argparse.ArgumentParser(); ap.add_argument("--json"); a = ap.parse_args()
    f = figures()
    for k, v in f["notebooks"].items():
        print(f"{k:<34} {v['cells']:4d} cells  median {v['median'] if v['median'] is not None else '–':>5}  "
              f"over 40: {v['over_40']:2d}  tested: {v['tested']:3d}/{v['cells']}")
    print(f"\n{f['exported_cells']} exported cells, median {f['median_lines']} lines, {f['over_40']} over 40, "
          f"{f['tested_share']:.0%} followed by a test or example within two cells")
    print("plot_* outside viz:", ", ".join(f["plots_outside_viz"]) or "none")
    print("import problems:", "; ".join(f["import_problems"]) or "none")
    if a.json: Path(a.json).write_text(json.dumps(f, indent=1) + "\n")
