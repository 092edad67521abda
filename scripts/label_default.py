"""Label the packaged WikiData entities known / unknown for the default model, most popular first, and ship the labels.

    python scripts/label_default.py [--n 800] [--step 100] [--threads 2] [--no_ship] [--base_only]

Greedy and sampled labels come from one pass (`steerattn.labels.label_entities_fast`: teacher forcing for names and
years, generation for numbers) on a bfloat16 copy of the model. Types are walked round robin, `--step` entities at a
time in `labelling_order` (popularity), so an interrupted run leaves every type labelled up to the same rank; the
cache is rewritten after every chunk and a re-run resumes. Each round ends with the base-rate control of the
default rule 'baserate' (`steerattn.labels.base_rates`). With shipping on (the default) the cache is copied into
steerattn/assets/ after every round. Throughput (prompts/s) is printed and stored in the label files.
`--base_only` labels nothing new: it adds the base-rate control to the labels already there (shipped or cached),
type by type, and ships them.
"""
import os, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch
from fastcore.script import call_parse
from steerattn.core import ENTITY_TYPES, asset_path, write_json_gz
from steerattn.models import load_model
from steerattn.labels import (LABEL_MODES, base_rates, label_report, labelling_model, labelling_order, label_entities_fast, labels_path,
                              read_labels, rule_counts)

def _ship(model, no_ship):
    for m in LABEL_MODES:
        lab = read_labels(model, m)
        if not no_ship: write_json_gz(asset_path(labels_path(model, m).name), lab)
    return lab

@call_parse
def main(n:int=800,          # entities per type (popularity order)
         step:int=100,       # entities per type per round
         threads:int=2,      # torch threads
         no_ship:bool=False, # do not copy the labels into steerattn/assets after every round (a bool flag: call_parse makes it store_true)
         sample_numbers:bool=False, # also draw 10 samples for number attributes (10x the decode cost)
         base_only:bool=False,      # only add the base-rate control to the existing labels
         types:str=",".join(ENTITY_TYPES)):
    torch.set_num_threads(threads)
    model = load_model(); lm = labelling_model(model)
    if base_only:
        for t in types.split(","):
            t0 = time.perf_counter(); base_rates(lm, t); _ship(model, no_ship)
            print(f"base rates {t}: {time.perf_counter() - t0:.0f} s; {rule_counts(model)[t]}", flush=True)
        for r in label_report(model): print(r)
        return
    order = {t: labelling_order(t) for t in types.split(",")}
    for k in range(step, n + step, step):
        t0 = time.perf_counter()
        for t, ents in order.items(): label_entities_fast(lm, ents[:min(k, n)], t, chunk_size=step, sample_numbers=sample_numbers)
        lab = _ship(model, no_ship)
        n_lab = {t: len(lab["entities"][t]) for t in order}
        print(f"round {k}: {n_lab} labelled; {lab.get('n_prompts', 0)} prompts in {2*lab['seconds']:.0f} s "
              f"({lab.get('n_prompts', 0)/max(2*lab['seconds'], 1e-9):.2f} prompts/s); round took {time.perf_counter()-t0:.0f} s", flush=True)
