"""JupyterLab check: open notebooks as cloned in JupyterLab in headless Chromium, save, run all cells, assert they drew.

    python scripts/check_lab.py [NOTEBOOK ...] [--out DIR] [--timeout SECONDS]

Copies the working tree's tracked and untracked-but-not-ignored files (what a clone with these changes
holds: no .venv, no results, no caches) into a temporary dir and starts this venv's JupyterLab there on
127.0.0.1 (a free port, a one-off token; runtime, config, data, settings, workspaces and IPython dirs in the
same temporary dir, so nothing of the user's is read or written and the working tree is never saved to).
The venv's own server config (.venv/etc/jupyter, written by run.sh) is used: it is what is tested. Each
notebook (default: a library notebook, nbs/30_viz.ipynb, and a tutorial, nbs/tutorials/entity_steering.ipynb)
is opened in headless Chromium driven by Playwright and, once its kernel is idle, the check asserts:
  1. opening did not mark it modified (JupyterLab writes the kernel's metadata into it on open);
  2. Ctrl+S saved it (its mtime changed) and its bytes are unchanged: opening and saving does not churn git;
  3. after JupyterLab's "Run All Cells" (`notebook:run-all-cells`) and an idle kernel: every code cell ran,
     no error output and no traceback on stderr, plotly figures drew (`.js-plotly-plot .main-svg`), the
     circuitsvis heatmaps (`.steerattn-heatmap`) drew;
  4. a tutorial saved again (Ctrl+S) after the run is still byte-identical (tutorials are saved without outputs).
Kernels get STEERATTN_TUTORIAL_SMALL=1 (not with --full-size): a tutorial that honours it runs at a
small size. Requests from the page to any host but 127.0.0.1 are blocked and logged (the figures must draw without
them). Writes DIR/<name>-1-opened.png, DIR/<name>-2-after-run-all.png, DIR/<name>-3-full*.jpeg (the whole
notebook) and DIR/report.json; exits 1 on any failed assertion or when the whole check takes longer than
--timeout (default 105 s, so that with the server's shutdown it ends within two minutes).

Needs `playwright` (pip; its own browser download is not used) and a system Chromium (apt-get install chromium).
"""
import argparse, difflib, hashlib, json, os, secrets, shutil, signal, socket, subprocess, sys, tempfile, time
import urllib.error, urllib.request
from pathlib import Path
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ["nbs/30_viz.ipynb", "nbs/tutorials/entity_steering.ipynb"]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic",
                 # Chromium's own background requests resolve nowhere; the page's are routed below
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
SMALL_ENV = "STEERATTN_TUTORIAL_SMALL"
# JupyterLab user settings for the check only: nothing is saved, every cell stays in the DOM, no news or update checks
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}

# the open notebook's state, read every half second while it runs
STATE_JS = r"""() => {
  // cells are numbered from 1, as JupyterLab's status bar does ("Cell 3/65")
  const w = window.__nb; if (!w) return null;
  const cells = w.content.model.cells, doms = w.content.widgets;
  let code = 0, executed = 0, running = [];
  const errors = [], stderr = [];
  for (let i = 0; i < cells.length; i++) {
    const c = cells.get(i); if (c.type !== 'code') continue;
    code++; if (c.executionCount != null) executed++;
    const p = doms[i] && doms[i].node.querySelector('.jp-InputPrompt');
    if (p && p.textContent.includes('*')) running.push(i + 1);
    for (const o of c.outputs.toJSON()) {
      if (o.output_type === 'error') errors.push({cell: i + 1, ename: o.ename, evalue: String(o.evalue).slice(0, 300)});
      if (o.output_type === 'stream' && o.name === 'stderr') {
        const t = Array.isArray(o.text) ? o.text.join('') : String(o.text);
        if (/Traceback/.test(t)) errors.push({cell: i + 1, stderr: t.slice(0, 300)}); else if (t.trim()) stderr.push({cell: i + 1, text: t.slice(0, 200)});
      }
    }
  }
  const k = w.sessionContext.session && w.sessionContext.session.kernel;
  const n = w.node;
  const plots = [...n.querySelectorAll('.js-plotly-plot')], heat = [...n.querySelectorAll('.steerattn-heatmap')];
  const stderrTb = [...n.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
    .filter(e => e.textContent.includes('Traceback')).length;
  return {cells: cells.length, code_cells: code, executed, running, kernel: k ? k.status : 'none',
          run_all: window.__runAll || null, errors, stderr, stderr_traceback_dom: stderrTb,
          plotly: plots.length, plotly_drawn: plots.filter(d => d.querySelector('.main-svg')).length,
          heatmaps: heat.length, heatmaps_drawn: heat.filter(d => d.querySelector('canvas, svg, table, div')).length};
}"""

