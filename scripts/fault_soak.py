"""Fault soak: kill a real `run_experiment` process at random instants, resume it, and compare with a clean run bit for bit.

    python scripts/fault_soak.py [--rounds 20] [--seed 0] [--out /tmp/steerattn-soak] [--takeover]

The notebook test (31_experiment, "fault-injection") simulates kills by deleting and corrupting files; this
script kills a live process with SIGKILL wherever it happens to be (inside a write, between a run's .npz and
.json, during the report), `--rounds` times with seeded random delays, re-running the same command into the
same folder after each kill until one run finishes. Each finished folder must equal the clean run: the summary
without timings, significance.md and every array of every run (dtype, shape, bytes). Tiny random model (3 layers),
CPU, a few seconds per run.

With `--takeover` each round starts from the finished results of another config (a different coefficient) and
runs the new config with `force=True`: after every kill the folder must hold the old config's complete results
(bit for bit), the new config's, or (a kill between the swap's two renames) nothing beside a finished staged run;
the resumed run must end with the new config's results and no staging folder left.
"""
import argparse, json, os, random, shutil, signal, subprocess, sys, time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def setup():
    "The tiny experiment of 31_experiment's tests: model, batches, latents, config."
    import torch
    from steerattn.core import LABELS
    from steerattn.models import tiny_model
    from steerattn.batches import make_batch
    from steerattn.hooks import SteeringVector
    from steerattn.experiment import ExperimentConfig
    torch.manual_seed(0)
    tiny = tiny_model(n_layers=3, n_kv_heads=2)
    names = {"player": ["Michael Jordan", "Goran Jeretin", "LeBron James"], "city": ["Paris", "Ouagadougou", "Tbilisi"]}
    templates = ["The {et} {n} plays for", "Everyone has heard of the {et} {n}"]
    mk = lambda et, ns: make_batch(tiny, [t.format(et=et, n=n) for n in ns for t in templates], [n for n in ns for t in templates],
                                   meta=dict(entity_type=[et] * len(ns) * len(templates)))
    batches = {lab: {et: mk(et, ns) for et, ns in names.items()} for lab in LABELS}
    vec = lambda seed, src: SteeringVector.random(tiny.cfg.d_model, 1, seed=seed, source=src)
    latents = dict(known=[vec(0, "k")], unknown=[vec(1, "u")], random_known=[vec(10 + j, "rk") for j in range(3)],
                   random_unknown=[vec(20 + j, "ru") for j in range(3)])
    cfg = ExperimentConfig(model="tiny", coeff=5.0, known_min=2, entity_types=("player", "city"), top_latents=(0,), n_random=3, n_heads=2)
    return tiny, batches, latents, cfg


def worker(out, variant="A"):
    import dataclasses
    from steerattn.experiment import run_experiment
    tiny, batches, latents, cfg = setup()
    if variant == "B": cfg = dataclasses.replace(cfg, coeff=7.0)
    print("ready", flush=True)            # imports done: the parent times its kill from here, so kills land in the work
    run_experiment(cfg, out, model=tiny, batches=batches, latents=latents, progress=False, force=variant == "B")


def finished(t):
    import numpy as np
    t = Path(t)
    s = json.loads((t/"summary.json").read_text()); s.pop("timings", None)
    arrays = {}
    for f in sorted((t/"runs").glob("*.npz")):
        with np.load(f) as z: arrays |= {f"{f.stem}/{k}": (z[k].dtype.str, z[k].shape, z[k].tobytes()) for k in z.files}
    return json.dumps(s, sort_keys=True), (t/"significance.md").read_text(), arrays


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="/tmp/steerattn-soak")
    ap.add_argument("--takeover", action="store_true", help="kill a --force takeover of another config's finished results")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--variant", default="A", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker: return worker(a.worker, a.variant)
    root = Path(a.out); shutil.rmtree(root, ignore_errors=True); root.mkdir(parents=True)
    variant = "B" if a.takeover else "A"
    cmd = lambda d: [sys.executable, __file__, "--worker", str(d), "--variant", variant]
    if a.takeover: subprocess.run([sys.executable, __file__, "--worker", str(root/"clean-A")], check=True, capture_output=True)
    def start(d):
        "Start a worker; return it and the instant its imports were done."
        p = subprocess.Popen(cmd(d), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        p.stdout.readline(); return p, time.perf_counter()
    p, t0 = start(root/"clean"); p.wait(); t_clean = time.perf_counter() - t0
    if p.returncode: raise SystemExit(p.stderr.read().decode()[-2000:])
    want, rng, log = finished(root/"clean"), random.Random(a.seed), []
    old = finished(root/"clean-A") if a.takeover else None
    print(f"clean run: {t_clean:.1f} s after imports")
    def state(d):
        "After a kill: which complete results the folder holds."
        if d.exists(): return "new" if finished(d) == want else "old" if finished(d) == old else "MIXED"
        staged = [s for s in d.parent.glob(f".{d.name}.*.staging") if (s/"summary.json").exists()]
        return "cut swap" if staged else "MISSING"
    for r in range(a.rounds):
        d, kills = root/f"round{r}", []
        if a.takeover: shutil.copytree(root/"clean-A", d)
        while True:
            p, _ = start(d)
            delay = rng.uniform(0.0, 1.1) * t_clean
            try:
                p.wait(timeout=delay); break                     # finished before the kill
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGKILL); p.wait(); kills.append(round(delay, 2))
                if a.takeover:
                    st = state(d); kills[-1] = (kills[-1], st)
                    if st in ("MIXED", "MISSING"): raise SystemExit(f"round {r}: after a kill at {delay:.2f} s the folder is {st}")
            if len(kills) > 20: raise SystemExit(f"round {r}: never finished after 20 kills")
        if p.returncode != 0: raise SystemExit(f"round {r}: the resumed run failed:\n{p.stderr.read().decode()[-2000:]}")
        same = finished(d) == want and not list(d.parent.glob(f".{d.name}.*"))
        log.append(dict(round=r, kills=kills, equal=same, corrupt_kept=len(list(d.rglob("*.corrupt-*")))))
        print(log[-1], flush=True)
        if not same: raise SystemExit(f"round {r}: results differ from the clean run")
    n_kills = sum(len(x["kills"]) for x in log)
    print(f"{a.rounds} rounds, {n_kills} SIGKILLs at random instants: every resumed run equal to the clean run bit for bit")


if __name__ == "__main__":
    main()
