"""Train the seed-002 fact models (#1, #2) from scratch and analyse every checkpoint; writes `results/seed002/` (resumable)."""
import os
os.environ.setdefault("HF_HUB_OFFLINE", "1")
from pathlib import Path

import torch
from fastcore.script import call_parse

from steerattn.experiments002 import COMMITTED_STEPS, SAVE_AT, train_fact_models


@call_parse
def main(out_dir: str = str(Path(__file__).resolve().parents[1]/"results"/"seed002"),  # where evolution.json and checkpoints/ go
         steps: int = 400,        # training steps per model
         n_people: int = 64,      # synthetic people (facts)
         seed: int = 0,           # corpus, init and batch seed
         threads: int = 1):       # torch threads (1 keeps it reproducible and polite on a shared machine)
    torch.set_num_threads(threads)
    evo = train_fact_models(out_dir, steps=steps, save_at=SAVE_AT, keep=COMMITTED_STEPS, n_people=n_people, seed=seed)
    for size, run in evo["runs"].items():
        print(size, [(r["step"], round(r["accuracy"], 2), r["n_recall_heads"], r["n_seed_heads"]) for r in run["checkpoints"]])
