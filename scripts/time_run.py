"""Time the newcomer's path: a fresh clone, an empty cache, `bash run.sh run` cold and then warm.

    python scripts/time_run.py [--out bench/run_times.json] [--torch torch==2.13.0]

1. `git clone` of this repository's HEAD into a temporary folder (what a user gets);
2. install: a venv with `--torch` (CI's pinned CPU wheel; a user's torch comes from run.sh's index choice) and
   `bash run.sh demo --help` (the README's install);
3. cold: `bash run.sh run` with an empty `STEERATTN_CACHE` (model conversion, labels and latent statistics found
   or computed, steering, gates, refusal, report);
4. warm: `bash run.sh run --out results/warm` with the cache of step 3 (a second experiment; nothing reused from
   step 3's output folder).
Writes wall times, each run's phase times (its summary.json), the load average and the commit to `--out`; the
README's timing line is generated from that file (`steerattn.results.times_markdown`).
"""
import json, os, subprocess, sys, tempfile, time
from pathlib import Path

from fastcore.script import call_parse

ROOT = Path(__file__).resolve().parent.parent


def _timed(cmd, cwd, env, log):
    t0 = time.perf_counter()
    with open(log, "w") as f: rc = subprocess.run(cmd, cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT, shell=isinstance(cmd, str)).returncode
    if rc: sys.exit(f"{cmd!r} failed (exit {rc}); its output: {log}")
    return round(time.perf_counter() - t0, 1)


@call_parse
def main(out:str="bench/run_times.json",  # where the measurements go (relative to the repository)
         torch:str="torch==2.13.0",       # pip spec of torch installed into the fresh venv first ('' to let run.sh choose)
         keep:bool=False):                # keep the temporary clone (its logs and results)
    tmp = Path(tempfile.mkdtemp(prefix="steerattn-time-"))
    clone, cache = tmp/"clone", tmp/"cache"
    env = dict(os.environ, STEERATTN_CACHE=str(cache), HF_HUB_OFFLINE="1")
    env.pop("VIRTUAL_ENV", None)
    load0 = os.getloadavg()
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True, check=True).stdout.strip()
    print(f"timing commit {commit[:7]} in {tmp} (load average {load0[0]:.1f})", flush=True)
    pre = f"python3 -m venv .venv && .venv/bin/python -m pip install -q {torch} && " if torch else ""
    install = _timed(pre + "bash run.sh demo --help", clone, env, tmp/"install.log")
    print(f"install: {install:.0f} s", flush=True)
    runs = {}
    for name, args in (("cold", ""), ("warm", " --out results/warm")):
        wall = _timed("bash run.sh run" + args, clone, env, tmp/f"{name}.log")
        summary = json.loads((clone/("results/warm" if args else "results/steering")/"summary.json").read_text())
        runs[name] = dict(wall_s=wall, phases_s=summary["timings"], verdict=summary["verdict"]["verdict"])
        print(f"{name} run: {wall:.0f} s wall; phases {summary['timings']}", flush=True)
    rec = dict(command="python scripts/time_run.py", commit=commit, cpus=os.cpu_count(), torch=torch or "run.sh's choice",
               load_before=[round(x, 2) for x in load0], load_after=[round(x, 2) for x in os.getloadavg()],
               install_s=install, **runs)
    dest = ROOT/out; tmpf = dest.with_suffix(".tmp")
    tmpf.write_text(json.dumps(rec, indent=1) + "\n"); tmpf.replace(dest)
    print("wrote", dest)
    if not keep:
        import shutil; shutil.rmtree(tmp, ignore_errors=True)
