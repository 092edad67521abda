"""Compare two `steerattn run` results folders: the decisions and the per-prompt score error (e.g. bfloat16 vs float32).

    steerattn run --dtype bfloat16 --out /tmp/bf16
    python scripts/compare_runs.py results/default /tmp/bf16

Prints whether the verdict, heads, latents, gates and k/10 counts (prompt and entity level) agree, which counts differ,
the rank of each top latent in both, each run's phase times, and per measure the max and median absolute difference
of the per-prompt arrays (`per_prompt.npz`) with the largest value they reach.
"""
import json, sys
from pathlib import Path
import numpy as np
from fastcore.script import call_parse


def _counts_diff(a, b):
    return [f"{m} / {row}: {a[m][row]} vs {b[m].get(row)}" for m in a for row in a[m] if b.get(m, {}).get(row) != a[m][row]]


@call_parse
def main(a:str,  # reference results folder (e.g. results/default)
         b:str): # the other results folder
    A, B = (json.loads((Path(d)/"summary.json").read_text()) for d in (a, b))
    lat = lambda s: [v["latent_idx"] for k in ("known", "unknown") for v in s["latents"][k]]
    gates = lambda s: {k: v.get("passed") for k, v in s["gates"].items() if isinstance(v, dict)}
    print(f"verdict: {A['verdict']['verdict']} vs {B['verdict']['verdict']}")
    for name, f in (("heads", lambda s: s["heads"]), ("top latents", lat), ("gates passed", gates)):
        print(f"{name}: {'same' if f(A) == f(B) else f'{f(A)} vs {f(B)}'}")
    for key in ("significance", "significance_entity"):
        d = _counts_diff(A[key], B[key])
        print(f"k/10 counts ({key}): {'same' if not d else f'{len(d)} differ: ' + '; '.join(d)}")
    for lab in ("known", "unknown"):
        for ta, tb in zip(A["gates"]["rank"][lab]["tops"], B["gates"]["rank"][lab]["tops"]):
            print(f"{lab} prompts, latent {ta['latent']}: rank {ta['rank']} vs {tb['rank']} (p {ta['p_rank']:.3g} vs {tb['p_rank']:.3g}), "
                  f"Δ {ta['delta']['mean']:+.4f} vs {tb['delta']['mean']:+.4f}")
    print(f"phase times (s): {A['timings']}\n              vs {B['timings']}")
    za, zb = np.load(Path(a)/"per_prompt.npz"), np.load(Path(b)/"per_prompt.npz")
    for m in A["config"]["measures"]:
        ks = [k for k in za.files if f"/{m}/" in k and k in zb.files and za[k].shape == zb[k].shape and za[k].size]
        if not ks: continue
        err = [float(np.nanmax(np.abs(za[k].astype(float) - zb[k].astype(float)))) for k in ks]
        top = max(float(np.nanmax(np.abs(za[k].astype(float)))) for k in ks)
        print(f"{m}: {len(ks)} arrays, max |difference| {max(err):.4g}, median {np.median(err):.4g} (largest value {top:.4g})")
