"""Steering-attention protocol: steerattn's engine vs a faithful seed-style reference, side by side.

    python bench/steering_bench.py [--n 64] [--repeats 3] [--out bench/out/steering_bench.json]

Workload (issue 8): the default model; 4 entity types x N prompts x known and unknown x (1 top + 10
random latents), pos_type entity_last, measures attn_weights and value_weighted. Directions are
seeded random unit vectors at the middle layer (the work per condition is the same as with SAE
latents). Every measurement runs in its own subprocess, so peak memory is that job's alone.

Reference (seed 000, "Main Analysis Loop"): one script pass per measure; for every latent and entity
type the baseline is recomputed; every pass is a full `run_with_cache` with no filter; value-weighted
patterns go through the full [batch, q, k, head, d_head] einsum; aggregation and steering loop in
Python per element. Same model, prompts, conditions, dtype, device and batch size as the engine.
Floors run a pristine Hugging Face copy of the model (the Bridge swaps its own components into the HF
model it wraps; the copy has HF's default SDPA attention, no hooks, no LM head): `floor` is the engine's
distinct work (one full pass per batch for the baseline, then each condition's steered residual through
the layers from the steering layer on, the last layer's attention only); `--full-floor` adds one full
pass per baseline and per condition. Peak memory is counted from before the warm-up.
"""
import argparse, json, os, platform, statistics, subprocess, sys, threading, time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
TYPES = ("player", "movie", "city", "song")
MEASURES = ("attn_weights", "value_weighted")


