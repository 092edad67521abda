"""Train the SAE that ships with steerattn for the offline default model (SmolLM2-135M-Instruct).

    python scripts/train_default_sae.py [--layer 15] [--d-sae 2048] [--k 64] [--n-train-tokens 5200000] ...

Steps (each cached, so a re-run resumes):
 1. corpus: `steerattn.latents.sae_corpus` -- paragraphs of true statements generated from the packaged
    WikiData entities (two per entity, seeded) + the frozen generic prose (stdlib docstrings, shipped as
    generic-v1.json.gz); held out by entity id. Nothing depends on what is installed.
 2. activations of `blocks.{layer}.hook_resid_pre` at every real token except BOS (texts cut into windows
    of 63 tokens, each with its own BOS), the model run only up to that layer; written in shards of
    500k tokens (atomic), so a killed collection resumes at the next shard.
 3. sae_lens's `SAETrainer` (TopK SAE) fed from the cached activations (a few epochs).
 4. held-out quality (explained variance, L0, dead latents) measured on float32 activations from the
    TransformerBridge, the weights stored in float16 in sae_lens's own format (cfg.json + safetensors) under
    steerattn/assets/sae-smollm2-L{layer}/ together with quality.json and heldout.json (the held-out texts).
"""
from __future__ import annotations
import argparse, ast, hashlib, importlib.metadata, json, os, random, re, sysconfig, time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch
from tqdm.auto import tqdm

from steerattn.core import atomic_dir, cache_dir, raw_data_dir
from steerattn.models import load_model, tokenize
from steerattn.latents import sae_corpus, token_resid

ASSETS = Path(__file__).resolve().parents[1]/"steerattn"/"assets"

# ---------------------------------------------------------------- 1. corpus: steerattn.latents.sae_corpus
# (entity paragraphs generated from the packaged WikiData set + the frozen generic prose; deterministic)

# ---------------------------------------------------------------- 2. activations
class _Stop(Exception): pass

