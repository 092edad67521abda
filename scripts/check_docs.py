"""Docs check: execute notebooks, render them to HTML with nbconvert, open each page in headless
Chromium with the network cut off, and assert that plotly figures and circuitsvis heatmaps drew.

    python scripts/check_docs.py [NOTEBOOK ...] [--out DIR]
    python scripts/check_docs.py --hygiene      # fast, no kernel: the committed notebooks' sizes and outputs
    python scripts/check_docs.py --report       # also the HTML report of a tiny run: its heatmaps and figures drew

Writes DIR/<name>.html, DIR/<name>.png (screenshot) and DIR/report.json; exits 1 on any failure.
Quarto is not needed (it cannot be installed everywhere); nbconvert renders the same outputs.
"""
import argparse, json, os, re, shutil, subprocess, sys, tempfile, time
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import ExecutePreprocessor

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ["nbs/30_viz.ipynb"]
# count drawn figures and collect errors once scripts have run
PROBE = """
<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message)));
const _ce = console.error; console.error = (...a) => { window.__errors.push(a.map(String).join(' ')); _ce(...a); };
window.addEventListener('load', () => setTimeout(() => {
  const heat = [...document.querySelectorAll('.steerattn-heatmap')];
  const plots = [...document.querySelectorAll('.js-plotly-plot')];
  const r = {heatmaps: heat.length, heatmaps_drawn: heat.filter(d => d.querySelector('canvas, svg, table, div')).length,
             plotly: plots.length, plotly_drawn: plots.filter(d => d.querySelector('.main-svg') && d.querySelector('.trace, .table, .hm image')).length,
             errors: window.__errors};
  const pre = document.createElement('pre'); pre.id = '__steerattn_probe'; pre.textContent = JSON.stringify(r);
  document.body.appendChild(pre);
}, 3000));
</script>
"""

MAX_BYTES = 1_000_000     # a notebook over 1 MB in git is almost always an inlined plotly.js or a big image
# a path of one machine in a saved output (a warning's file name, a printed temp dir) means nothing elsewhere
# (built from parts, so this file does not itself hold the paths it looks for)
_TOPS = ("work", "root", "home", "Users", "tmp")
MACHINE_PATH = re.compile("(" + "|".join(f"/{t}/" for t in _TOPS) + r"|[A-Za-z]:\\Users\\)")

def _output_text(o):
    "All text an output carries (stream text, tracebacks, every mime type's data)."
    parts = [o.get("text", ""), "\n".join(o.get("traceback", []))]
    for v in (o.get("data") or {}).values(): parts.append(v if isinstance(v, str) else json.dumps(v))
    return "".join(p if isinstance(p, str) else "".join(p) for p in parts)

def hygiene_problems(paths, root=ROOT):
    "Problems of committed notebooks: over `MAX_BYTES`, machine paths or warnings in outputs, outputs in tutorials."
    probs = []
    for p in paths:
        p = Path(p); rel = p.relative_to(root) if p.is_absolute() else p
        size = (root/rel).stat().st_size
        if size > MAX_BYTES: probs.append(f"{rel}: {size/1e6:.1f} MB > {MAX_BYTES/1e6:.0f} MB")
        nb = json.loads((root/rel).read_text(encoding="utf-8"))
        outs = [o for c in nb["cells"] for o in c.get("outputs", [])]
        # JupyterLab adds missing cell ids on open, so the first save would rewrite every cell
        if (n := sum("id" not in c for c in nb["cells"])): probs.append(f"{rel}: {n} cell(s) without an id")
        # tutorials are committed without outputs: the docs build and `run.sh test` execute them
        if "tutorials" in rel.parts and outs: probs.append(f"{rel}: {len(outs)} saved output(s); tutorials are committed without outputs")
        for o in outs:
            t = _output_text(o)
            if (m := MACHINE_PATH.search(t)): probs.append(f"{rel}: machine path {t[max(0, m.start()-30):m.end()+40]!r} in an output")
            if o.get("name") == "stderr" and "Warning" in t: probs.append(f"{rel}: a warning in a saved output: {t.strip()[:120]!r}")
    return probs