# ---------------------------------------------------------------- workload
def workload(model, n, n_random=10, layer=None, coeff=100.0, seed=0, length=None, n_top=1):
    "Prompt sets {(label, type): (tokens, mask, entity_positions)} and condition vectors per label."
    import torch
    from steerattn.entities import load_entities, RELATIONS, PROMPT_TEMPLATE
    from steerattn.models import tokenize, token_positions
    from steerattn.hooks import SteeringVector
    layer = model.cfg.n_layers // 2 if layer is None else layer
    sets = {}
    for et in TYPES:
        ents = [e["name"] for e in load_entities(et)][: 2 * n]
        rel = next(iter(RELATIONS[et].values()))
        for li, label in enumerate(("known", "unknown")):
            names = ents[li * n:(li + 1) * n]
            prompts = [PROMPT_TEMPLATE.format(entity_type=et, entity_name=x, relation=rel) for x in names]
            if length:  # scaling runs: a neutral prefix of whole words brings each prompt to ~`length` tokens
                words = "Here is a fact that everyone who reads this should know about .".split()
                n_tok = lambda x: len(model.tokenizer(x, add_special_tokens=False)["input_ids"]) + 1
                out = []
                for p in prompts:
                    k = 0
                    while n_tok(" ".join((words * (length // 4 + 2))[:k + 1]) + " " + p) <= length: k += 1
                    out.append(" ".join((words * (length // 4 + 2))[:k]) + " " + p if k else p)
                prompts = out
            toks, mask = tokenize(model, prompts)
            pos = token_positions(model, prompts, names, occurrence=-1)
            sets[(label, et)] = (toks, mask, pos)
    vecs = {label: [SteeringVector.random(model.cfg.d_model, layer, seed=seed + 100 * li + j, source=f"{label}{j}")
                    for j in range(n_top + n_random)] for li, label in enumerate(("known", "unknown"))}
    return sets, vecs, coeff


# ---------------------------------------------------------------- reference (seed-faithful)
def ref_get_batch_pos(batch_entity_pos, pos_type, tokenized_prompts):
    if pos_type == "entity_last": return [[p[-1]] for p in batch_entity_pos]
    raise NotImplementedError(pos_type)

def ref_get_value_weighted_patterns(model, cache, layer):
    import torch
    pattern = cache[f"blocks.{layer}.attn.hook_pattern"]
    v = cache[f"blocks.{layer}.attn.hook_v"]
    if model.cfg.n_heads != v.shape[2]:
        v = torch.repeat_interleave(v, dim=2, repeats=model.cfg.n_heads // v.shape[2])
    return torch.einsum("bkhd,bhqk->bqkhd", v, pattern)          # [batch, q, k, head, d_head]

def ref_get_attn_to_entity_tok_mean(model, cache, entity_token_pos, n_layers, type_pattern):
    import torch, einops
    out = []
    for layer in range(n_layers):
        if type_pattern == "attn_weights":
            attn_patterns = cache["pattern", layer]
            rows = attn_patterns[:, :, -1]
        else:
            wv = ref_get_value_weighted_patterns(model, cache, layer)
            attn_patterns = einops.rearrange(torch.norm(wv, dim=-1, p=2), "b q k h -> b h q k")
            rows = attn_patterns[:, :, -1]
        s = torch.zeros(rows.shape[0], attn_patterns.shape[1])
        for b in range(attn_patterns.shape[0]):
            s[b] = rows[b, :, entity_token_pos[b]].sum(dim=-1)
        out.append(s)
    return einops.rearrange(torch.stack(out, 0), "l b h -> b l h").cpu()

def ref_steering_hook(vec, coeff, batch_pos):
    def hook(resid, hook):
        for b in range(resid.shape[0]):               # per-element Python loop, as the seed's hooks
            for p in batch_pos[b]:
                resid[b, p, :] = resid[b, p, :] + coeff * vec.direction.to(resid.device, resid.dtype)
        return resid
    return hook

def ref_compute(model, tokens, mask, pos, type_pattern, batch_size, vec=None, coeff=0.0):
    import torch
    res = []
    for i in range(0, len(tokens), batch_size):
        bt, bm, bp = tokens[i:i + batch_size], mask[i:i + batch_size], [list(p) for p in pos[i:i + batch_size]]
        batch_pos = ref_get_batch_pos(bp, "entity_last", bt)
        model.reset_hooks()
        with torch.no_grad():
            if vec is None:
                _, cache = model.run_with_cache(bt, attention_mask=bm)
            else:
                name = f"blocks.{vec.layer}.hook_resid_pre"
                with model.hooks(fwd_hooks=[(name, ref_steering_hook(vec, coeff, batch_pos))]):
                    _, cache = model.run_with_cache(bt, attention_mask=bm)
        res.append(ref_get_attn_to_entity_tok_mean(model, cache, batch_pos, model.cfg.n_layers, type_pattern))
        del cache
    return torch.cat(res, 0)

def run_reference(model, sets, vecs, coeff, batch_size):
    "Seed protocol: per measure, label, latent and entity type: baseline + steered, from scratch."
    out = {}
    for m in MEASURES:
        for label in ("known", "unknown"):
            for j, v in enumerate(vecs[label]):
                for et in TYPES:
                    t, am, p = sets[(label, et)]
                    orig = ref_compute(model, t, am, p, m, batch_size)
                    steer = ref_compute(model, t, am, p, m, batch_size, v, coeff)
                    out[(m, label, j, et)] = (steer - orig).numpy()
    return out


# ---------------------------------------------------------------- engine and floor
def run_engine(model, sets, vecs, coeff, batch_size):
    from steerattn.steering import Condition, run_conditions
    out = {}
    for label in ("known", "unknown"):
        conds = [Condition(f"c{j}", [v], coeff=coeff) for j, v in enumerate(vecs[label])]
        for et in TYPES:
            t, am, p = sets[(label, et)]
            r = run_conditions(model, t, am, p, conds, MEASURES, "entity_last", batch_size, progress=False)
            for m in MEASURES:
                for j in range(len(conds)): out[(m, label, j, et)] = (r[f"c{j}"][m] - r["original"][m]).numpy()
    return out

def bare_hf(model, a, attn_implementation=None):
    """A pristine Hugging Face copy of the benchmarked model (same weights, dtype, device). The Bridge swaps its own
    components into `model.original_model`, so that one is not bare. Attention: HF's default (SDPA) unless given."""
    import torch
    from transformers import AutoModelForCausalLM
    from steerattn.core import as_dtype
    kw = dict(attn_implementation=attn_implementation) if attn_implementation else {}
    if a.model == "gemma-shaped":
        from transformers import Gemma2ForCausalLM
        with torch.device(a.device): hf = Gemma2ForCausalLM(GEMMA_CFG(**kw))
        return hf.to(as_dtype(a.dtype)).eval()
    return AutoModelForCausalLM.from_pretrained(model.steerattn_info["path"], dtype=as_dtype(a.dtype), **kw).to(a.device).eval()

def check_floor(model, a, sets, vecs, coeff):
    "The floor's steered pass must be the engine's work: its last-layer attention to the entity equals the engine's."
    import torch
    from steerattn.steering import Condition, run_conditions
    eager = bare_hf(model, a, attn_implementation="eager")
    (label, _), (t, am, p) = next(iter(sets.items()))
    t, am, p, v = t[:2], am[:2], p[:2], vecs[label][-1]
    want = run_conditions(model, t, am, p, [Condition("c", [v], coeff=coeff)], ("attn_weights",), "entity_last", 2,
                          progress=False)["c"]["attn_weights"][:, -1]
    w = floor_suffix_pass(eager, t.to(a.device), am.to(a.device), p, [v], coeff)[1][:, :, -1].float().cpu()
    got = torch.stack([w[b, :, [p[b][-1]]].sum(-1) for b in range(len(p))])
    tol = 1e-4 if a.dtype == "float32" else 3e-2
    if (got - want).abs().max() > tol: sys.exit(f"floor does not reproduce the engine's steered pass: max |Δ| {(got - want).abs().max():.2e}")
    del eager

def run_floor_full(hf, sets, vecs, coeff, batch_size):
    "Bare full forward passes of the HF decoder (no hooks, no wrapper, no LM head): baseline + one per condition."
    import torch
    hf = hf.model
    with torch.no_grad():
        for label in ("known", "unknown"):
            for et in TYPES:
                t, am, _ = sets[(label, et)]
                for _ in range(1 + len(vecs[label])):
                    for i in range(0, len(t), batch_size):
                        hf(input_ids=t[i:i + batch_size], attention_mask=am[i:i + batch_size], use_cache=False)
    return {}

def floor_suffix_pass(hf, tokens, mask, pos, vecs, coeff):
    """The least compute the protocol needs, in bare HF modules: one full decoder pass for the baseline, then per
    condition the steered residual through the layers from the steering layer on, the last layer's attention only.
    (The layer kwargs are read once by a pre-hook on the baseline pass; steered passes run without hooks.)"""
    import torch
    hf = hf.model
    layers, start = hf.layers, vecs[0].layer
    kw = {}
    h = layers[start].register_forward_pre_hook(lambda m, a, k: kw.update(k), with_kwargs=True)
    try: out = hf(input_ids=tokens, attention_mask=mask, use_cache=False, output_hidden_states=True)
    finally: h.remove()
    resid = out.hidden_states[start]
    kw = {k: v for k, v in kw.items() if k in ("attention_mask", "position_embeddings", "position_ids")}
    rows, last = torch.arange(len(pos)), torch.tensor([p[-1] for p in pos])
    out = None
    for v in vecs:
        x = resid.clone()
        x[rows, last] += coeff * v.direction.to(x.device, x.dtype)
        for l in range(start, len(layers) - 1):
            x = layers[l](x, **kw)
            x = x[0] if isinstance(x, tuple) else x
        out = layers[-1].self_attn(hidden_states=layers[-1].input_layernorm(x), **kw)
    return out                                      # the last condition's (attn_output, weights)

def run_floor(model, sets, vecs, coeff, batch_size):
    "Strict floor: `floor_suffix_pass` per batch (same batches as the engine)."
    import torch
    with torch.no_grad():
        for label in ("known", "unknown"):
            for et in TYPES:
                t, am, p = sets[(label, et)]
                for i in range(0, len(t), batch_size):
                    floor_suffix_pass(model, t[i:i + batch_size], am[i:i + batch_size], p[i:i + batch_size], vecs[label], coeff)
    return {}

def run_floor_vw(model, sets, vecs, coeff, batch_size):
    import torch
    with torch.no_grad():
        for (label, et), (t, am, p) in sets.items():
            for i in range(0, len(t), batch_size):
                floor_suffix_pass(model, t[i:i + batch_size], am[i:i + batch_size], p[i:i + batch_size], vecs[label][:1], coeff)
    return {}


# ---------------------------------------------------------------- one measurement in its own process
class PeakRSS:
    "Peak resident memory above the level at start (model loaded, prompts built), sampled every 2 ms (CPU), or CUDA's max allocated."
    def __init__(self, device):
        import psutil
        self.p, self.device, self.peak, self.stop = psutil.Process(), device, 0, False
    def __enter__(self):
        import torch
        if self.device == "cuda": torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats(); self.base = torch.cuda.memory_allocated()
        else:
            self.base = self.p.memory_info().rss
            self.t = threading.Thread(target=self._poll, daemon=True); self.t.start()
        return self
    def _poll(self):
        while not self.stop:
            self.peak = max(self.peak, self.p.memory_info().rss); time.sleep(0.002)
    def __exit__(self, *a):
        import torch
        if self.device == "cuda": torch.cuda.synchronize(); self.delta = torch.cuda.max_memory_allocated() - self.base
        else:
            self.stop = True; self.t.join(); self.peak = max(self.peak, self.p.memory_info().rss); self.delta = self.peak - self.base

def worker(a):
    import torch
    from steerattn.models import load_model
    torch.manual_seed(0)
    dev = a.device
    if a.model == "gemma-shaped":
        model = gemma_shaped(dev, a.dtype)
    else:
        model = load_model(a.model, device=dev, dtype=a.dtype)
    torch.set_grad_enabled(False)
    sets, vecs, coeff = workload(model, a.n, a.n_random, length=a.length or None, n_top=a.n_top)
    if a.length: sets = dict(list(sets.items())[:2])   # scaling: one entity type, known + unknown
    fns = dict(reference=run_reference, engine=run_engine, floor=run_floor, floor_full=run_floor_full)
    if a.length: fns = dict(reference=run_reference_vw, engine=run_engine_vw, floor=run_floor_vw)
    fn = fns[a.worker]
    extraction = timed_extraction(a.worker, dev)
    if a.worker.startswith("floor"):
        check_floor(model, a, sets, vecs, coeff)
        model = bare_hf(model, a)
    model(sets[next(iter(sets))][0][:1, -1:].to(dev))   # page every weight in (logits too): weights are not working memory
    if dev == "cpu":                                    # hand freed heap back, so the peak is this job's own
        import ctypes, gc; gc.collect(); ctypes.CDLL("libc.so.6").malloc_trim(0)
    times, extract, res = [], [], None
    # memory is counted from before the warm-up: allocator pools grown there are part of the peak
    with PeakRSS(dev) as mem:
        fn(model, {k: (t[:2], m[:2], p[:2]) for k, (t, m, p) in sets.items()}, {k: v[:1] for k, v in vecs.items()}, coeff, a.batch_size)
        for _ in range(a.repeats):
            if dev == "cuda": torch.cuda.synchronize()
            extraction[0] = 0.0
            t0 = time.perf_counter(); res = fn(model, sets, vecs, coeff, a.batch_size)
            if dev == "cuda": torch.cuda.synchronize()
            times.append(time.perf_counter() - t0); extract.append(extraction[0])
    if res:
        import numpy as np
        np.savez(a.result, **{"|".join(map(str, k)): v for k, v in res.items()})
    print(json.dumps(dict(times=times, median=statistics.median(times), peak_bytes=int(mem.delta),
                          extraction_s=statistics.median(extract))))

def timed_extraction(kind, dev):
    "Wrap the function that turns attention into scores (engine: per-hook `last_row_scores`; reference: the cache walk)."
    import torch, steerattn.attention as A
    acc = [0.0]
    def wrap(f):
        def timed(*args, **kw):
            if dev == "cuda": torch.cuda.synchronize()
            t0 = time.perf_counter(); r = f(*args, **kw)
            if dev == "cuda": torch.cuda.synchronize()
            acc[0] += time.perf_counter() - t0; return r
        return timed
    if kind == "engine": A.last_row_scores = wrap(A.last_row_scores)
    elif kind == "reference": globals()["ref_get_attn_to_entity_tok_mean"] = wrap(ref_get_attn_to_entity_tok_mean)
    return acc

def run_reference_vw(model, sets, vecs, coeff, batch_size):
    out = {}
    for (label, et), (t, am, p) in sets.items():
        v = vecs[label][0]
        out[("value_weighted", label, 0, et)] = (ref_compute(model, t, am, p, "value_weighted", batch_size, v, coeff)
                                                 - ref_compute(model, t, am, p, "value_weighted", batch_size)).numpy()
    return out

def run_engine_vw(model, sets, vecs, coeff, batch_size):
    from steerattn.steering import Condition, run_conditions
    out = {}
    for (label, et), (t, am, p) in sets.items():
        r = run_conditions(model, t, am, p, [Condition("c0", [vecs[label][0]], coeff=coeff)], ("value_weighted",),
                           "entity_last", batch_size, progress=False)
        out[("value_weighted", label, 0, et)] = (r["c0"]["value_weighted"] - r["original"]["value_weighted"]).numpy()
    return out

def GEMMA_CFG(**kw):
    from transformers import Gemma2Config
    return Gemma2Config(vocab_size=256000, hidden_size=2304, intermediate_size=9216, num_hidden_layers=26, num_attention_heads=8,
                        num_key_value_heads=4, head_dim=256, architectures=["Gemma2ForCausalLM"], **kw)

def gemma_shaped(device, dtype):
    "A randomly initialised gemma-2-2b-shaped model (config only, no download) in a TransformerBridge."
    import torch
    from transformers import Gemma2ForCausalLM
    from steerattn.core import as_dtype
    from steerattn.models import bridge_from_hf, load_model
    with torch.device(device): hf = Gemma2ForCausalLM(GEMMA_CFG())
    tok = load_model("default", device="cpu").tokenizer   # any fast tokenizer: token ids < 49152 exist in gemma's vocab
    return bridge_from_hf(hf, tok, name="gemma-2-2b-shaped", device=device, dtype=as_dtype(dtype))


# ---------------------------------------------------------------- driver
def measure(kind, a, length=0, n=None, repeats=None, n_random=None, batch_size=None):
    "One measurement in a fresh subprocess; `--resume` reuses a finished one with the same arguments."
    out = ROOT/"bench"/"out"; out.mkdir(parents=True, exist_ok=True)
    res, log = (out/f"_{kind}_{length}.npz").relative_to(ROOT), out/f"_{kind}_{length}.json"   # relative: no machine paths in the JSON
    cmd = [sys.executable, __file__, "--worker", kind, "--n", str(n or a.n), "--repeats", str(repeats or a.repeats),
           "--n-random", str(a.n_random if n_random is None else n_random), "--batch-size", str(batch_size or a.batch_size),
           "--device", a.device, "--dtype", a.dtype, "--model", a.model, "--length", str(length), "--result", str(res)]
    if a.n_top != 1: cmd += ["--n-top", str(a.n_top)]
    if a.resume and log.exists():
        r = json.loads(log.read_text())
        if r.get("cmd") == cmd[2:]: print(f"  {kind} {length or ''}: reused {log}", flush=True); return r
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if p.returncode: sys.exit(f"{kind} failed:\n{p.stderr[-3000:]}")
    r = json.loads(p.stdout.strip().splitlines()[-1]); r.update(result=str(res), cmd=cmd[2:])
    tmp = log.with_suffix(".tmp"); tmp.write_text(json.dumps(r)); os.replace(tmp, log)
    print(f"  {kind} {length or ''}: median {r['median']:.2f} s, peak {r['peak_bytes'] / 2**20:.1f} MB ({time.time() - t0:.0f} s)", flush=True)
    return r

def max_abs_diff(a_path, b_path):
    "Largest |engine - reference| per measure, in units of max(1, that measure's largest |reference| value) (float32 scale)."
    import numpy as np
    with np.load(a_path) as a, np.load(b_path) as b:
        if set(a.files) != set(b.files): sys.exit(f"engine and reference computed different runs: {set(a.files) ^ set(b.files)}")
        worst = 0.0
        for m in {k.split("|")[0] for k in a.files}:
            ks = [k for k in a.files if k.split("|")[0] == m]
            scale = max(1.0, max(float(np.abs(b[k]).max()) for k in ks))
            worst = max(worst, max(float(np.abs(a[k] - b[k]).max()) for k in ks) / scale)
        return worst

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=64, help="prompts per entity type and label")
    ap.add_argument("--n-random", type=int, default=10)
    ap.add_argument("--n-top", type=int, default=1, help="top latents per label (the paper's GPU scale: 3)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ref-repeats", type=int, default=None, help="repeats of the (slow) reference; default --repeats")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--device", default="cuda" if os.environ.get("CUDA_VISIBLE_DEVICES") else "cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--model", default="default", help="'default' or 'gemma-shaped' (random gemma-2-2b config)")
    ap.add_argument("--lengths", default="16,64,128,256,512", help="prompt lengths for the value_weighted scaling runs ('' to skip)")
    ap.add_argument("--scaling-n", type=int, default=4, help="prompts per set in the scaling runs")
    ap.add_argument("--skip-reference", action="store_true", help="engine and floor only (e.g. at GPU scale)")
    ap.add_argument("--full-floor", action="store_true", help="also time full passes per condition (a looser floor)")
    ap.add_argument("--resume", action="store_true", help="reuse measurements already finished with the same arguments")
    ap.add_argument("--out", default=str(ROOT/"bench"/"out"/"steering_bench.json"))
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--length", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--result", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker: return worker(a)

    import torch
    report = dict(workload=dict(model=a.model, n_per_type_label=a.n, entity_types=TYPES, conditions_per_label=a.n_top + a.n_random,
                                measures=MEASURES, pos_type="entity_last", batch_size=a.batch_size, device=a.device, dtype=a.dtype,
                                repeats=a.repeats, reference_repeats=a.ref_repeats or a.repeats),
                  machine=dict(python=platform.python_version(), torch=torch.__version__, cpus=os.cpu_count(), platform=platform.platform()))
    runs = {k: measure(k, a) for k in ("engine", "floor") + (("floor_full",) if a.full_floor else ())}
    if not a.skip_reference: runs["reference"] = measure("reference", a, repeats=a.ref_repeats or a.repeats)
    report.update(runs)
    eng = runs["engine"]
    targets = {}
    if "reference" in runs:
        ref = runs["reference"]
        report["max_abs_diff"] = max_abs_diff(ROOT/eng["result"], ROOT/ref["result"])
        report["speedup"] = ref["median"] / eng["median"]
        report["memory_ratio"] = ref["peak_bytes"] / max(eng["peak_bytes"], 1)
        targets["engine >= 5x faster than reference"] = (report["speedup"], report["speedup"] >= 5)
        targets["engine >= 10x less peak memory"] = (report["memory_ratio"], report["memory_ratio"] >= 10)
    report["engine_over_floor"] = eng["median"] / runs["floor"]["median"]
    if a.full_floor: report["engine_over_floor_full"] = eng["median"] / runs["floor_full"]["median"]
    targets["engine <= 1.25x floor"] = (report["engine_over_floor"], report["engine_over_floor"] <= 1.25)

    print(f"\nworkload: {a.model}, 4 types x {a.n} prompts x known/unknown x {a.n_top + a.n_random} conditions, {'+'.join(MEASURES)}, "
          f"batch {a.batch_size}, {a.device}/{a.dtype}; median of {a.repeats} (reference {a.ref_repeats or a.repeats})")
    print(f"{'':<12} {'time (s)':>10} {'peak mem (MB)':>14} {'time / engine':>14}")
    for k, name in (("engine", "engine"), ("reference", "reference"), ("floor", "floor"), ("floor_full", "floor (full)")):
        if k in runs:
            r = runs[k]; print(f"{name:<12} {r['median']:>10.2f} {r['peak_bytes'] / 2**20:>14.1f} {r['median'] / eng['median']:>14.2f}")
    print("floor: a pristine HF copy (default SDPA attention, no hooks, no LM head): baseline pass + each condition from\n"
          "  the steering layer, the engine's distinct work" + ("; floor (full): one full pass per baseline and per condition" if a.full_floor else ""))
    if "max_abs_diff" in report:
        print(f"max |engine - reference| = {report['max_abs_diff']:.2e} (per measure, in units of max(1, max |reference|))")

    lengths = [int(x) for x in a.lengths.split(",") if x.strip()]
    if lengths:
        report["scaling"] = []
        print(f"\nvalue_weighted scaling ({a.scaling_n} prompts per set, 2 sets, 1 condition; median of {a.repeats}, reference 1):", flush=True)
        for L in lengths:
            kw = dict(n=a.scaling_n, n_random=0, batch_size=a.scaling_n)
            e, f = measure("engine", a, L, **kw), measure("floor", a, L, **kw)
            row = dict(tokens=L, engine=e["median"], floor=f["median"], extraction=e["extraction_s"], engine_peak=e["peak_bytes"])
            if not a.skip_reference:
                r = measure("reference", a, L, repeats=1, **kw)
                row.update(reference=r["median"], reference_extraction=r["extraction_s"], reference_peak=r["peak_bytes"],
                           max_abs_diff=max_abs_diff(ROOT/e["result"], ROOT/r["result"]))
            report["scaling"].append(row)
        nan = float("nan")
        print(f"{'tokens':>7} {'engine s':>9} {'floor s':>8} {'extract s':>10} {'ref s':>8} {'ref extract s':>14} {'ref/eng':>8} "
              f"{'engine MB':>10} {'ref MB':>8} {'max|Δ|':>8}")
        for row in report["scaling"]:
            print(f"{row['tokens']:>7} {row['engine']:>9.3f} {row['floor']:>8.3f} {row['extraction']:>10.4f} {row.get('reference', nan):>8.2f} "
                  f"{row.get('reference_extraction', nan):>14.3f} {row.get('reference', nan) / row['engine']:>8.1f} "
                  f"{row['engine_peak'] / 2**20:>10.1f} {row.get('reference_peak', nan) / 2**20:>8.1f} {row.get('max_abs_diff', nan):>8.1e}")
        if len(report["scaling"]) >= 3:   # linear: a straight line through (tokens, extraction time) fits, no quadratic growth
            import numpy as np
            x, y = np.array([r["tokens"] for r in report["scaling"]], float), np.array([r["extraction"] for r in report["scaling"]])
            slope, icpt = np.polyfit(x, y, 1)
            r2 = 1 - ((y - np.polyval([slope, icpt], x)) ** 2).sum() / max(((y - y.mean()) ** 2).sum(), 1e-12)
            growth = (y[-1] / y[0]) / (x[-1] / x[0])   # 1 = linear, x[-1]/x[0] = quadratic
            report["extraction_fit"] = dict(slope_s_per_token=float(slope), intercept_s=float(icpt), r2_linear=float(r2),
                                            growth_over_linear=float(growth))
            print(f"engine extraction: {slope * 1e6:.1f} µs/token + {icpt * 1e3:.1f} ms, R² of a line {r2:.3f}; "
                  f"grew {y[-1] / y[0]:.1f}x for {x[-1] / x[0]:.0f}x the tokens")
            targets["extraction overhead linear in prompt length (R² of a line)"] = (r2, r2 >= 0.9 and growth <= 1.5)

    print("\ntargets:")
    for k, (v, ok) in targets.items(): print(f"  {'PASS' if ok else 'MISS'}  {k}: {v:.2f}")
    report["targets"] = {k: dict(value=float(v), met=bool(ok)) for k, (v, ok) in targets.items()}
    fail = []
    if report.get("max_abs_diff", 0) > 1e-5: fail.append(f"engine and reference differ by {report['max_abs_diff']:.2e} > 1e-5")
    for row in report.get("scaling", []):
        if row.get("max_abs_diff", 0) > 1e-5: fail.append(f"{row['tokens']} tokens: engine and reference differ by {row['max_abs_diff']:.2e}")
    report["failures"] = fail
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(a.out).with_suffix(".tmp"); tmp.write_text(json.dumps(report, indent=1)); os.replace(tmp, a.out)
    print(f"\nwrote {a.out}")
    if fail: sys.exit("FAILED: " + "; ".join(fail))

if __name__ == "__main__": main()