@torch.no_grad()
def hf_activations(hf, tok, texts, layer, max_len=64, tokens_per_batch=2048, max_tokens=None, desc="activations"):
    "resid_pre of `layer` at every real non-BOS token of `texts` (truncated to `max_len`), from a HF Llama model."
    from steerattn.models import _prepend_bos
    enc = [ids[i:i + max_len - 1] for ids in tok(list(texts), add_special_tokens=False)["input_ids"]
           for i in range(0, len(ids), max_len - 1)]   # windows, not truncation: every token is used
    if max_tokens is not None:   # the first texts (in the given mixed order) that fill the budget
        cum, m = 0, 0
        while m < len(enc) and cum < max_tokens: cum += len(enc[m]); m += 1
        enc = enc[:m]
    order = sorted(range(len(enc)), key=lambda i: len(enc[i]))   # similar lengths together: little padding
    grabbed = {}
    def pre(mod, args, kwargs):
        grabbed["x"] = (args[0] if args else kwargs["hidden_states"]).detach(); raise _Stop
    h = hf.model.layers[layer].register_forward_pre_hook(pre, with_kwargs=True)
    out, n, i = [], 0, 0
    pbar = tqdm(total=max_tokens or sum(map(len, enc)), desc=desc, unit="tok")
    try:
        while i < len(order):
            L = len(enc[order[i]]) + 1
            idx = order[i:i + max(1, tokens_per_batch // L)]; i += len(idx)
            width = max(len(enc[j]) for j in idx)
            ids = torch.full((len(idx), width), tok.pad_token_id); mask = torch.zeros_like(ids)
            for r, j in enumerate(idx):
                ids[r, width - len(enc[j]):] = torch.tensor(enc[j]); mask[r, width - len(enc[j]):] = 1
            ids, mask = _prepend_bos(ids, mask, tok.bos_token_id, tok.pad_token_id)
            try: hf.model(ids, attention_mask=mask)
            except _Stop: pass
            keep = mask.bool().clone(); keep[torch.arange(len(idx)), mask.shape[1] - mask.sum(1)] = False  # drop BOS
            a = grabbed["x"][keep].float(); out.append(a); n += len(a); pbar.update(len(a))
    finally:
        h.remove(); pbar.close()
    return torch.cat(out)

# ---------------------------------------------------------------- 3./4. SAE
def explained_variance(x, x_hat):
    "1 - Σ‖x - x̂‖² / Σ‖x - mean(x)‖² over all tokens."
    return (1 - (x - x_hat).pow(2).sum() / (x - x.mean(0)).pow(2).sum()).item()

@torch.no_grad()
def sae_quality(sae, acts, batch=4096):
    "Explained variance, mean L0, fraction of latents that never fire, on `acts` [n, d_in]."
    fired = torch.zeros(sae.cfg.d_sae, dtype=torch.bool); l0, xh = 0., []
    for i in range(0, len(acts), batch):
        x = acts[i:i + batch].to(sae.dtype)
        f = sae.encode(x); xh.append(sae.decode(f).float())
        on = f > 1e-6; fired |= on.any(0); l0 += on.sum().item()
    return dict(explained_variance=explained_variance(acts.float(), torch.cat(xh)), l0=l0 / len(acts),
                dead_fraction=1 - fired.float().mean().item(), n_tokens=len(acts))

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layer", type=int, default=15)
    ap.add_argument("--d-sae", type=int, default=2048)
    ap.add_argument("--k", type=int, default=64)
    ap.add_argument("--n-train-tokens", type=int, default=5_200_000)
    ap.add_argument("--n-views", type=int, default=2, help="paragraphs per entity in the corpus")
    ap.add_argument("--texts-per-shard", type=int, default=6000, help="texts per activation shard (~500k tokens)")
    ap.add_argument("--epochs", type=float, default=1)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--lr", type=float, default=4e-4)
    ap.add_argument("--model-dtype", default="bfloat16", help="dtype of the model while collecting training activations")
    ap.add_argument("--n-heldout", type=int, default=600, help="held-out texts used for the quality numbers")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-norm-ratio", type=float, default=10., help="drop tokens whose norm exceeds this multiple of the median")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--stage", choices=["collect", "train", "all"], default="all")
    ap.add_argument("--out", default=None)
    ap.add_argument("--shards", default="", help="collect only these shard indexes (comma-separated, in this order), then stop: "
                                                 "a second process can fill the tail while the first works from the front")
    a = ap.parse_args()
    torch.set_num_threads(a.threads); torch.manual_seed(a.seed)
    t_start = time.perf_counter(); timings = {}
    work = cache_dir()/"sae-train"/f"smollm2-L{a.layer}-{a.model_dtype}-v{a.n_views}-{a.texts_per_shard}-s{a.seed}"
    model = load_model()
    train, held = sae_corpus(n_views=a.n_views, seed=a.seed)
    from steerattn.latents import generic_paragraphs
    gen = set(generic_paragraphs())
    sources = dict(generic_paragraphs=sum(t in gen for t in train), entity_paragraphs=sum(t not in gen for t in train), n_heldout_texts=len(held),
                   corpus="steerattn.latents.sae_corpus(n_views=%d, seed=%d)" % (a.n_views, a.seed))
    print(f"corpus: {len(train)} train / {len(held)} held-out texts")
    from safetensors.torch import load_file, save_file
    from transformers import AutoModelForCausalLM
    hf = None
    shards, n_have, t_collect = [], 0, 0.
    texts_per_shard = a.texts_per_shard
    starts = list(enumerate(range(0, len(train), texts_per_shard)))
    only = [int(x) for x in a.shards.split(",") if x.strip()]
    if only: starts = [starts[j] for j in only]
    for si, i in starts:
        if n_have >= a.n_train_tokens and not only: break
        f = work/f"shard-{si:03d}.safetensors"
        if not f.exists():
            if hf is None: hf = AutoModelForCausalLM.from_pretrained(model.steerattn_info["path"], dtype=getattr(torch, a.model_dtype)).eval()
            t0 = time.perf_counter()
            acts_i = hf_activations(hf, model.tokenizer, train[i:i + texts_per_shard], a.layer, desc=f"shard {si} (have {n_have:,} tokens)")
            work.mkdir(parents=True, exist_ok=True)
            tmp = f.with_suffix(".tmp"); save_file({"acts": acts_i.to(torch.bfloat16).contiguous()}, str(tmp),
                                                   metadata=dict(seconds=str(time.perf_counter() - t0))); os.replace(tmp, f)
        sh = load_file(str(f))
        from safetensors import safe_open
        with safe_open(str(f), "pt") as fh: t_collect += float(fh.metadata().get("seconds", 0))
        shards.append(sh["acts"]); n_have += len(sh["acts"])
    del hf
    timings["collect_seconds"] = t_collect
    if a.stage == "collect" or only: return
    # copy shard by shard into one tensor, freeing each shard: peak memory ~1x the activations, not 2-3x
    n_tot = min(sum(len(x) for x in shards), a.n_train_tokens)
    acts, o = torch.empty(n_tot, shards[0].shape[1], dtype=shards[0].dtype), 0
    while shards and o < n_tot:
        x = shards.pop(0); k = min(len(x), n_tot - o); acts[o:o + k] = x[:k]; o += k; del x
    # a few tokens (~0.05 %) carry "massive activations" (norm up to ~150x the median; they hold most of the
    # variance): an SAE trained on them spends its capacity there, so they are left out of training and of EV
    norms = torch.cat([acts[i:i + 2**18].float().norm(dim=1) for i in range(0, len(acts), 2**18)])
    keep = (norms <= a.max_norm_ratio * norms.median()).nonzero().squeeze(1)     # indexes, not a filtered copy
    n_massive, n_train = len(acts) - len(keep), len(keep)
    print(f"{n_train} training activations; collected in {timings['collect_seconds']:.0f}s")

    from sae_lens import SAETrainer
    from sae_lens.config import SAETrainerConfig
    from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig
    hook = f"blocks.{a.layer}.hook_resid_pre"
    cfg = TopKTrainingSAEConfig(d_in=acts.shape[1], d_sae=a.d_sae, k=a.k, dtype="float32", device="cpu",
                                normalize_activations="expected_average_only_in", apply_b_dec_to_input=True,
                                rescale_acts_by_decoder_norm=True)
    cfg.metadata.model_name = "SmolLM2-135M-Instruct (steerattn default)"; cfg.metadata.hook_name = hook
    cfg.metadata.context_size = 64; cfg.metadata.prepend_bos = True
    sae = TopKTrainingSAE(cfg)
    total = int(a.epochs * n_train) // a.batch * a.batch
    g = torch.Generator().manual_seed(a.seed)
    def provider():
        while True:
            for idx in torch.randperm(n_train, generator=g).split(a.batch):
                if len(idx) == a.batch: yield acts[keep[idx]].float()
    tcfg = SAETrainerConfig(total_training_samples=total, train_batch_size_samples=a.batch, lr=a.lr, lr_end=a.lr / 10,
                            lr_scheduler_name="constant", lr_decay_steps=max(1, total // a.batch // 5),
                            lr_warm_up_steps=10, device="cpu", autocast=True, dead_feature_window=50,
                            feature_sampling_window=100, n_batches_for_norm_estimate=50)
    t0 = time.perf_counter()
    trainer = SAETrainer(cfg=tcfg, sae=sae, data_provider=provider())
    sae = trainer.fit()
    timings["train_seconds"] = time.perf_counter() - t0
    from sae_lens import SAE
    import tempfile
    with tempfile.TemporaryDirectory() as t:   # the inference form (TopKSAE), as sae_lens saves it
        sae.save_inference_model(t); inf = SAE.load_from_disk(t)
    # held-out quality on float32 Bridge activations (what load_default_sae users feed it), float16 weights as shipped
    t0 = time.perf_counter()
    held = held[:a.n_heldout]
    hacts = token_resid(model, held, a.layer, batch_size=32)
    timings["heldout_seconds"] = time.perf_counter() - t0
    out = Path(a.out or ASSETS/f"sae-smollm2-L{a.layer}")
    with atomic_dir(out) as d:
        inf.to(torch.float16).save_model(d)
        shipped = SAE.load_from_disk(d, dtype="float32")
        hn = hacts.norm(dim=1); hkeep = hn <= a.max_norm_ratio * norms.median()
        q = dict(sae_quality(shipped, hacts[hkeep]), n_massive_dropped=int((~hkeep).sum()),
                 all_tokens=sae_quality(shipped, hacts))
        q_train = sae_quality(shipped, acts[keep[:20_000]].float())
        timings["total_seconds"] = time.perf_counter() - t_start
        info = dict(model="SmolLM2-135M-Instruct (steerattn default, float32 Bridge)", hook_name=hook, layer=a.layer,
                    architecture="topk", d_in=int(acts.shape[1]), d_sae=a.d_sae, k=a.k, weights_dtype="float16",
                    heldout=q, train_subset=dict(q_train, note="first 20k training activations (bf16 model)"),
                    training=dict(n_tokens=n_train, epochs=a.epochs, samples_seen=total, batch=a.batch, lr=a.lr,
                                  model_dtype=a.model_dtype, max_tokens_per_text=64, bos_excluded=True, seed=a.seed,
                                  max_norm_ratio=a.max_norm_ratio, median_norm=round(norms.median().item(), 2), n_massive_dropped=n_massive,
                                  threads=a.threads, sources_texts=sources,
                                  trainer="sae_lens.SAETrainer (TopKTrainingSAE), activations fed from a cache"),
                    timings={k: round(v, 1) for k, v in timings.items()},
                    versions=dict(sae_lens=importlib.metadata.version("sae-lens"), torch=torch.__version__))
        (d/"quality.json").write_text(json.dumps(info, indent=1))
        (d/"heldout.json").write_text(json.dumps(held, ensure_ascii=False))
        for f in d.iterdir(): f.chmod(0o644)   # readable by every user of an installed package
    print(json.dumps(info, indent=1))

if __name__ == "__main__": main()
