"""Ship the latent statistics of the committed runs (default model, the organism under both rules) as assets.

    python scripts/ship_latent_stats.py [--check]

`steerattn run` starts by computing latent firing statistics on the train split's labelled entities (12 min on
2 cores for the default model). Those depend only on the shipped labels, the shipped SAE and the generic corpus, so
they ship too: `default_latent_stats` finds them under `steerattn/assets/latents/<cache name>`, whose name hashes all
its inputs; any change to labels, SAE or prompts gives another name and they are recomputed. Run this after
relabelling or retraining an SAE. `--check` only says whether every committed run's entry is there (exit 1 if not).
"""
import os, shutil, sys
os.environ.setdefault("HF_HUB_OFFLINE", "1")
from fastcore.script import call_parse

from steerattn.core import asset_path
from steerattn.models import load_model
from steerattn import latents as LT
from steerattn.experiment import ExperimentConfig, resolve_sae, discovery_stats, discovery_kw

RUNS = [("default", "baserate"), ("organism", "baserate"), ("organism", "paper")]   # (model, rule) of results/default, results/organism{,/baserate}

@call_parse
def main(check:bool=False):  # only report whether the shipped entries are there
    missing, shipped = [], set()
    for name, rule in RUNS:
        model = load_model(name); sae = resolve_sae("default", model=name)
        cfg = ExperimentConfig(model=name, rule=rule, coeff=1.0)     # the coefficient plays no part in the statistics
        path = LT.latent_stats_path(model, sae, **discovery_kw(model, cfg))
        dest = asset_path(LT.SHIPPED_STATS)/path.name; shipped.add(dest.name)
        if check:
            print(f"{name} ({rule}): {'shipped' if (dest/'stats.json').exists() else 'MISSING'} {dest.name}")
            if not (dest/"stats.json").exists(): missing.append(dest.name)
            continue
        discovery_stats(model, sae, cfg)            # computes into the cache (or finds it there)
        if dest.exists(): shutil.rmtree(dest)
        shutil.copytree(path, dest)
        print(f"{name} ({rule}): shipped {dest.name} ({sum(f.stat().st_size for f in dest.iterdir()) / 1e3:.0f} kB)")
    # entries no committed run asks for are stale: removed, so the package stays small
    for d in asset_path(LT.SHIPPED_STATS).glob("*"):
        if d.name not in shipped and not check: shutil.rmtree(d); print("removed stale", d.name)
    sys.exit(1 if missing else 0)