# the notebook widget of `path` once its kernel is idle (then made current)
FIND_JS = r"""(path) => {
  const app = window.jupyterapp; if (!app) return false;
  for (const w of app.shell.widgets('main')) {
    if (!w.context || w.context.path !== path || !w.context.isReady || !w.content || !w.content.model) continue;
    const k = w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
    if (!k || k.status !== 'idle') return false;
    app.shell.activateById(w.id); window.__nb = w; return true;
  }
  return false;
}"""

RUN_ALL_JS = r"""() => {
  window.__runAll = 'running';
  window.jupyterapp.commands.execute('notebook:run-all-cells')
    .then(r => { window.__runAll = r === false ? 'stopped' : 'done'; }, e => { window.__runAll = 'error: ' + e; });
}"""

# the notebook's scroll container: its height and scrolling for the full screenshots
SCROLLER_JS = r"""(top) => {
  const els = [window.__nb.node, ...window.__nb.node.querySelectorAll('*')].filter(e => {
    const s = getComputedStyle(e).overflowY; return (s === 'auto' || s === 'scroll') && e.scrollHeight > e.clientHeight + 5; });
  const e = els.sort((a, b) => b.scrollHeight - a.scrollHeight)[0];
  if (!e) return null;
  if (top !== null) e.scrollTop = top;
  return {scrollHeight: e.scrollHeight, clientHeight: e.clientHeight};
}"""


class CheckTimeout(Exception): pass


class Deadline:
    def __init__(self, seconds): self.t0, self.seconds = time.perf_counter(), seconds
    def elapsed(self): return time.perf_counter() - self.t0
    def left(self, what):
        left = self.seconds - self.elapsed()
        if left <= 0: raise CheckTimeout(f"timed out after {self.seconds:.0f} s while {what}")
        return left


