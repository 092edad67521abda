"""Train the steerattn model organism (issue 27) and ship it, its labels and its SAE.

    python scripts/train_organism.py [--n_views 40] [--threads 1] [--stage all|train|labels|sae]

1. train: a 4-layer Llama-style model from scratch on `steerattn.organism.organism_corpus` (seeded known/unknown
   split of the packaged WikiData entities; the test template never in the corpus), one pass, checkpointed every
   50 steps in the steerattn cache (a re-run resumes; the corpus hash must match); shipped in bfloat16 with its
   byte-level BPE tokenizer and organism.json (split, training cost, accuracy history) to steerattn/assets/organism.
2. labels: the project's own labeller (`label_entities_fast`, greedy + sampled, the test template) on the organism's
   entities, plus the base-rate control; shipped as steerattn/assets/labels-organism-<weights key>-*.json.gz, with
   steerattn/assets/organism/knowledge.json (what the organism knows: `organism_knowledge`).
3. sae: a TopK SAE at the middle layer (`train_organism_sae`), shipped as steerattn/assets/sae-organism-L{layer}.
One thread by default: on a shared 2-core machine two torch threads ran ~5x slower than one (measured 06:25).
"""
import os, json, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch
from fastcore.script import call_parse

from steerattn.core import asset_path, cache_dir, write_json, write_json_gz
from steerattn.organism import (ORGANISM_VERSION, organism_split, organism_corpus, name_counts, train_organism, save_organism, label_organism, label_confusion,
                                organism_knowledge, train_organism_sae, organism_info)


@call_parse
def main(n_views:int=100,      # corpus views (one pass over all of them)
         threads:int=1,        # torch threads
         max_minutes:float=0,  # stop training after this many minutes (0: no limit); a re-run resumes
         stage:str="all",      # all, train, labels or sae
         layer:int=2,          # SAE layer (blocks.{layer}.hook_resid_pre)
         seed:int=0):          # split, corpus, init and batch seed
    torch.set_num_threads(threads)
    split = organism_split(seed=seed)
    if stage in ("all", "train"):
        work = cache_dir()/"organism-train"/f"v{ORGANISM_VERSION}" if seed == 0 else cache_dir()/"organism-train"/f"v{ORGANISM_VERSION}-s{seed}"
        r = train_organism(work, split, n_views=n_views, seed=seed, eval_every=100, ckpt_every=50, max_seconds=max_minutes * 60 or None)
        print("cost:", json.dumps(r["cost"]))
        if not r["finished"]: print("training stopped early: run the same command again to resume"); return
        docs = organism_corpus(split, n_views=1, generic_frac=r["hyper"]["generic_frac"], seed=seed)["docs"]
        nc = name_counts(docs, split)
        counts = {t: dict(known=round(sum(c["known"].values()) / len(c["known"]) * n_views, 2), unknown=round(sum(c["unknown"].values()) / len(c["unknown"]) * n_views, 2),
                          pairs_equal=round(sum(nc[t]["known"][a] == nc[t]["unknown"][b] for a, b in zip(split[t]["known"], split[t]["unknown"])) / len(split[t]["known"]), 3))
                  for t, c in nc.items()}
        print("name mentions per entity over the corpus (mean):", json.dumps(counts))
        print("shipped to", save_organism(r, split, extra=dict(name_counts=counts)))
    from steerattn.models import load_model
    from steerattn.labels import LABEL_MODES, labels_path, read_labels, label_report
    model = load_model("organism")
    if stage in ("all", "labels"):
        t0 = time.perf_counter()
        counts = label_organism(model, split)
        for m in LABEL_MODES: write_json_gz(asset_path(labels_path(model, m).name), read_labels(model, m))
        print(f"labels in {time.perf_counter() - t0:.0f} s:", json.dumps(counts))
        for m in LABEL_MODES: print(m, "paper rule, designed known/unknown ->", json.dumps(label_confusion(model, split, m, "paper")))
        for r in label_report(model): print(r)
        k = organism_knowledge(model, split)
        write_json(asset_path("organism")/"knowledge.json", k)     # what the README and 17_organism report
        print("designed known -> known:", k["designed_known"], "designed unknown -> known:", k["designed_unknown"])
    if stage in ("all", "sae"):
        info = train_organism_sae(model, split, layer=layer)
        print(json.dumps(info, indent=1))
