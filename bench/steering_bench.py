"""Steering-attention protocol: steerattn's engine against the tools a user would pick, a minimum-work floor, and the seed.

    python bench/steering_bench.py            # the issue-15 workload; writes bench/steering_bench.<device>.json (README's source)
    python bench/steering_bench.py --quick    # a few-minute smoke test of every method (tiny workload; bench/out/)

Workload: the default model; 4 entity types x N prompts x known and unknown (N = 16 by default: one full batch of
16 per type and label; a larger N adds batches of the same shape, so the per-prompt cost and every ratio stay, only
the wall time grows, e.g. --n 100 for the paper's counts); per label 1 top + 10 random
latents (seeded random unit directions at the middle layer: the work per condition is the same as with SAE
latents), coefficient 100, pos_type entity_last, measures attn_weights and value_weighted, batch 16. Every
method gets the same weights, dtype, batch size, threads and prompts, and returns the raw scores (baseline and
steered, `[N, n_layers, n_heads]` per measure), which must equal the engine's within 1e-5 of each measure's scale.

Methods (each in its own process, loaded once; repeats interleaved A B C A B C ...):
  engine            `run_conditions` (shared baseline, steering layer start, prefix reuse, last-row hooks, no LM head, trim)
  tl_cache          (a) TransformerLens `run_with_cache(names_filter=pattern|v, return_type=None)`, steering via
                    `model.hooks`, one baseline per batch shared by all conditions, both measures from one cache
  hf_eager          (b) Hugging Face eager attention, `output_attentions=True` + a forward hook on `v_proj`, steering by
                    a forward pre-hook; the decoder (`model.model`) only, shared baseline
  nnsight           (c) nnsight `NNsight(model.model).trace`: saves v_proj outputs and the last attention row, steers
                    `layers[l].input` in place; shared baseline
  reference         (d) the seed's literal loop (per measure, label, latent and type: a fresh baseline and a steered
                    pass, full unfiltered caches, the full value-weighted einsum, Python loops); run on
                    `--ref-conditions` of the 11 conditions per label and scaled (its work is linear in conditions)
  ladder rows       tl_cache -> hooks_full (last-row scores in hooks, no cache) -> hooks_stop (+ stop after the last
                    attention: no last MLP, no LM head) -> engine_full (+ padding trim) -> engine_no_prefix (+ start at
                    the steering layer) -> engine (+ prefix reuse)
  floor             bare HF (SDPA), exactly the minimum work: baseline layers 0..L-2 plus the last layer's K/V and last
                    query row; per condition layers >= steering layer on positions >= the batch's first steered token
                    with the baseline's prefix K/V, the last layer likewise; engine-identical trimmed batches and
                    condition stacking (batch_size // prompts conditions per pass); no hooks, no scores. Its FLOPs are
                    also counted analytically.
Scaling: value_weighted, 1 condition, prompts padded by a neutral prefix to 16 ... 512 tokens: engine, tl_cache,
floor and (once) the reference; the engine's score-extraction time is fitted against the prompt length.
"""
import argparse, json, os, platform, statistics, subprocess, sys, threading, time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT/"bench"/"out"
TYPES = ("player", "movie", "city", "song")
LABELS = ("known", "unknown")
MEASURES = ("attn_weights", "value_weighted")
BRIDGE_KINDS = ("engine", "engine_no_prefix", "engine_full", "hooks_stop", "hooks_full", "tl_cache", "reference")
HF_KINDS = ("hf_eager", "nnsight", "floor")
LADDER = [("reference", "seed-literal reference (per-latent baselines, full caches, one pass per measure)"),
          ("tl_cache", "+ shared baseline, one filtered cache for both measures (= TransformerLens baseline)"),
          ("hooks_full", "+ last-row scores inside hooks (no cache)"),
          ("hooks_stop", "+ stop after the last attention (no last MLP, no LM head)"),
          ("engine_full", "+ padding trim, conditions stacked into one pass where a batch has fewer than max_rows prompts"),
          ("engine_no_prefix", "+ start at the steering layer"),
          ("engine", "+ prefix reuse (= engine)"),
          ("floor", "floor: bare HF, minimum work")]


