"Size of the exported notebook cells (lines, `#|` directives not counted): `python scripts/cell_sizes.py [nbs/[0-9]*.ipynb]`."
import json, re, statistics, sys
from pathlib import Path

def exported_sizes(path):
    for c in json.loads(Path(path).read_text())["cells"]:
        s = "".join(c["source"])
        if c["cell_type"] == "code" and re.search(r"(?m)^#\|\s*export", s):
            lines = [l for l in s.strip("\n").split("\n") if not l.startswith("#|")]
            yield len(lines), lines[0][:60]

if __name__ == "__main__":
    files = sys.argv[1:] or sorted(str(p) for p in Path("nbs").glob("[0-9]*.ipynb"))
    rows = [(f, n, first) for f in files for n, first in exported_sizes(f)]
    sizes = [n for _, n, _ in rows]
    print(f"{len(files)} notebooks, {len(sizes)} exported cells, median {statistics.median(sizes)} lines, "
          f"{sum(n > 40 for n in sizes)} over 40 lines")
    for f, n, first in rows:
        if n > 40: print(f"  {n:4d}  {f}: {first}")
