"""Latent atlas throughput, side by side in one process: today's exact atlas, the bucketed exact atlas (fp32 and
bf16), and the first-order atlas; with the machine's own matmul bar and the first-order atlas's fidelity.

    python bench/atlas_bench.py [--latents 48] [--rounds 2] [--threads 2] [--coeff-latents 24] [--out bench/atlas_bench.cpu.json]

Workload: the default model and SAE (2048 latents at layer 15) and the prompts of the committed exact atlas
`results/atlas` (8 known + 8 unknown test-split prompts, rebuilt from its atlas.json and checked against its key),
coefficient 100 at the entity's last token, measure attn_weights, one process with `--threads` threads.
Methods (interleaved: every method once per round, rounds repeated; rates from the median round):
  today       `atlas_block(bucket=False)`, batch 64, max_rows 64: the committed atlas's settings (4 latents per pass)
  new_fp32    `atlas_block(bucket=True)`, max_rows 1024: one engine call per steered-suffix length, all latents of the
              block in one pass per bucket; must equal `today` within 1e-5
  new_bf16    the same with the model loaded in bfloat16 (max error and Spearman of the pooled effects vs fp32 reported)
  first_order `first_order_atlas` for all 2048 latents (one backward per prompt batch, one matmul)
Fidelity of the first-order atlas: against the committed exact atlas of all 2048 latents at coefficient 100 (Spearman
and Pearson correlation of the pooled effect per label, top-k overlap, the top latents' ranks under both), and against
exact `new_fp32` runs on `--coeff-latents` latents at coefficients 1, 10, 30, 100 (relative error, Spearman).
The pooled effect: mean over the atlas's findings heads (the 4 heads attending most to the entity unsteered).
Machine bar (bench/machine_bar.py): one decoder layer's projections as torch linear calls at the steered passes' row
count, fp32 and bf16, timed in every round next to the methods; each exact method's GFLOP/s (analytic FLOPs of the
token-layers it runs) is reported as a fraction of the bar of its dtype.
"""
import argparse, json, os, platform, statistics, sys, time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT/"bench"))


def token_layer_flop(g) -> float:
    "FLOPs of one token through one decoder layer's projections (2 per multiply-add; attention scores over ~20 keys omitted)."
    d, kvd = g["d_model"], g["n_kv"] * g["d_head"]
    return 2 * (d * d * 2 + 2 * d * kvd + 3 * d * g["d_mlp"])


def spearman(a, b):
    from scipy.stats import spearmanr
    return float(spearmanr(a, b).correlation)