def chromium():
    "The system Chromium (STEERATTN_CHROMIUM overrides), or None."
    for c in (os.environ.get("STEERATTN_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if c and shutil.which(c): return shutil.which(c)
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def sha256(p): return hashlib.sha256(Path(p).read_bytes()).hexdigest()


def copy_tree(dst: Path, extra=()):
    "The working tree as a clone with its changes would hold it (tracked + untracked, not ignored) copied into `dst`; file count."
    try:
        ls = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):      # not a git checkout: the files nbdev and the notebooks need
        ls = [p.relative_to(ROOT).as_posix() for d in ("nbs", "steerattn") for p in (ROOT/d).rglob("*") if p.is_file()]
        ls += [f for f in ("settings.ini", "setup.py", "pyproject.toml") if (ROOT/f).exists()]
    n = 0
    for f in dict.fromkeys([*ls, *extra]):
        src = ROOT/f
        if not f or not src.is_file() or src.is_symlink(): continue     # deleted in the working tree, or a link
        (dst/f).parent.mkdir(parents=True, exist_ok=True); shutil.copy2(src, dst/f); n += 1
    return n


def start_lab(tmp: Path, root: Path, port: int, token: str, log_path: Path, small=True):
    "This venv's JupyterLab serving `root` on 127.0.0.1:port, every per-user dir in `tmp`; its own process group."
    dirs = {k: tmp/k for k in ("runtime", "config", "data", "settings", "workspaces", "ipython")}
    for d in dirs.values(): d.mkdir(parents=True)
    for plugin, s in LAB_SETTINGS.items():
        f = dirs["settings"]/f"{plugin}.jupyterlab-settings"; f.parent.mkdir(parents=True, exist_ok=True); f.write_text(json.dumps(s))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
           "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]), "JUPYTER_CONFIG_DIR": str(dirs["config"]),
           "JUPYTER_DATA_DIR": str(dirs["data"]), "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
           "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]), "IPYTHONDIR": str(dirs["ipython"])}
    # kernels inherit it: tutorials that honour it run at a small size, so the check stays within two minutes
    if small: env[SMALL_ENV] = "1"
    else: env.pop(SMALL_ENV, None)
    lab = Path(sys.executable).parent/"jupyter-lab"
    cmd = [str(lab) if lab.exists() else sys.executable, *([] if lab.exists() else ["-m", "jupyterlab"]),
           "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.terminals_enabled=False",
           "--LabApp.expose_app_in_browser=True", f"--LabApp.user_settings_dir={dirs['settings']}",
           f"--LabApp.workspaces_dir={dirs['workspaces']}", "--LabApp.news_url=None", "--LabApp.extension_manager=readonly",
           "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
           "--NotebookNotary.db_file=:memory:",
           # a backstop should this script die without stopping the server
           "--ServerApp.shutdown_no_activity_timeout=600", "--MappingKernelManager.cull_idle_timeout=600"]
    log = open(log_path, "w")
    return subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop_lab(proc):
    "SIGTERM to the server's own process group (server and its kernels), SIGKILL after 10 s."
    if proc is None or proc.poll() is not None: return
    try: os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError: return
    try: proc.wait(10)
    except subprocess.TimeoutExpired:
        try: os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError: pass
        proc.wait(5)


def wait_for_server(proc, port, token, dl, log_path):
    url = f"http://127.0.0.1:{port}/api/status?token={token}"
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {proc.returncode} before it served:\n" + log_path.read_text()[-2000:])
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200: return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError): pass
        dl.left("waiting for JupyterLab to serve"); time.sleep(0.3)


# what JupyterLab's model of the open notebook says: modified?, and the metadata it holds
DIRTY_JS = r"""() => ({dirty: window.__nb.context.model.dirty, metadata: window.__nb.context.model.sharedModel.getMetadata()})"""


def is_tutorial(nb_rel): return "tutorials" in Path(nb_rel).parts