def _selftest_hygiene():
    "The checker must catch what it is for: a big tutorial with a saved warning that names a path."
    with tempfile.TemporaryDirectory() as d:
        d = Path(d); (d/"nbs/tutorials").mkdir(parents=True)
        warn = {"output_type": "stream", "name": "stderr", "text": [f"/{_TOPS[2]}/u/x.py:3: UserWarning: requires_grad\n"]}
        big = {"output_type": "display_data", "metadata": {}, "data": {"text/html": "x" * (MAX_BYTES + 1)}}
        nb = {"cells": [{"cell_type": "code", "id": "a1", "source": "1", "metadata": {}, "execution_count": None, "outputs": [warn, big]}],
              "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
        (d/"nbs/tutorials/t.ipynb").write_text(json.dumps(nb)); (d/"nbs/ok.ipynb").write_text(json.dumps({**nb, "cells": []}))
        probs = hygiene_problems(["nbs/tutorials/t.ipynb", "nbs/ok.ipynb"], root=d)
    kinds = sorted(k for k in ("MB >", "saved output(s)", "machine path", "a warning") for p in probs if k in p)
    assert kinds == ["MB >", "a warning", "machine path", "saved output(s)"], probs
    assert not any(p.startswith("nbs/ok") for p in probs), probs

def committed_notebooks(root=ROOT):
    "The notebooks git tracks (plus untracked ones under nbs/, so a new notebook is checked before its commit)."
    try: tracked = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "*.ipynb"], cwd=root,
                                  capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError): tracked = [str(p.relative_to(root)) for p in root.glob("nbs/**/*.ipynb")]
    return sorted(p for p in tracked if not any(part.startswith((".", "_")) for part in Path(p).parts))

def chromium():
    for c in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(c): return shutil.which(c)
    sys.exit("Chromium not found: apt-get install -y chromium")

def browse(html_path, png_path):
    "Load a page offline in headless Chromium; return the probe's JSON and save a screenshot."
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--disable-quic",
             "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",   # no network at all
             "--virtual-time-budget=15000", "--window-size=1280,2400"]
    with tempfile.TemporaryDirectory() as prof:
        base = [chromium(), *flags, f"--user-data-dir={prof}"]
        dom = subprocess.run(base + ["--dump-dom", html_path.as_uri()], capture_output=True, text=True, timeout=180).stdout
        subprocess.run(base + [f"--screenshot={png_path}", html_path.as_uri()], capture_output=True, timeout=180)
    m = re.search(r'<pre id="__steerattn_probe">(.*?)</pre>', dom, re.S)
    if not m: return dict(error="probe did not run (page scripts failed or timed out)")
    import html as h
    return json.loads(h.unescape(m.group(1)))

def tiny_report(d):
    "`report.html` of a small run on a tiny random model (random latents): the report's layout, every section, no download."
    from steerattn.core import LABELS
    from steerattn.models import tiny_model
    from steerattn.batches import make_batch
    from steerattn.hooks import SteeringVector
    from steerattn.experiment import ExperimentConfig, run_experiment
    m = tiny_model(n_layers=3, n_kv_heads=2)
    names = {"player": ["Michael Jordan", "Goran Jeretin", "LeBron James"], "city": ["Paris", "Ouagadougou", "Tbilisi"]}
    mk = lambda et, ns: make_batch(m, [t.format(et=et, n=n) for n in ns for t in ("The {et} <{n}> plays for", "Everyone knows the {et} {n}")],
                                   [n for n in ns for _ in range(2)], meta=dict(entity_type=[et] * 2 * len(ns)))
    vec = lambda seed: SteeringVector.random(m.cfg.d_model, 1, seed=seed, source=f"random")
    lat = dict(known=[vec(0)], unknown=[vec(1)], random_known=[vec(10 + j) for j in range(3)], random_unknown=[vec(20 + j) for j in range(3)])
    cfg = ExperimentConfig(model="tiny <b>model</b>", coeff=20.0, known_min=2, entity_types=("player", "city"), top_latents=(0,), n_random=3,
                           n_heads=2, refusal=False)
    run_experiment(cfg, d, force=True, model=m, batches={lab: {et: mk(et, ns) for et, ns in names.items()} for lab in LABELS},
                   latents=lat, progress=False)
    return Path(d)/"report.html"

