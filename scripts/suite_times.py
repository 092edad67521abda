#!/usr/bin/env python
"""The test suite's time per notebook: each notebook runs alone under nbdev_test (one worker), so the times add up.

    python scripts/suite_times.py                 # the CI suite's notebooks (fast + slow cells)
    python scripts/suite_times.py --all           # plus the heavy cells (what `bash run.sh test --all` adds)
    python scripts/suite_times.py nbs/05*.ipynb   # some notebooks only
    python scripts/suite_times.py --json bench/suite_times.json

Prints a table sorted by time, the total, and which notebooks failed (exit 1 if any did).
"""
import argparse, json, os, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def notebooks(paths):
    "The notebooks to time: the given ones, else every library notebook (not tutorials, not `_`/`.` files)."
    if paths: return [Path(p).resolve() for p in paths]
    return sorted(p for p in (ROOT/"nbs").glob("*.ipynb") if not p.name.startswith(("_", ".")))


def time_notebook(nb, flags, timeout):
    "Seconds and return code of `nbdev_test --path nb` alone."
    exe = Path(sys.executable).parent/"nbdev_test"
    cmd = [str(exe), "--path", str(nb), "--flags", flags, "--n_workers", "1"]
    t0 = time.perf_counter()
    try: r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=os.environ | {"HF_HUB_OFFLINE": "1"})
    except subprocess.TimeoutExpired: return time.perf_counter() - t0, "timeout", ""
    return time.perf_counter() - t0, "ok" if r.returncode == 0 else f"rc {r.returncode}", (r.stdout + r.stderr)[-2000:]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="*")
    ap.add_argument("--all", action="store_true", help="also the `#| heavy` cells")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per notebook")
    ap.add_argument("--json", help="write the times here (atomically)")
    a = ap.parse_args()
    flags = "slow heavy" if a.all else "slow"
    rows = []
    for nb in notebooks(a.notebooks):
        s, status, tail = time_notebook(nb, flags, a.timeout)
        rows.append(dict(notebook=nb.relative_to(ROOT).as_posix(), seconds=round(s, 1), status=status))
        print(f"{rows[-1]['notebook']:<45} {s:7.1f} s  {status}", flush=True)
        if status != "ok": print(tail, file=sys.stderr)
    total = sum(r["seconds"] for r in rows)
    print(f"\n{'notebook':<45} {'s':>7}  share\n" + "\n".join(
        f"{r['notebook']:<45} {r['seconds']:7.1f}  {r['seconds'] / max(total, 1e-9):5.1%}  {'' if r['status'] == 'ok' else r['status']}"
        for r in sorted(rows, key=lambda r: -r["seconds"])))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(f"total {total:.0f} s ({total / 60:.1f} min) for {len(rows)} notebooks, flags {flags!r}, load {load:.1f}" if load is not None else f"total {total:.0f} s")
    if a.json:
        out = Path(a.json); tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(dict(flags=flags, cpus=os.cpu_count(), load=load, total_s=round(total, 1), notebooks=rows), indent=1))
        tmp.replace(out)
    sys.exit(any(r["status"] != "ok" for r in rows))


if __name__ == "__main__": main()