def check_notebook(context, base, token, root, nb_rel, idx, out, dl, a, net, r):
    "Open, save, run all, measure, screenshot one notebook (in the copy at `root`) into its report `r` (with `failures`)."
    from playwright.sync_api import TimeoutError as PWTimeout
    r.update(notebook=nb_rel, timings={}, screenshots=[], console_errors=[], saves=[])
    stem = Path(nb_rel).stem
    for old in [*out.glob(f"{stem}-*.png"), *out.glob(f"{stem}-*.jpeg")]: old.unlink()
    path = root/nb_rel
    original = (ROOT/nb_rel).read_bytes()        # the working tree's file, as a clone with these changes has it
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and r["console_errors"].append(m.text[:300]))
    page.on("pageerror", lambda e: r["console_errors"].append(f"pageerror: {str(e)[:300]}"))
    page.on("websocket", lambda ws: urlsplit(ws.url).hostname not in LOCAL_HOSTS and net["external"].append({"url": ws.url, "type": "websocket"}))
    def shot(name, ext="png"):     # the tall whole-notebook parts as JPEG: PNG-encoding 1400 x 12000 px takes seconds
        page.screenshot(path=str(out/f"{stem}-{name}.{ext}"), timeout=15_000, **({"quality": 80} if ext == "jpeg" else {}))
        r["screenshots"].append(f"{stem}-{name}.{ext}")
    t = time.perf_counter()

    def wait(js, what, arg=None, polling=250):
        try: page.wait_for_function(js, arg=arg, polling=polling, timeout=dl.left(what) * 1000)
        except PWTimeout: raise CheckTimeout(f"timed out after {dl.elapsed():.0f} s while {what}") from None

    def phase(name):
        nonlocal t
        now = time.perf_counter(); r["timings"][name] = round(now - t, 1); t = now

    def save(when):
        "Ctrl+S as a user presses it; records whether the file was written and is still byte-identical to the original."
        m0 = path.stat().st_mtime_ns
        # keys to the notebook in command mode (a click could land on a button or in a cell editor)
        page.evaluate("() => { const n = window.__nb.content; n.mode = 'command'; n.activate(); n.node.focus(); }")
        page.keyboard.press("Control+s")
        t0 = time.perf_counter()
        while path.stat().st_mtime_ns == m0 and time.perf_counter() - t0 < min(15, dl.left(f"saving {nb_rel} ({when})")):
            page.wait_for_timeout(100)
        wait("() => !window.__nb.context.model.dirty", f"saving {nb_rel} ({when})")
        data = path.read_bytes()
        rec = dict(when=when, saved=path.stat().st_mtime_ns != m0, identical=data == original, bytes=len(data))
        if not rec["identical"]:
            (out/f"{stem}-saved-{when.replace(' ', '-')}.ipynb").write_bytes(data)     # for a diff with the original
            rec["diff"] = [l for l in difflib.unified_diff(original.decode(errors="replace").splitlines(), data.decode(errors="replace").splitlines(),
                                                           lineterm="", n=0)][2:12]
        r["saves"].append(rec)

    try:
        # a workspace of its own, so no other notebook is restored next to it
        url = f"{base}/lab/workspaces/check-{idx}/tree/{quote(nb_rel)}?token={token}"
        page.goto(url, wait_until="domcontentloaded", timeout=dl.left("loading JupyterLab") * 1000)
        wait("() => !!window.jupyterapp", "loading JupyterLab (window.jupyterapp never appeared)")
        phase("lab_load")
        wait(FIND_JS, f"opening {nb_rel} and starting its kernel", arg=nb_rel)
        phase("open_and_kernel")
        page.wait_for_timeout(500)
        st = page.evaluate(DIRTY_JS)
        r["modified_on_open"], r["metadata_in_lab"] = st["dirty"], st["metadata"]
        shot("1-opened")
        save("after opening")
        phase("save")
        page.evaluate(RUN_ALL_JS)
        last, shown = None, time.perf_counter()
        while True:           # until run-all returned, the kernel is idle and no prompt reads [*]
            st = page.evaluate(STATE_JS)
            if st and st["run_all"] != "running" and st["kernel"] == "idle" and not st["running"]: break
            if st and time.perf_counter() - shown > 10:
                print(f"  {nb_rel}: {st['executed']}/{st['code_cells']} code cells ran, kernel {st['kernel']}", flush=True); shown = time.perf_counter()
            last = st
            try: dl.left("running all cells")
            except CheckTimeout as e:
                run = last["running"][0] if last and last["running"] else "?"
                raise CheckTimeout(f"{e} ({last['executed'] if last else '?'}/{last['code_cells'] if last else '?'} code cells ran; cell {run} of {last['cells'] if last else '?'} was running)") from None
            page.wait_for_timeout(500)
        phase("run_all")
        # figures draw after their output arrives: wait until every one drew (or the counts stay put for 3 s)
        stable, prev = time.perf_counter(), None
        while True:
            st = page.evaluate(STATE_JS)
            key = (st["plotly"], st["plotly_drawn"], st["heatmaps"], st["heatmaps_drawn"])
            if st["plotly"] == st["plotly_drawn"] and st["heatmaps"] == st["heatmaps_drawn"] and time.perf_counter() - stable > 1: break
            if key != prev: prev, stable = key, time.perf_counter()
            elif time.perf_counter() - stable > 3: break
            dl.left("waiting for the figures to draw"); page.wait_for_timeout(300)
        phase("render")
        shot("2-after-run-all")
        # the whole notebook: a viewport as tall as the notebook (in parts above 12000 px)
        sc = page.evaluate(SCROLLER_JS, None)
        if sc:
            vp = page.viewport_size; extra = sc["scrollHeight"] - sc["clientHeight"]
            h = min(vp["height"] + extra, 12000); page.set_viewport_size({"width": vp["width"], "height": h})
            page.wait_for_timeout(1000)
            sc = page.evaluate(SCROLLER_JS, 0) or sc
            parts = max(1, -(-sc["scrollHeight"] // max(sc["clientHeight"], 1)))
            for i in range(min(parts, 4)):
                page.evaluate(SCROLLER_JS, i * sc["clientHeight"]); page.wait_for_timeout(300)
                shot("3-full" + (f"-{i + 1}" if parts > 1 else ""), "jpeg")
            page.set_viewport_size(vp)
        phase("screenshots")
        st = page.evaluate(STATE_JS)
        r.update({k: st[k] for k in ("cells", "code_cells", "executed", "plotly", "plotly_drawn", "heatmaps", "heatmaps_drawn",
                                     "stderr_traceback_dom", "errors")})
        r["run_all"], r["stderr_messages"] = st["run_all"], st["stderr"]
        if is_tutorial(nb_rel): save("after run all"); phase("save_after_run")
        try: page.evaluate("() => window.__nb.sessionContext.shutdown()")
        except Exception: pass
    except (CheckTimeout, PWTimeout) as e:
        r["failures"] = [str(e)]
        try: shot("timeout")
        except Exception: pass
        raise
    finally:
        page.close()
    f = []
    if r["modified_on_open"]:
        f.append("opening it marked it modified (JupyterLab changed its metadata to " + json.dumps(r["metadata_in_lab"])[:200]
                 + "): is .venv/etc/jupyter/jupyter_server_config.py the one run.sh writes?")
    for sv in r["saves"]:
        if not sv["saved"]: f.append(f"Ctrl+S {sv['when']} did not write the file")
        elif not sv["identical"]: f.append(f"saving {sv['when']} changed the file (git would show it): {' | '.join(sv['diff'])[:300]}")
    if r["executed"] != r["code_cells"]: f.append(f"{r['code_cells'] - r['executed']} of {r['code_cells']} code cells did not run (run-all: {r['run_all']})")
    if r["errors"]: f.append(f"{len(r['errors'])} error output(s): " + "; ".join(f"cell {e['cell']}: {e.get('ename', '')} {e.get('evalue', e.get('stderr', ''))}"[:200] for e in r["errors"][:3]))
    if r["stderr_traceback_dom"] and not r["errors"]: f.append(f"{r['stderr_traceback_dom']} stderr output(s) with a Traceback on the page")
    if r["plotly_drawn"] < a.min_plotly: f.append(f"{r['plotly_drawn']} plotly figure(s) drew, expected at least {a.min_plotly}")
    if r["plotly"] != r["plotly_drawn"]: f.append(f"{r['plotly'] - r['plotly_drawn']} of {r['plotly']} plotly figure(s) did not draw")
    if r["heatmaps_drawn"] < a.min_heatmaps: f.append(f"{r['heatmaps_drawn']} circuitsvis heatmap(s) drew, expected at least {a.min_heatmaps}")
    if r["heatmaps"] != r["heatmaps_drawn"]: f.append(f"{r['heatmaps'] - r['heatmaps_drawn']} of {r['heatmaps']} circuitsvis heatmap(s) did not draw")
    r["failures"] = f
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="*", default=DEFAULT, help="notebooks relative to the repo root (default: %(default)s)")
    ap.add_argument("--out", default=str(ROOT/"_lab_check"), help="screenshots and report.json (default: _lab_check/)")
    ap.add_argument("--timeout", type=float, default=105, help="seconds for the whole check, stopping the server aside (default: %(default)s)")
    ap.add_argument("--min-plotly", type=int, default=1, help="plotly figures that must draw per notebook")
    ap.add_argument("--min-heatmaps", type=int, default=1, help="circuitsvis heatmaps that must draw per notebook")
    ap.add_argument("--full-size", action="store_true", help=f"run tutorials at their documented size (without {SMALL_ENV}=1); slower than two minutes")
    ap.add_argument("--strict-network", action="store_true", help="fail on any blocked request to a host other than 127.0.0.1")
    a = ap.parse_args()
    dl = Deadline(a.timeout)
    out = Path(a.out).resolve(); out.mkdir(parents=True, exist_ok=True)
    nbs = []
    for nb in a.notebooks:
        p = Path(nb).resolve() if Path(nb).is_absolute() else (Path.cwd()/nb).resolve()
        if not p.exists(): p = (ROOT/nb).resolve()
        if not p.exists(): sys.exit(f"lab check: {nb} not found")
        nbs.append(p.relative_to(ROOT).as_posix())
    exe = chromium()
    if not exe: sys.exit("lab check: Chromium not found (apt-get install -y chromium)")
    try: from playwright.sync_api import sync_playwright
    except ModuleNotFoundError: sys.exit("lab check: playwright not installed (pip install playwright)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("lab check: terminated"))

    report = dict(notebooks={}, chromium=exe, timeout_s=a.timeout, small_tutorials=not a.full_size, network=dict(external=[], local_failed=[]), failures=[])
    net = report["network"]
    proc, ok, timings = None, True, {}
    log_path = out/"lab_server.log"
    with tempfile.TemporaryDirectory(prefix="steerattn-lab-") as tmp:
        try:
            root = Path(tmp)/"repo"
            t0 = time.perf_counter(); n = copy_tree(root, nbs)
            timings["copy_tree"] = round(time.perf_counter() - t0, 1)
            print(f"lab check: {n} files of the working tree copied to a temporary clone in {timings['copy_tree']} s", flush=True)
            port, token = free_port(), secrets.token_hex(24)
            proc = start_lab(Path(tmp)/"lab", root, port, token, log_path, small=not a.full_size)
            wait_for_server(proc, port, token, dl, log_path)
            timings["server_start"] = round(dl.elapsed() - timings["copy_tree"], 1)
            print(f"lab check: JupyterLab on 127.0.0.1:{port} after {timings['server_start']} s", flush=True)
            base = f"http://127.0.0.1:{port}"
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS,
                                             timeout=dl.left("starting Chromium") * 1000)
                context = browser.new_context(viewport={"width": 1400, "height": 1000}, service_workers="block")

                def route(rt):           # nothing leaves 127.0.0.1: other hosts are refused and logged
                    req = rt.request
                    if urlsplit(req.url).hostname in LOCAL_HOSTS or req.url.startswith(("data:", "blob:")): return rt.continue_()
                    net["external"].append({"url": req.url[:300], "type": req.resource_type})
                    return rt.abort("internetdisconnected")
                context.route("**/*", route)
                context.on("requestfailed", lambda q: urlsplit(q.url).hostname in LOCAL_HOSTS and net["local_failed"].append(
                    {"url": q.url.split("?")[0][:200], "error": q.failure}))
                timings["browser_start"] = round(dl.elapsed() - timings["server_start"] - timings["copy_tree"], 1)
                for i, nb in enumerate(nbs):
                    r = report["notebooks"][nb] = {}
                    check_notebook(context, base, token, root, nb, i, out, dl, a, net, r)
                    ok &= not r["failures"]
                    print(f"lab check: {nb}: {r['executed']}/{r['code_cells']} code cells ran, {len(r['errors'])} errors, "
                          f"plotly {r['plotly_drawn']}/{r['plotly']} drew, heatmaps {r['heatmaps_drawn']}/{r['heatmaps']} drew, "
                          f"timings {r['timings']}", flush=True)
                    for m in r["failures"]: print(f"  FAILED: {m}")
                browser.close()
        except CheckTimeout as e:
            ok = False; report["failures"].append(str(e))
            print(f"lab check: FAILED: {e} (limit --timeout {a.timeout:.0f} s; server log: {log_path})", file=sys.stderr)
        except Exception as e:
            ok = False; report["failures"].append(f"{type(e).__name__}: {e}")
            print(f"lab check: FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        finally:
            stop_lab(proc)
    if net["external"]:
        print(f"lab check: {len(net['external'])} request(s) to other hosts blocked: "
              + ", ".join(sorted({x['url'][:80] for x in net['external']})[:5]))
        if a.strict_network: ok = False; report["failures"].append(f"{len(net['external'])} request(s) to other hosts (--strict-network)")
    timings["total"] = round(dl.elapsed(), 1)
    report["timings"], report["passed"] = timings, ok
    (out/"report.json").write_text(json.dumps(report, indent=1))
    print(f"lab check: {'passed' if ok else 'FAILED'} in {timings['total']} s (screenshots and report.json in {out})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__": main()