# ---------------------------------------------------------------- workload (built once by the driver, saved as .npz)
def build_workload(model, n, n_random, layer=None, coeff=100.0, seed=0, length=None, n_top=1, types=TYPES):
    "{(label, type): (tokens, mask, entity_positions)}, {label: [SteeringVector]}, coeff."
    from steerattn.entities import load_entities, RELATIONS, PROMPT_TEMPLATE
    from steerattn.models import tokenize, token_positions
    from steerattn.hooks import SteeringVector
    layer = model.cfg.n_layers // 2 if layer is None else layer
    sets = {}
    for et in types:
        ents = [e["name"] for e in load_entities(et)][: 2 * n]
        rel = next(iter(RELATIONS[et].values()))
        for li, label in enumerate(LABELS):
            names = ents[li * n:(li + 1) * n]
            prompts = [PROMPT_TEMPLATE.format(entity_type=et, entity_name=x, relation=rel) for x in names]
            if length:  # scaling: a neutral prefix of whole words brings each prompt to ~`length` tokens
                words = "Here is a fact that everyone who reads this should know about .".split()
                n_tok = lambda x: len(model.tokenizer(x, add_special_tokens=False)["input_ids"]) + 1
                out = []
                for p in prompts:
                    k = 0
                    while n_tok(" ".join((words * (length // 4 + 2))[:k + 1]) + " " + p) <= length: k += 1
                    out.append(" ".join((words * (length // 4 + 2))[:k]) + " " + p if k else p)
                prompts = out
            toks, mask = tokenize(model, prompts)
            sets[(label, et)] = (toks.cpu(), mask.cpu(), token_positions(model, prompts, names, occurrence=-1))
    vecs = {label: [SteeringVector.random(model.cfg.d_model, layer, seed=seed + 100 * li + j, source=f"{label}{j}")
                    for j in range(n_top + n_random)] for li, label in enumerate(LABELS)}
    return sets, vecs, coeff

def save_workload(path, sets, vecs, coeff):
    import numpy as np
    arrs = {"coeff": np.array(coeff)}
    for (label, et), (t, m, p) in sets.items():
        P = np.full((len(p), max(map(len, p))), -1)
        for i, row in enumerate(p): P[i, :len(row)] = row
        arrs.update({f"{label}|{et}|tokens": t.numpy(), f"{label}|{et}|mask": m.numpy(), f"{label}|{et}|pos": P})
    for label, vs in vecs.items():
        arrs[f"{label}|dirs"] = np.stack([v.direction.numpy() for v in vs]); arrs[f"{label}|layer"] = np.array(vs[0].layer)
    tmp = Path(str(path) + ".tmp.npz"); np.savez(tmp, **arrs); os.replace(tmp, path)

def load_workload(path):
    import numpy as np, torch
    from steerattn.hooks import SteeringVector
    z = np.load(path)
    sets, vecs = {}, {}
    for k in z.files:
        if k.endswith("|tokens"):
            label, et, _ = k.split("|")
            P = z[f"{label}|{et}|pos"]
            sets[(label, et)] = (torch.from_numpy(z[k]), torch.from_numpy(z[f"{label}|{et}|mask"]), [[int(x) for x in r if x >= 0] for r in P])
        elif k.endswith("|dirs"):
            label = k.split("|")[0]
            vecs[label] = [SteeringVector(int(z[f"{label}|layer"]), None, torch.from_numpy(d.copy()), source=f"{label}{j}")
                           for j, d in enumerate(z[k])]
    return sets, vecs, float(z["coeff"])

def batches(sets, bs):
    "(label, type, row offset, tokens, mask, entity_last positions) per batch, in the engine's order."
    for (label, et), (t, m, p) in sets.items():
        for i in range(0, len(t), bs):
            yield label, et, i, t[i:i + bs], m[i:i + bs], [r[-1] for r in p[i:i + bs]]

def collect(parts):
    "{key: [(offset, tensor [b, L, H])]} -> {key: tensor [N, L, H]}"
    import torch
    return {k: torch.cat([x for _, x in sorted(v, key=lambda z: z[0])]) for k, v in parts.items()}


# ---------------------------------------------------------------- the engine and its ladder rows (Bridge)
def m_engine(model, sets, vecs, coeff, bs, **kw):
    from steerattn.steering import Condition, run_conditions
    out = {}
    for label in LABELS:
        conds = [Condition(f"c{j}", [v], coeff=coeff) for j, v in enumerate(vecs[label])]
        for et in TYPES:
            if (label, et) not in sets: continue
            t, am, p = sets[(label, et)]
            r = run_conditions(model, t, am, p, conds, MEASURES, "entity_last", bs, progress=False, **kw)
            for c, d in r.items():
                for m in MEASURES: out[(label, et, "orig" if c == "original" else c, m)] = d[m]
    return out

def m_hooks(model, sets, vecs, coeff, bs, stop):
    "Full untrimmed passes; scores from the last query row inside hooks; with `stop`, the pass ends after the last attention."
    from steerattn.attention import attention_hooks
    from steerattn.hooks import steering_hooks, positions_mask
    from steerattn.core import apply_hooks, run_until_stop, stop_forward
    from transformer_lens.utilities import get_act_name
    parts, L = {}, model.cfg.n_layers
    for label, et, i, t, am, p in batches(sets, bs):
        km = positions_mask([[x] for x in p], t.shape[1])
        for cname, v in [("orig", None)] + [(f"c{j}", v) for j, v in enumerate(vecs[label])]:
            hooks, o = attention_hooks(model, km, MEASURES)
            if v is not None: hooks += steering_hooks(model, v, km, coeff)
            if stop: hooks.append((get_act_name("z", L - 1), stop_forward))
            with apply_hooks(model, hooks): run_until_stop(model, t, attention_mask=am, return_type=None)
            for m in MEASURES: parts.setdefault((label, et, cname, m), []).append((i, o[m]))
    return collect(parts)

def m_tl_cache(model, sets, vecs, coeff, bs):
    "(a) TransformerLens as documented: run_with_cache with a names_filter, return_type=None, hooks via model.hooks."
    from steerattn.attention import last_row_scores
    from steerattn.hooks import steering_hooks, positions_mask
    import torch
    keep = lambda name: name.endswith("hook_pattern") or name.endswith("hook_v")
    parts, L = {}, model.cfg.n_layers
    for label, et, i, t, am, p in batches(sets, bs):
        km = positions_mask([[x] for x in p], t.shape[1])
        for cname, v in [("orig", None)] + [(f"c{j}", v) for j, v in enumerate(vecs[label])]:
            if v is None: _, cache = model.run_with_cache(t, attention_mask=am, names_filter=keep, return_type=None)
            else:
                with model.hooks(fwd_hooks=steering_hooks(model, v, km, coeff)):
                    _, cache = model.run_with_cache(t, attention_mask=am, names_filter=keep, return_type=None)
            per = [last_row_scores(cache["pattern", l][:, :, -1], cache["v", l], None, km, MEASURES) for l in range(L)]
            for m in MEASURES: parts.setdefault((label, et, cname, m), []).append((i, torch.stack([x[m] for x in per], 1)))
            del cache
    return collect(parts)


# ---------------------------------------------------------------- the seed-literal reference (kept from v1)
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
        batch_pos = [[p[-1]] for p in bp]
        model.reset_hooks()
        if vec is None:
            _, cache = model.run_with_cache(bt, attention_mask=bm)
        else:
            with model.hooks(fwd_hooks=[(f"blocks.{vec.layer}.hook_resid_pre", ref_steering_hook(vec, coeff, batch_pos))]):
                _, cache = model.run_with_cache(bt, attention_mask=bm)
        res.append(ref_get_attn_to_entity_tok_mean(model, cache, batch_pos, model.cfg.n_layers, type_pattern))
        del cache
    return torch.cat(res, 0)

def m_reference(model, sets, vecs, coeff, bs, n_conditions=None):
    "Seed protocol: per measure, label, latent and entity type: baseline + steered, from scratch (first `n_conditions` latents)."
    out = {}
    for m in MEASURES:
        for label in LABELS:
            for j, v in enumerate(vecs[label][:n_conditions]):
                for et in TYPES:
                    if (label, et) not in sets: continue
                    t, am, p = sets[(label, et)]
                    out[(label, et, "orig", m)] = ref_compute(model, t, am, p, m, bs)
                    out[(label, et, f"c{j}", m)] = ref_compute(model, t, am, p, m, bs, v, coeff)
    return out


# ---------------------------------------------------------------- bare Hugging Face: (b), (c) and the floor
def load_hf(path, dtype, device, attn):
    import torch
    from transformers import AutoModelForCausalLM
    from steerattn.core import as_dtype
    return AutoModelForCausalLM.from_pretrained(path, dtype=as_dtype(dtype), attn_implementation=attn).to(device).eval()

def _hf_geometry(hf):
    c = hf.config
    return c.num_hidden_layers, c.num_attention_heads, c.num_key_value_heads, getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads

def m_hf_eager(hf, sets, vecs, coeff, bs):
    "(b) HF eager attention with output_attentions=True, values from a forward hook on v_proj, steering by a forward pre-hook."
    import torch
    from steerattn.attention import last_row_scores
    from steerattn.hooks import positions_mask
    base, (L, H, KV, dh) = hf.model, _hf_geometry(hf)
    vals, parts = {}, {}
    hs = [base.layers[l].self_attn.v_proj.register_forward_hook(lambda mod, i, o, l=l: vals.__setitem__(l, o)) for l in range(L)]
    try:
        for label, et, i, t, am, p in batches(sets, bs):
            km, rows, P = positions_mask([[x] for x in p], t.shape[1]), torch.arange(len(p)), torch.tensor(p)
            for cname, v in [("orig", None)] + [(f"c{j}", v) for j, v in enumerate(vecs[label])]:
                h = None
                if v is not None:
                    add = coeff * v.direction.to(t.device)
                    def pre(mod, args, kwargs, add=add):
                        x = args[0].clone(); x[rows, P] += add.to(x.dtype); return (x,) + args[1:], kwargs
                    h = base.layers[v.layer].register_forward_pre_hook(pre, with_kwargs=True)
                try: out = base(input_ids=t, attention_mask=am, output_attentions=True, use_cache=False)
                finally:
                    if h is not None: h.remove()
                B, S = t.shape
                per = [last_row_scores(out.attentions[l][:, :, -1], vals[l].view(B, S, KV, dh), None, km, MEASURES) for l in range(L)]
                for m in MEASURES: parts.setdefault((label, et, cname, m), []).append((i, torch.stack([x[m] for x in per], 1)))
                del out; vals.clear()
    finally:
        for h in hs: h.remove()
    return collect(parts)

def m_nnsight(nn_model, sets, vecs, coeff, bs):
    "(c) nnsight: trace the decoder, steer layers[l].input in place, save each layer's v_proj output and last attention row."
    import torch
    from steerattn.attention import last_row_scores
    from steerattn.hooks import positions_mask
    L, H, KV, dh = nn_model._steerattn_geometry
    parts = {}
    for label, et, i, t, am, p in batches(sets, bs):
        km, rows, P = positions_mask([[x] for x in p], t.shape[1]), torch.arange(len(p)), torch.tensor(p)
        for cname, v in [("orig", None)] + [(f"c{j}", v) for j, v in enumerate(vecs[label])]:
            saved = []
            with nn_model.trace(input_ids=t, attention_mask=am, use_cache=False):
                for l in range(L):
                    if v is not None and l == v.layer:
                        nn_model.layers[l].input[rows, P] += coeff * v.direction
                    saved.append((nn_model.layers[l].self_attn.v_proj.output.save(), nn_model.layers[l].self_attn.output[1][:, :, -1].save()))
            B, S = t.shape
            per = [last_row_scores(A, V.view(B, S, KV, dh), None, km, MEASURES) for V, A in saved]
            for m in MEASURES: parts.setdefault((label, et, cname, m), []).append((i, torch.stack([x[m] for x in per], 1)))
    return collect(parts)

class _KV:
    "A cache for HF attention: records keys/values of positions < s (first call per layer), or prepends them (given `prefix`)."
    def __init__(self, s, prefix=None): self.s, self.prefix = s, dict(prefix or {})
    def update(self, k, v, layer_idx, *a, **kw):
        if layer_idx in self.prefix:
            pk, pv = self.prefix[layer_idx]; return torch_cat(pk, k), torch_cat(pv, v)
        self.prefix[layer_idx] = (k[:, :, :self.s], v[:, :, :self.s]); return k, v

def torch_cat(a, b):
    import torch
    return torch.cat([a, b], 2)

def _layer_kwargs(base, t, am):
    "Embeddings and the kwargs HF hands its decoder layers (mask, rotary tables, position ids), without running a layer."
    class _Got(Exception): pass
    got = {}
    def pre(mod, args, kwargs):
        got.update(kwargs); got["hidden"] = args[0] if args else kwargs["hidden_states"]; raise _Got()
    h = base.layers[0].register_forward_pre_hook(pre, with_kwargs=True)
    try: base(input_ids=t, attention_mask=am, use_cache=False)
    except _Got: pass
    finally: h.remove()
    x = got.pop("hidden")
    return x, {k: v for k, v in got.items() if k in ("attention_mask", "position_embeddings", "position_ids")}

def _cache_kw(layer):
    "The name a decoder layer takes its K/V cache by: `past_key_values` (transformers < 5.24) or `cache`."
    import inspect
    return "cache" if "cache" in inspect.signature(layer.forward).parameters else "past_key_values"

def _last_row_attention(layer, x, kw, cache):
    "The last layer, minimum work: K/V of the new positions (into `cache`), Q and the attention row of the last position only."
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb, repeat_kv
    import torch
    at = layer.self_attn
    h = layer.input_layernorm(x)
    B, S, _ = h.shape
    cos, sin = kw["position_embeddings"]
    k = at.k_proj(h).view(B, S, -1, at.head_dim).transpose(1, 2)
    v = at.v_proj(h).view(B, S, -1, at.head_dim).transpose(1, 2)
    q = at.q_proj(h[:, -1:]).view(B, 1, -1, at.head_dim).transpose(1, 2)
    q, _ = apply_rotary_pos_emb(q, q, cos[:, -1:], sin[:, -1:])
    _, k = apply_rotary_pos_emb(k, k, cos, sin)
    if cache is not None: k, v = cache.update(k, v, at.layer_idx)
    scores = (q @ repeat_kv(k, at.num_key_value_groups).transpose(-1, -2)) * at.scaling
    m = kw["attention_mask"]
    if m is not None: scores = scores.masked_fill(~m[:, :, -1:, :], float("-inf")) if m.dtype == torch.bool else scores + m[:, :, -1:, :]
    return scores.softmax(-1), v                       # [B, H, 1, K] and [B, n_kv, K, d]

def floor_batch(hf, t, am, p, vecs, coeff, max_rows=None):
    """The minimum work for one batch (engine-identical trimming, prefix and condition stacking: `max_rows // b`
    conditions per steered pass, as the engine); returns the last condition's last-layer attention row [b, H, 1, K]."""
    import torch
    base = hf.model; layers, L = base.layers, len(base.layers)
    first = int(am.bool().float().argmax(1).min())
    t, am = t[:, first:], am[:, first:]
    p = torch.tensor(p) - first
    b, s, start = len(p), int(p.min()), vecs[0].layer
    x, kw = _layer_kwargs(base, t, am)
    if kw.get("attention_mask") is None:   # HF drops the mask when nothing is padded; the suffix queries need it explicit
        kw["attention_mask"] = torch.ones(t.shape[1], t.shape[1], dtype=torch.bool, device=t.device).tril()[None, None]
    rec, ck = _KV(s), _cache_kw(layers[0])
    for l in range(L - 1):
        if l == start: x_start = x
        x = layers[l](x, **kw, **{ck: rec if l >= start else None})
        x = x[0] if isinstance(x, tuple) else x
    _last_row_attention(layers[-1], x, kw, rec)
    per = max(1, (max_rows or b) // b)
    out = None
    for j in range(0, len(vecs), per):
        chunk = vecs[j:j + per]; C = len(chunk)
        rep = lambda z: None if z is None else z.repeat(C, *([1] * (z.dim() - 1))) if z.shape[0] == b else z
        skw = dict(attention_mask=rep(kw["attention_mask"][:, :, s:]), position_embeddings=tuple(rep(c[:, s:]) for c in kw["position_embeddings"]),
                   position_ids=rep(kw["position_ids"][:, s:]))
        y = x_start[:, s:].repeat(C, 1, 1)
        d = torch.stack([v.direction for v in chunk]).to(y.device, y.dtype)          # [C, d_model]
        y[torch.arange(C * b), (p - s).repeat(C)] += coeff * d.repeat_interleave(b, 0)
        kv = _KV(s, {l: (rep(k), rep(v)) for l, (k, v) in rec.prefix.items()})
        for l in range(start, L - 1):
            y = layers[l](y, **skw, **{ck: kv})
            y = y[0] if isinstance(y, tuple) else y
        out = _last_row_attention(layers[-1], y, skw, kv)
    A, v = out
    return A[-b:], v[-b:]

def m_floor(hf, sets, vecs, coeff, bs):
    for label, et, i, t, am, p in batches(sets, bs): floor_batch(hf, t, am, p, vecs[label], coeff, bs)
    return {}

def check_floor(hf, sets, vecs, coeff, bs, ref):
    "The floor computes the engine's numbers: its last-layer attention row for the last condition equals the engine's scores."
    import torch
    (label, et), (t, am, p) = next(iter(sets.items()))
    A, _ = floor_batch(hf, t[:bs], am[:bs], [r[-1] for r in p[:bs]], vecs[label], coeff, bs)
    first = int(am[:bs].bool().float().argmax(1).min())
    got = torch.stack([A[b, :, 0, p[b][-1] - first] for b in range(len(A))])
    want = ref[(label, et, f"c{len(vecs[label]) - 1}", "attn_weights")][:bs, -1]
    return float((got.float().cpu() - want).abs().max())

def flops(cfg, sets, vecs, bs):
    """Analytic FLOPs (multiply-add = 2) of the minimum work: as the floor computes it (batched, trimmed, the batch's first
    steered position) and per prompt without padding (its own length and steered position). Linear layers and attention only."""
    d, H, KV, dh, F, L = cfg["d_model"], cfg["n_heads"], cfg["n_kv"], cfg["d_head"], cfg["d_mlp"], cfg["n_layers"]
    layer_tok = 2 * d * (H * dh + 2 * KV * dh) + 2 * H * dh * d + 2 * 3 * d * F      # q, k, v, o projections + gated MLP
    kv_tok = 2 * d * 2 * KV * dh
    attn = lambda q, k: 4 * H * dh * q * k                                           # scores + weighted sum
    def one(S, s, n_cond, start, b=1):
        base = (L - 1) * (S * layer_tok + attn(S, S)) + S * kv_tok + 2 * d * H * dh + attn(1, S)
        steer = (L - 1 - start) * ((S - s) * layer_tok + attn(S - s, S)) + (S - s) * kv_tok + 2 * d * H * dh + attn(1, S)
        return b * (base + n_cond * steer)
    batched = unpadded = 0
    for label, et, i, t, am, p in batches(sets, bs):
        first = int(am.bool().float().argmax(1).min())
        S, s, nc, start = t.shape[1] - first, min(p) - first, len(vecs[label]), vecs[label][0].layer
        batched += one(S, s, nc, start, len(p))
        for r in range(len(p)):
            fr = int(am[r].bool().float().argmax())
            unpadded += one(t.shape[1] - fr, p[r] - fr, nc, start)
    return dict(batched=batched, unpadded=unpadded)


# ---------------------------------------------------------------- a worker: one method, loaded once, driven over stdin
class PeakRSS:
    "Peak resident memory while running (sampled every 2 ms on CPU; CUDA's max allocated on GPU)."
    def __init__(self, device):
        import psutil
        self.p, self.device, self.peak, self.stop = psutil.Process(), device, 0, False
    def __enter__(self):
        import torch
        if self.device == "cuda": torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
        else:
            self.stop = False; self.t = threading.Thread(target=self._poll, daemon=True); self.t.start()
        return self
    def _poll(self):
        while not self.stop:
            self.peak = max(self.peak, self.p.memory_info().rss); time.sleep(0.002)
    def __exit__(self, *a):
        import torch
        if self.device == "cuda": torch.cuda.synchronize(); self.peak = max(self.peak, torch.cuda.max_memory_allocated())
        else: self.stop = True; self.t.join(); self.peak = max(self.peak, self.p.memory_info().rss)

def timed_extraction(acc, dev):
    "Accumulate the time spent turning attention into scores (`last_row_scores`, wherever it is called from; the seed's cache walk)."
    import torch, steerattn.attention as A, steerattn.steering as St
    def wrap(f):
        def timed(*args, **kw):
            if dev == "cuda": torch.cuda.synchronize()
            t0 = time.perf_counter(); r = f(*args, **kw)
            if dev == "cuda": torch.cuda.synchronize()
            acc[0] += time.perf_counter() - t0; return r
        return timed
    A.last_row_scores = St.last_row_scores = wrap(A.last_row_scores)
    globals()["ref_get_attn_to_entity_tok_mean"] = wrap(ref_get_attn_to_entity_tok_mean)

def worker(a):
    import torch, psutil
    import numpy as np
    torch.set_num_threads(a.threads); torch.set_grad_enabled(False); torch.manual_seed(0)
    kind, dev = a.worker, a.device
    proc = psutil.Process()
    if kind in HF_KINDS:
        hf = load_hf(a.model_path, a.dtype, dev, "sdpa" if kind == "floor" else "eager")
        if kind == "nnsight":
            from nnsight import NNsight
            model = NNsight(hf.model); model._steerattn_geometry = _hf_geometry(hf)
        else: model = hf
        fn = dict(hf_eager=m_hf_eager, nnsight=m_nnsight, floor=m_floor)[kind]
        runner = hf
    else:
        from steerattn.models import load_model
        model = runner = load_model(a.model, device=dev, dtype=a.dtype)
        fn = dict(engine=m_engine, engine_no_prefix=lambda *x: m_engine(*x, prefix_reuse=False),
                  engine_full=lambda *x: m_engine(*x, start_at_layer=False), hooks_stop=lambda *x: m_hooks(*x, stop=True),
                  hooks_full=lambda *x: m_hooks(*x, stop=False), tl_cache=m_tl_cache,
                  reference=lambda *x: m_reference(*x, n_conditions=a.ref_conditions))[kind]
    acc = [0.0]; timed_extraction(acc, dev)
    cache = {}
    def work(path):
        if path not in cache: cache[path] = load_workload(ROOT/path)
        return cache[path]
    # page every weight in (a forward pass on one token): weights are not working memory
    sets, _, _ = work(a.workload)
    t1 = next(iter(sets.values()))[0][:1, -1:].to(dev)
    runner.model(input_ids=t1) if kind in HF_KINDS else runner(t1)
    if dev == "cpu":
        import ctypes, gc; gc.collect(); ctypes.CDLL("libc.so.6").malloc_trim(0)
    base_rss = proc.memory_info().rss if dev == "cpu" else torch.cuda.memory_allocated()
    peak = base_rss
    print(json.dumps(dict(ready=kind, base_rss=base_rss)), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "quit": break
        sets, vecs, coeff = work(cmd["workload"])
        if cmd.get("warm"):    # a small slice first: allocator pools and lazy initialisation are part of the peak, not of the time
            with PeakRSS(dev) as mem:
                fn(model, {k: (t[:2], m[:2], p[:2]) for k, (t, m, p) in list(sets.items())[:1]}, {k: v[:1] for k, v in vecs.items()}, coeff, cmd["bs"])
            peak = max(peak, mem.peak)
        acc[0] = 0.0
        with PeakRSS(dev) as mem:
            if dev == "cuda": torch.cuda.synchronize()
            t0 = time.perf_counter(); res = fn(model, sets, vecs, coeff, cmd["bs"])
            if dev == "cuda": torch.cuda.synchronize()
            dt = time.perf_counter() - t0
        extra = {}
        if cmd.get("check_floor"):
            z = np.load(ROOT/cmd["check_floor"])
            ref = {tuple(k.split("|")): torch.from_numpy(z[k]) for k in z.files}
            extra["floor_check_max_abs"] = check_floor(model, sets, vecs, coeff, cmd["bs"], ref)
        if cmd.get("save") and res:
            tmp = ROOT/(cmd["save"] + ".tmp.npz")
            np.savez(tmp, **{"|".join(k): v.float().cpu().numpy() for k, v in res.items()}); os.replace(tmp, ROOT/cmd["save"])
        del res
        if cmd.get("count_peak", True): peak = max(peak, mem.peak)
        print(json.dumps(dict(time=dt, extraction=acc[0], peak=mem.peak, base_rss=base_rss, peak_all=peak, **extra)), flush=True)


# ---------------------------------------------------------------- driver
class Worker:
    def __init__(self, kind, a, model_path, workload):
        cmd = [sys.executable, __file__, "--worker", kind, "--model", a.model, "--model-path", model_path, "--device", a.device,
               "--dtype", a.dtype, "--threads", str(a.threads), "--workload", workload, "--ref-conditions", str(a.ref_conditions)]
        self.kind = kind
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        self.err = []
        threading.Thread(target=lambda: self.err.extend(self.p.stderr), daemon=True).start()   # drain stderr (progress bars, warnings)
    def read(self):
        line = self.p.stdout.readline()
        if not line: sys.exit(f"worker {self.kind} died:\n{''.join(self.err)[-3000:]}")
        return json.loads(line)
    def ask(self, **cmd):
        self.p.stdin.write(json.dumps(cmd) + "\n"); self.p.stdin.flush(); return self.read()
    def close(self):
        try: self.p.stdin.write(json.dumps(dict(op="quit")) + "\n"); self.p.stdin.flush()
        except BrokenPipeError: pass
        self.p.wait(timeout=60)

def compare(a_path, b_path, keys=None):
    "Largest |a - b| per measure in units of max(1, max |b|): raw scores and steered - original differences."
    import numpy as np
    with np.load(a_path) as A, np.load(b_path) as B:
        ks = [k for k in A.files if k in B.files]
        if not ks: sys.exit(f"{a_path} and {b_path} share no runs")
        raw = diff = 0.0
        for m in MEASURES:
            mk = [k for k in ks if k.endswith("|" + m)]
            scale = max(1.0, max(float(np.abs(B[k]).max()) for k in mk))
            raw = max(raw, max(float(np.abs(A[k] - B[k]).max()) for k in mk) / scale)
            for k in mk:
                label, et, c, _ = k.split("|")
                o = f"{label}|{et}|orig|{m}"
                if c != "orig" and o in A.files and o in B.files:
                    diff = max(diff, float(np.abs((A[k] - A[o]) - (B[k] - B[o])).max()) / scale)
        return dict(max_raw=raw, max_diff=diff, n_compared=len(ks))

def summary(times):
    med = statistics.median(times)
    return dict(times=times, median=med, min=min(times), max=max(times), spread=(max(times) - min(times)) / med if med else 0.0)

def ratio(num, den):
    "Ratio of medians and the per-round ratios' range (rounds are interleaved, so round r's times share the machine's state)."
    per = [x / y for x, y in zip(num["times"], den["times"])]
    return dict(median=num["median"] / den["median"], per_round=per, min=min(per), max=max(per))

def provenance(a):
    import torch, importlib.metadata as md
    def ver(p):
        try: return md.version(p)
        except md.PackageNotFoundError: return None
    git = lambda *x: subprocess.run(["git", *x], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor()) \
        if Path("/proc/cpuinfo").exists() else platform.processor()
    return dict(git_commit=git("rev-parse", "HEAD"), git_dirty=bool(git("status", "--porcelain", "--untracked-files=no")),
                python=platform.python_version(), torch=torch.__version__, transformers=ver("transformers"),
                transformer_lens=ver("transformer-lens"), nnsight=ver("nnsight"), torch_threads=a.threads, cpus=os.cpu_count(),
                cpu_model=cpu, platform=platform.system() + " " + platform.machine(),
                device=a.device if a.device == "cpu" else torch.cuda.get_device_name(0))

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=16, help="prompts per entity type and label (16 = one full batch each)")
    ap.add_argument("--n-random", type=int, default=10)
    ap.add_argument("--n-top", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3, help="interleaved rounds (every method once per round)")
    ap.add_argument("--ref-conditions", type=int, default=1, help="conditions per label the seed reference runs (its time is scaled up)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--device", default="cuda" if os.environ.get("CUDA_VISIBLE_DEVICES") else "cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--model", default="default")
    ap.add_argument("--methods", default=",".join(k for k, _ in LADDER) + ",hf_eager,nnsight")
    ap.add_argument("--lengths", default="16,64,128,256,512", help="prompt lengths of the scaling runs ('' to skip)")
    ap.add_argument("--scaling-n", type=int, default=4, help="prompts per set in the scaling runs (2 sets: player known/unknown)")
    ap.add_argument("--scaling-methods", default="engine,tl_cache,floor,reference")
    ap.add_argument("--quick", action="store_true", help="smoke test: 4 prompts per set, 2 conditions, 2 rounds, lengths 16,64")
    ap.add_argument("--out", default=None, help="default: bench/steering_bench.<device>.json (bench/out/ with --quick)")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--model-path", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--workload", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker: return worker(a)
    dflt = ap.parse_args([])
    reduced = a.quick or any(getattr(a, k) != getattr(dflt, k) for k in
                             ("n", "n_random", "n_top", "repeats", "ref_conditions", "batch_size", "dtype", "model", "methods", "lengths", "scaling_n", "scaling_methods"))
    if a.quick: a.n, a.n_random, a.repeats, a.lengths, a.scaling_n = 4, 1, 2, "16,64", 2
    if a.out is None: a.out = str(OUT/"steering_bench.quick.json" if a.quick else ROOT/"bench"/f"steering_bench.{a.device}.json")

    import torch
    from steerattn.models import load_model
    OUT.mkdir(parents=True, exist_ok=True)
    methods = [m for m in a.methods.split(",") if m]
    bad = [m for m in methods if m not in BRIDGE_KINDS + HF_KINDS]
    import importlib.util
    if "nnsight" in methods and importlib.util.find_spec("nnsight") is None:   # an optional tool: its row is left out, not the run
        print("nnsight is not installed: its row is skipped (pip install nnsight to include it)", flush=True); methods.remove("nnsight")
    if bad or "engine" not in methods: sys.exit(f"unknown method(s) {bad} (or no engine); valid: {', '.join(BRIDGE_KINDS + HF_KINDS)}")
    t_all = time.time()
    model = load_model(a.model, device="cpu")
    model_path = str(model.steerattn_info.get("path", ""))
    cfg = model.cfg
    geometry = dict(n_layers=cfg.n_layers, d_model=cfg.d_model, n_heads=cfg.n_heads, n_kv=getattr(cfg, "n_key_value_heads", None) or cfg.n_heads,
                    d_head=cfg.d_head, d_mlp=cfg.d_mlp)
    main_wl = "bench/out/_workload.npz"
    sets, vecs, coeff = build_workload(model, a.n, a.n_random, n_top=a.n_top)
    save_workload(ROOT/main_wl, sets, vecs, coeff)
    lengths = [int(x) for x in a.lengths.split(",") if x.strip()]
    scale_wl = {}
    for L in lengths:
        s_sets, s_vecs, _ = build_workload(model, a.scaling_n, 0, length=L, types=("player",))
        scale_wl[L] = f"bench/out/_workload_{L}.npz"
        save_workload(ROOT/scale_wl[L], s_sets, s_vecs, coeff)
    n_tokens = sum(int(m.sum()) for _, m, _ in sets.values())
    fl = flops(geometry, sets, vecs, a.batch_size)
    del model
    prov = provenance(a)
    prov["load_before"] = os.getloadavg()
    sys.path.insert(0, str(ROOT/"bench"))
    from machine_bar import machine_bar
    bar_rows = a.batch_size * max(1, round(n_tokens / sum(len(t) for t, _, _ in sets.values())))   # a batch's real token rows
    bars = [machine_bar(geometry, bar_rows, a.threads, seconds=0.5 if a.quick else 2.0)]
    print(f"workload: {a.model}, 4 types x {a.n} prompts x known/unknown x {a.n_top + a.n_random} conditions, {'+'.join(MEASURES)}, "
          f"batch {a.batch_size}, {a.device}/{a.dtype}, {a.threads} threads; {a.repeats} interleaved rounds; load {prov['load_before']}", flush=True)

    workers = {k: Worker(k, a, model_path, main_wl) for k in methods}
    ready = {k: w.read() for k, w in workers.items()}
    print(f"  {len(workers)} workers loaded ({time.time() - t_all:.0f} s)", flush=True)
    times = {k: [] for k in methods}; extraction = {k: [] for k in methods}; info = {}
    rounds_load = []
    for r in range(a.repeats):
        rounds_load.append(os.getloadavg()[0])
        for k in methods:
            cmd = dict(op="run", workload=main_wl, bs=a.batch_size, warm=(r == 0))
            if r == a.repeats - 1 and k != "floor": cmd["save"] = f"bench/out/_{k}.npz"
            if r == a.repeats - 1 and k == "floor": cmd["check_floor"] = "bench/out/_engine.npz"
            res = workers[k].ask(**cmd)
            t = res["time"] * ((a.n_top + a.n_random) / min(a.ref_conditions, a.n_top + a.n_random) if k == "reference" else 1)
            times[k].append(t); extraction[k].append(res["extraction"]); info[k] = res
            print(f"  round {r + 1}/{a.repeats} {k:<17} {t:8.2f} s{' (scaled)' if k == 'reference' else ''}", flush=True)
    report_methods = {}
    for k in methods:
        i = info[k]
        report_methods[k] = dict(**summary(times[k]), extraction_s=statistics.median(extraction[k]),
                                 peak_rss_bytes=int(i["peak_all"]), loaded_rss_bytes=int(i["base_rss"]),
                                 peak_above_loaded_bytes=int(i["peak_all"] - i["base_rss"]))
        if k == "reference": report_methods[k]["scaled_from_conditions"] = [min(a.ref_conditions, a.n_top + a.n_random), a.n_top + a.n_random]
        if k != "engine" and k != "floor":
            report_methods[k]["equal_to_engine"] = compare(ROOT/f"bench/out/_{k}.npz", ROOT/"bench/out/_engine.npz")
        if "floor_check_max_abs" in i: report_methods[k]["check_last_layer_attention_max_abs"] = i["floor_check_max_abs"]

    scaling = []
    if lengths:
        print(f"\nscaling ({a.scaling_n} prompts x 2 sets, 1 condition, value_weighted + attn_weights):", flush=True)
        s_methods = [m for m in a.scaling_methods.split(",") if m in workers]
        for L in lengths:
            row = dict(tokens=L)
            for k in s_methods:
                reps = 1 if k == "reference" else max(1, a.repeats)
                ts, ex = [], []
                for j in range(reps):
                    res = workers[k].ask(op="run", workload=scale_wl[L], bs=a.scaling_n, warm=(j == 0),
                                         save=f"bench/out/_{k}_{L}.npz" if j == 0 and k != "floor" else None, count_peak=False)
                    ts.append(res["time"]); ex.append(res["extraction"])
                row[k] = dict(time=statistics.median(ts), extraction=statistics.median(ex), peak_above_loaded_bytes=int(res["peak"] - res["base_rss"]))
                if k not in ("engine", "floor"): row[k]["equal_to_engine"] = compare(ROOT/f"bench/out/_{k}_{L}.npz", ROOT/f"bench/out/_engine_{L}.npz")
            scaling.append(row)
            print("  " + f"{L:>4} tokens: " + "  ".join(f"{k} {row[k]['time']:.3f} s (extract {row[k]['extraction']:.4f})" for k in s_methods), flush=True)
    for w in workers.values(): w.close()
    bars.append(machine_bar(geometry, bar_rows, a.threads, seconds=0.5 if a.quick else 2.0))
    prov["load_after"] = os.getloadavg(); prov["load_per_round"] = rounds_load

    eng = report_methods["engine"]
    ladder = []
    prev = None
    for k, what in LADDER:
        if k not in report_methods: continue
        r = report_methods[k]
        row = dict(method=k, technique=what, median_s=r["median"], spread=r["spread"], over_engine=ratio(r, eng))
        if prev is not None and k != "floor": row["gain_over_previous"] = ratio(report_methods[prev], r)
        ladder.append(row)
        if k != "floor": prev = k
    baselines = {k: ratio(report_methods[k], eng) for k in ("tl_cache", "hf_eager", "nnsight", "reference") if k in report_methods}
    targets = {}
    real = {k: v for k, v in baselines.items() if k != "reference"}
    if real:
        fastest = min(real, key=lambda k: report_methods[k]["median"])
        targets["engine >= 3x faster than the fastest tuned real-tool baseline"] = dict(value=real[fastest]["median"], met=real[fastest]["median"] >= 3, baseline=fastest)
        best_mem = min(real, key=lambda k: report_methods[k]["peak_above_loaded_bytes"])
        targets["peak memory above weights <= the best baseline's"] = dict(
            value=eng["peak_above_loaded_bytes"] / max(1, report_methods[best_mem]["peak_above_loaded_bytes"]),
            met=eng["peak_above_loaded_bytes"] <= report_methods[best_mem]["peak_above_loaded_bytes"], baseline=best_mem)
    if "floor" in report_methods:
        v = eng["median"] / report_methods["floor"]["median"]
        targets["engine <= 1.15x the true floor"] = dict(value=v, met=v <= 1.15)
    if "reference" in baselines:
        targets["engine >= 15x the seed-literal reference"] = dict(value=baselines["reference"]["median"], met=baselines["reference"]["median"] >= 15)
    fit = None
    if len(scaling) >= 3:   # linear: a straight line through (tokens, extraction seconds), no quadratic growth
        import numpy as np
        x, y = np.array([r["tokens"] for r in scaling], float), np.array([r["engine"]["extraction"] for r in scaling])
        slope, icpt = np.polyfit(x, y, 1)
        r2 = 1 - ((y - np.polyval([slope, icpt], x)) ** 2).sum() / max(((y - y.mean()) ** 2).sum(), 1e-18)
        growth = (y[-1] / y[0]) / (x[-1] / x[0])
        fit = dict(slope_s_per_token=float(slope), intercept_s=float(icpt), r2_linear=float(r2), growth_over_linear=float(growth))
        targets["engine extraction linear in prompt length"] = dict(value=float(r2), met=bool(r2 >= 0.9 and growth <= 1.5))
    tol = 1e-5 if a.dtype == "float32" else 3e-2     # low precision: every method rounds differently
    failures = [f"{k} differs from the engine by {v['equal_to_engine']['max_raw']:.1e} (raw) / {v['equal_to_engine']['max_diff']:.1e} (diff)"
                for k, v in report_methods.items() if "equal_to_engine" in v and max(v["equal_to_engine"]["max_raw"], v["equal_to_engine"]["max_diff"]) > tol]
    failures += [f"{L} tokens: {k} differs from the engine" for row in scaling for k, v in row.items()
                 if isinstance(v, dict) and "equal_to_engine" in v and max(v["equal_to_engine"]["max_raw"], v["equal_to_engine"]["max_diff"]) > tol
                 for L in [row["tokens"]]]
    if report_methods.get("floor", {}).get("check_last_layer_attention_max_abs", 0) > 1e-4: failures.append("the floor does not compute the engine's numbers")
    report = dict(workload=dict(model=a.model, n_per_type_label=a.n, entity_types=TYPES, conditions_per_label=a.n_top + a.n_random, measures=MEASURES,
                                pos_type="entity_last", coeff=coeff, batch_size=a.batch_size, device=a.device, dtype=a.dtype, rounds=a.repeats,
                                prompts=sum(len(t) for t, _, _ in sets.values()), real_tokens=n_tokens, quick=a.quick, reduced=reduced,
                                command=" ".join(["python bench/steering_bench.py"] + [x for x in sys.argv[1:] if not x.startswith(str(ROOT))])),
                  provenance=prov, geometry=geometry, methods=report_methods, ladder=ladder, baselines_over_engine=baselines,
                  flops=dict(**fl, floor_gflop_per_s=fl["batched"] / report_methods["floor"]["median"] / 1e9 if "floor" in report_methods else None,
                             engine_gflop_per_s=fl["batched"] / eng["median"] / 1e9),
                  machine_bar=dict(before=bars[0], after=bars[-1], rows=bar_rows, dtype=a.dtype,
                                   layer_gflops=statistics.median(b[a.dtype]["layer_gflops"] for b in bars) if a.dtype in bars[0] else None,
                                   note="one decoder layer's projections as torch linear calls at a batch's real token rows, this dtype and "
                                        "thread count (bench/machine_bar.py); measured before and after the methods (the machine may be shared)"),
                  scaling=scaling, extraction_fit=fit, targets=targets, failures=failures, wall_s=time.time() - t_all)

    print(f"\n{'method':<18} {'median s':>9} {'spread':>7} {'x engine':>9} {'peak MB':>8} {'above weights MB':>17} {'max |Δ| raw/diff':>18}")
    for k, r in report_methods.items():
        eq = r.get("equal_to_engine")
        print(f"{k:<18} {r['median']:>9.2f} {r['spread']:>7.1%} {r['median'] / eng['median']:>9.2f} {r['peak_rss_bytes'] / 2**20:>8.0f} "
              f"{r['peak_above_loaded_bytes'] / 2**20:>17.0f} {'' if not eq else '%.1e/%.1e' % (eq['max_raw'], eq['max_diff']):>18}")
    print("\nladder:")
    for row in ladder:
        g = row.get("gain_over_previous")
        print(f"  {row['median_s']:>8.2f} s  {row['over_engine']['median']:>6.2f}x engine  {'' if not g else 'step %.2fx' % g['median']:<12} {row['technique']}")
    print(f"\nFLOPs (minimum work): {fl['batched'] / 1e12:.2f} TFLOP batched, {fl['unpadded'] / 1e12:.2f} TFLOP unpadded; "
          f"engine {report['flops']['engine_gflop_per_s']:.1f} GFLOP/s" + (f", floor {report['flops']['floor_gflop_per_s']:.1f} GFLOP/s" if "floor" in report_methods else ""))
    mb = report["machine_bar"]
    if mb["layer_gflops"]:
        report["flops"]["engine_fraction_of_bar"] = report["flops"]["engine_gflop_per_s"] / mb["layer_gflops"]
        if "floor" in report_methods: report["flops"]["floor_fraction_of_bar"] = report["flops"]["floor_gflop_per_s"] / mb["layer_gflops"]
        print(f"machine bar ({a.dtype}, {bar_rows} rows, {a.threads} threads): {mb['layer_gflops']:.1f} GFLOP/s (bf16 {statistics.median(b['bfloat16']['layer_gflops'] for b in bars):.1f}); "
              f"engine at {report['flops']['engine_fraction_of_bar']:.0%} of it")
        v = report["flops"]["engine_fraction_of_bar"]
        targets["engine >= 50% of the machine's matmul throughput at its shapes"] = dict(value=v, met=v >= 0.5)
    print("targets:")
    for k, t in targets.items(): print(f"  {'MET ' if t['met'] else 'MISS'}  {k}: {t['value']:.2f}")
    print(f"load average before {prov['load_before']}, after {prov['load_after']}")
    out = Path(a.out); out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp"); tmp.write_text(json.dumps(report, indent=1)); os.replace(tmp, out)
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out} ({time.time() - t_all:.0f} s)")
    if failures: sys.exit("FAILED: " + "; ".join(failures))

if __name__ == "__main__": main()