def check_page(html_path, png_path, min_heatmaps=0, min_plotly=0):
    "Browse a page with the probe injected; the probe's counts plus `failures`."
    page = html_path.with_name(f".{html_path.stem}-probed.html")
    page.write_text(html_path.read_text(encoding="utf-8").replace("</head>", PROBE + "</head>", 1), encoding="utf-8")
    r = browse(page, png_path); fails = []
    if "error" in r: fails.append(r["error"])
    else:
        if r["plotly"] != r["plotly_drawn"]: fails.append(f"{r['plotly'] - r['plotly_drawn']} plotly figure(s) did not draw")
        if r["heatmaps"] != r["heatmaps_drawn"]: fails.append(f"{r['heatmaps'] - r['heatmaps_drawn']} heatmap(s) did not draw")
        if r["plotly"] + r["heatmaps"] == 0: fails.append("no figures on the page")
        if r["heatmaps_drawn"] < min_heatmaps: fails.append(f"{r['heatmaps_drawn']} heatmap(s) drawn, expected ≥ {min_heatmaps}")
        if r["plotly_drawn"] < min_plotly: fails.append(f"{r['plotly_drawn']} plotly figure(s) drawn, expected ≥ {min_plotly}")
        if r["errors"]: fails.append(f"console errors: {r['errors'][:3]}")
    r["failures"] = fails
    return r

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="*", default=DEFAULT)
    ap.add_argument("--out", default=str(ROOT/"_docs_check"))
    ap.add_argument("--timeout", type=int, default=900, help="seconds per notebook cell")
    ap.add_argument("--save-executed", action="store_true", help="write the executed notebooks back (outputs kept for the docs)")
    ap.add_argument("--report", action="store_true", help="also check the HTML report of a tiny run (4 heatmaps, every figure drawn)")
    ap.add_argument("--hygiene", action="store_true", help="only check the committed notebooks' sizes and outputs (seconds)")
    a = ap.parse_args()
    if a.hygiene:
        _selftest_hygiene()
        nbs = committed_notebooks(); probs = hygiene_problems(nbs)
        for p in probs: print("  " + p)
        print(f"notebook hygiene: {len(nbs)} notebooks,", "passed" if not probs else f"{len(probs)} problem(s)")
        sys.exit(1 if probs else 0)
    out = Path(a.out).resolve(); out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    report, ok = {}, True
    for nb_path in a.notebooks:
        t0 = time.perf_counter()
        nb_path = (ROOT/nb_path) if not Path(nb_path).is_absolute() else Path(nb_path)
        nb = nbformat.read(nb_path, as_version=4)
        ExecutePreprocessor(timeout=a.timeout, kernel_name="python3").preprocess(nb, {"metadata": {"path": str(nb_path.parent)}})
        if a.save_executed: nbformat.write(nb, nb_path)
        body, _ = HTMLExporter().from_notebook_node(nb)
        body = body.replace("</head>", PROBE + "</head>", 1)
        html_path = out/(nb_path.stem + ".html"); html_path.write_text(body, encoding="utf-8")
        r = browse(html_path, out/(nb_path.stem + ".png"))
        r["seconds"] = round(time.perf_counter() - t0, 1)
        fails = []
        if "error" in r: fails.append(r["error"])
        else:
            if r["plotly"] != r["plotly_drawn"]: fails.append(f"{r['plotly'] - r['plotly_drawn']} plotly figure(s) did not draw")
            if r["heatmaps"] != r["heatmaps_drawn"]: fails.append(f"{r['heatmaps'] - r['heatmaps_drawn']} heatmap(s) did not draw")
            if r["plotly"] + r["heatmaps"] == 0: fails.append("no figures on the page")
            if r["errors"]: fails.append(f"console errors: {r['errors'][:3]}")
        r["failures"] = fails; ok &= not fails
        report[nb_path.name] = r
        print(f"{nb_path.name}: {r}")
    if a.report:
        t0 = time.perf_counter()
        r = check_page(tiny_report(out/"tiny-run"), out/"tiny-report.png", min_heatmaps=4, min_plotly=3)
        html = (out/"tiny-run"/"report.html").read_text(encoding="utf-8")
        if "<b>model</b>" in html: r["failures"].append("a user string reached the report unescaped")
        heads2 = re.findall(r"<h2>(.*?)</h2>", html)
        for sec in ("Contents", "Validity gates", "Methods", "Configuration", "Attention heatmaps"):
            if sec not in heads2: r["failures"].append(f"no {sec!r} section")
        if not any(h.startswith("The paper&#x27;s layout") for h in heads2): r["failures"].append("no section with the paper's layout")
        if not any(h.startswith("Significance (") for h in heads2): r["failures"].append("no per-measure significance figure")
        if heads2[:2] != ["Validity gates", "Contents"]: r["failures"].append(f"the report does not lead with the verdict's gates table (first sections: {heads2[:2]})")
        r["seconds"] = round(time.perf_counter() - t0, 1); ok &= not r["failures"]
        report["report.html"] = r
        print(f"report.html (tiny run): {r}")
    (out/"report.json").write_text(json.dumps(report, indent=1))
    print("docs check:", "passed" if ok else "FAILED")
    sys.exit(0 if ok else 1)

if __name__ == "__main__": main()