def topk_overlap(a, b, k, sign):
    import numpy as np
    return len(set(np.argsort(-sign * a, kind="stable")[:k]) & set(np.argsort(-sign * b, kind="stable")[:k])) / k


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latents", type=int, default=48, help="latents 0..n-1 for the exact methods")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-rows", type=int, default=1024, help="rows per steered pass of the new exact atlas")
    ap.add_argument("--coeff-latents", type=int, default=24, help="latents of the error-vs-coefficient check (0: skip)")
    ap.add_argument("--out", default=str(ROOT/"bench"/"atlas_bench.cpu.json"))
    a = ap.parse_args()
    import numpy as np, torch
    torch.set_num_threads(a.threads)
    from steerattn import latents as LT
    from steerattn.atlas import (atlas_block, atlas_key, first_order_atlas, latent_values, latent_vectors, load_atlas, _tail_groups)
    from steerattn.batches import make_batch
    from steerattn.core import LABELS
    from steerattn.hooks import get_batch_pos
    from steerattn.models import load_model
    from machine_bar import machine_bar
    t_all, load0 = time.time(), os.getloadavg()
    A, info = load_atlas(ROOT/"results"/"atlas")
    models = {dt: load_model("default", dtype=dt) for dt in ("float32", "bfloat16")}
    sae = LT.load_default_sae()
    m = models["float32"]
    P = info["prompts"]
    batch = make_batch(m, [p["prompt"] for p in P], [p["entity"] for p in P],
                       meta=dict(label=[p["label"] for p in P], entity_type=[p["entity_type"] for p in P]))
    key = atlas_key(m, sae, batch, info["coeff"], info["measures"], info["pos_type"], info["batch_size"], info["max_rows"])
    if key != info["key"]: sys.exit(f"the rebuilt prompts do not reproduce results/atlas (key {key} != {info['key']})")
    coeff, heads, L0 = info["coeff"], [tuple(h) for h in info["findings"]["attn_weights"]["heads"]], info["layer"]
    geo = dict(d_model=m.cfg.d_model, d_mlp=m.cfg.d_mlp, n_heads=m.cfg.n_heads, n_kv=getattr(m.cfg, "n_key_value_heads", None) or m.cfg.n_heads,
               d_head=m.cfg.d_head, n_layers=m.cfg.n_layers)
    # token-layers per latent: today every prompt runs the batch's widest suffix; bucketed, each prompt its own
    S, bp = batch.tokens.shape[1], get_batch_pos(batch.entity_positions, info["pos_type"], batch.tokens, batch.attention_mask)
    tails = [S - min(p) for p in bp]
    layers = geo["n_layers"] - L0
    tl = dict(today=len(tails) * max(tails) * layers, new=sum(tails) * layers)
    flop_tl = token_layer_flop(geo)
    lat = list(range(a.latents))
    vecs = latent_vectors(sae, lat, coeff)
    methods = dict(
        today=lambda: atlas_block(m, batch, vecs, coeff, info["measures"], info["pos_type"], 64, None, L0, bucket=False),
        new_fp32=lambda: atlas_block(m, batch, vecs, coeff, info["measures"], info["pos_type"], 64, a.max_rows, L0, bucket=True),
        new_bf16=lambda: atlas_block(models["bfloat16"], batch, vecs, coeff, info["measures"], info["pos_type"], 64, a.max_rows, L0, bucket=True),
        first_order=lambda: first_order_atlas(m, sae, batch, heads, coeff, progress=False))
    n_lat = dict(today=a.latents, new_fp32=a.latents, new_bf16=a.latents, first_order=sae.cfg.d_sae)
    rows = a.max_rows   # the bar's row count: a bucketed pass stacks up to max_rows rows of a few tokens
    print(f"workload: default model + SAE, {len(tails)} prompts (results/atlas), coeff {coeff}, {a.latents} latents (exact), "
          f"{sae.cfg.d_sae} (first order), {a.threads} threads, {a.rounds} rounds; load {load0}", flush=True)
    atlas_block(m, batch, vecs[:2], coeff, bucket=True); atlas_block(models["bfloat16"], batch, vecs[:2], coeff, bucket=True)   # warm-up
    times, bars, out = {k: [] for k in methods}, [], {}
    for r in range(a.rounds):
        bars.append(machine_bar(geo, rows * 6, a.threads, seconds=1.0))
        for k, f in methods.items():
            t = time.perf_counter(); out[k] = f(); times[k].append(time.perf_counter() - t)
            print(f"  round {r + 1}/{a.rounds} {k:<12} {times[k][-1]:8.2f} s  ({60 * n_lat[k] / times[k][-1]:10.1f} latents/min)", flush=True)
    bars.append(machine_bar(geo, rows * 6, a.threads, seconds=1.0))
    med = {k: statistics.median(v) for k, v in times.items()}
    rate = {k: 60 * n_lat[k] / med[k] for k in methods}
    bar = {dt: statistics.median(b[dt]["layer_gflops"] for b in bars) for dt in ("float32", "bfloat16")}
    gflops = dict(today=a.latents * tl["today"] * flop_tl / med["today"] / 1e9, new_fp32=a.latents * tl["new"] * flop_tl / med["new_fp32"] / 1e9,
                  new_bf16=a.latents * tl["new"] * flop_tl / med["new_bf16"] / 1e9)
    # equality and bf16 error
    pooled = lambda x, li: x[:, li, 0][:, [h[0] - L0 for h in heads], [h[1] for h in heads]].mean(-1)
    eq_new = float(np.abs(out["new_fp32"]["mean"] - out["today"]["mean"]).max())
    bf_err = float(np.abs(out["new_bf16"]["mean"] - out["new_fp32"]["mean"]).max())
    bf = dict(max_abs_error=bf_err, max_abs_effect=float(np.abs(out["new_fp32"]["mean"]).max()),
              spearman_pooled={l: spearman(pooled(out["new_fp32"]["mean"], li), pooled(out["new_bf16"]["mean"], li)) for li, l in enumerate(LABELS)},
              spearman_all_heads=spearman(out["new_fp32"]["mean"].ravel(), out["new_bf16"]["mean"].ravel()))
    # first-order fidelity against the committed exact atlas (all latents)
    fo = out["first_order"]
    fid = {}
    for li, l in enumerate(LABELS):
        ex, f = latent_values(A, info, heads, l), fo["mean"][:, li]
        fid[l] = dict(spearman=spearman(ex, f), pearson=float(np.corrcoef(ex, f)[0, 1]),
                      rel_error=float(np.linalg.norm(f - ex) / np.linalg.norm(ex)),
                      top_overlap={f"{k}_{d}": topk_overlap(ex, f, k, s) for k in (10, 50, 100) for d, s in (("up", 1), ("down", -1))})
    ranks = {}
    for lab_latent, ids in (info.get("top_latents") or {}).items():
        tested, direction = {"known": ("unknown", 1), "unknown": ("known", -1)}[lab_latent]
        li = LABELS.index(tested)
        ex, f = latent_values(A, info, heads, tested), fo["mean"][:, li]
        for i in ids:
            ranks[f"{lab_latent} latent {i} on {tested} prompts"] = dict(exact=int((direction * ex > direction * ex[i]).sum()) + 1,
                                                                         first_order=int((direction * f > direction * f[i]).sum()) + 1)
    vs_coeff = []
    if a.coeff_latents:
        sub = list(range(a.coeff_latents))
        for c in (1.0, 10.0, 30.0, 100.0):
            ex = atlas_block(m, batch, latent_vectors(sae, sub, c), c, info["measures"], info["pos_type"], 64, a.max_rows, L0)["mean"]
            f = first_order_atlas(m, sae, batch, heads, c, latents=sub, progress=False)["mean"]
            e = np.stack([pooled(ex, li) for li in range(2)], 1)
            vs_coeff.append(dict(coeff=c, rel_error=float(np.linalg.norm(f - e) / np.linalg.norm(e)),
                                 spearman={l: spearman(e[:, li], f[:, li]) for li, l in enumerate(LABELS)}))
            print(f"  first order vs exact at coeff {c:g}: relative error {vs_coeff[-1]['rel_error']:.3f}", flush=True)
    res = dict(
        workload=dict(model="default", sae="default (2048 latents, layer 15)", prompts=len(tails), prompts_from="results/atlas",
                      coeff=coeff, measure=info["measures"], pos_type=info["pos_type"], heads_pooled=heads, exact_latents=a.latents,
                      first_order_latents=sae.cfg.d_sae, threads=a.threads, rounds=a.rounds, max_rows_new=a.max_rows,
                      steered_suffix_tokens=dict(per_prompt=tails, today_padded=len(tails) * max(tails), bucketed=sum(tails)),
                      command=" ".join(["python bench/atlas_bench.py"] + sys.argv[1:])),
        machine=dict(python=platform.python_version(), cpus=os.cpu_count(), platform=platform.platform(), torch=torch.__version__,
                     load_before=load0, load_after=os.getloadavg()),
        seconds=times, latents_per_minute={k: round(v, 1) for k, v in rate.items()},
        ratios=dict(new_fp32_over_today=rate["new_fp32"] / rate["today"], new_bf16_over_today=rate["new_bf16"] / rate["today"],
                    new_bf16_over_new_fp32=rate["new_bf16"] / rate["new_fp32"], first_order_over_today=rate["first_order"] / rate["today"],
                    first_order_over_best_exact=rate["first_order"] / max(rate["new_fp32"], rate["new_bf16"]),
                    per_round={k: [round(times["today"][r] * n_lat[k] / n_lat["today"] / times[k][r], 2) for r in range(a.rounds)]
                               for k in ("new_fp32", "new_bf16", "first_order")},
                    note="rates from the median time per method; per_round: each round's own ratio to today (the same minute of load)"),
        machine_bar=dict(per_round=bars, layer_gflops_median=bar, rows=rows * 6, flop_per_token_layer=flop_tl),
        gflops=dict(gflops, fraction_of_bar=dict(today=gflops["today"] / bar["float32"], new_fp32=gflops["new_fp32"] / bar["float32"],
                                                 new_bf16=gflops["new_bf16"] / bar["bfloat16"])),
        new_fp32_equal_to_today=dict(max_abs_diff=eq_new, ok=eq_new <= 1e-5),
        bf16_vs_fp32=bf,
        first_order_fidelity=dict(vs_committed_exact_atlas=fid, top_latent_ranks=ranks, vs_coefficient=vs_coeff,
                                  use="screening: which latents to compute exactly; not the reported ranks and p-values"),
        targets={"exact atlas >= 3x today's latents/min": dict(value=round(max(rate["new_fp32"], rate["new_bf16"]) / rate["today"], 2),
                                                               met=max(rate["new_fp32"], rate["new_bf16"]) / rate["today"] >= 3),
                 "first order >= 100x the exact atlas": dict(value=round(rate["first_order"] / max(rate["new_fp32"], rate["new_bf16"]), 1),
                                                             met=rate["first_order"] / max(rate["new_fp32"], rate["new_bf16"]) >= 100)},
        wall_s=round(time.time() - t_all, 1))
    tmp = Path(a.out).with_suffix(".tmp"); tmp.write_text(json.dumps(res, indent=1)); os.replace(tmp, a.out)
    print(f"\n{'method':<12} {'latents/min':>12} {'x today':>8} {'GFLOP/s':>8} {'of bar':>7}")
    for k in methods:
        g = res["gflops"].get(k); fr = res["gflops"]["fraction_of_bar"].get(k)
        print(f"{k:<12} {rate[k]:>12.1f} {rate[k] / rate['today']:>8.2f} {'' if g is None else '%.1f' % g:>8} {'' if fr is None else '%.0f%%' % (100 * fr):>7}")
    print(f"machine bar (one layer's projections, {rows * 6} rows, {a.threads} threads): fp32 {bar['float32']:.1f}, bf16 {bar['bfloat16']:.1f} GFLOP/s")
    print(f"new fp32 == today: max |Δ| {eq_new:.1e}; bf16 vs fp32: max |Δ| {bf_err:.1e} (max effect {bf['max_abs_effect']:.3f}), "
          f"Spearman pooled {bf['spearman_pooled']}")
    print(f"first order vs exact atlas (2048 latents): " + "; ".join(f"{l}: Spearman {v['spearman']:.3f}, top-50 up/down "
          f"{v['top_overlap']['50_up']:.2f}/{v['top_overlap']['50_down']:.2f}" for l, v in fid.items()))
    print("top latents' ranks exact -> first order: " + ", ".join(f"{k.split(' on')[0]} {v['exact']}->{v['first_order']}" for k, v in ranks.items()))
    print("per-round ratios to today: " + "; ".join(f"{k} {v}" for k, v in res["ratios"]["per_round"].items()))
    for k, t in res["targets"].items(): print(f"{'MET ' if t['met'] else 'MISS'} {k}: {t['value']}")
    print(f"load before {load0}, after {res['machine']['load_after']}; wrote {Path(a.out).relative_to(ROOT) if Path(a.out).is_relative_to(ROOT) else a.out}")
    if eq_new > 1e-5: sys.exit(f"FAILED: the bucketed fp32 atlas differs from today's by {eq_new:.1e}")


if __name__ == "__main__":
    main()
