"""The paper's protocol on a GPU in bfloat16, timed (issue 28). Never required by CI: the suite runs `--dry_run` only.

    python scripts/paper_gpu.py [--preset gemma-2-2b] [--stand_in auto|always|never] [--n_per_type 100]
                                [--batch_size 16] [--dtype bfloat16] [--device cuda] [--out DIR] [--record FILE] [--dry_run]

Runs `steerattn.experiment.run_experiment` on `steerattn.paper.preset_config(preset)`: N = 100 prompts per entity type and
label, the 4 entity types, the top 3 latents and 10 random ones, both labels, attention weights and value-weighted
attention, coefficient and heads from the preset. The validity gates and the refusal phase are not the paper's protocol:
off unless --gates / --refusal.

With the weights (in the Hugging Face cache, or the hub reachable with HF_HUB_OFFLINE=0 and a token that accepted the
Gemma licence) it is the real run; phase 0 labels the model first if it has no labels. Without them (--stand_in auto, the
default) or with --stand_in always it builds a random model of gemma-2-2b's full shape (2.6 B parameters) and random Gemma
Scope SAEs in a temporary Hugging Face cache (`steerattn.paper.stand_in_hub(full=True)`) and made-up labels (the most
popular half of each entity type 'known'): its verdict, latents, heads and statistics then mean nothing; only the times
and the memory do. Everything it writes for the stand-in goes to temporary folders, never to the user's caches.

Writes `--record` (default bench/paper_gpu.<device>.json): device, dtype, stand-in or not and why, phase times, peak GPU
memory, prompt counts, and the verdict of a real run.
"""
import argparse, contextlib, json, os, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAND_IN_NOTE = ("RANDOM STAND-IN: a random model of gemma-2-2b's shape with random SAEs and made-up labels; its verdict, latents, "
                 "heads and statistics mean nothing. Only the times and the memory are measurements of the paper's protocol.")


def parse_args(argv=None):
    "The options, checked; a bad value raises `ValueError` naming the option (argparse's own errors exit 2)."
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="gemma-2-2b", help="a key of steerattn.paper.PRESETS")
    p.add_argument("--stand_in", default="auto", help="auto: the stand-in when the weights cannot be had; always; never")
    p.add_argument("--n_per_type", type=int, default=100, help="prompts per entity type and label (the paper's 100)")
    p.add_argument("--batch_size", type=int, default=16, help="prompts per forward pass (the paper's 16)")
    p.add_argument("--dtype", default="bfloat16", help="bfloat16 (default) or float32")
    p.add_argument("--device", default="cuda", help="cuda (default) or cpu (slow: for trying the script)")
    p.add_argument("--out", default="", help="results folder of the run (default: results/<preset>-gpu; the stand-in's: a temporary one)")
    p.add_argument("--record", default="", help="JSON record of the times (default: bench/paper_gpu.<device>.json)")
    p.add_argument("--gates", action="store_true", help="also run the validity gates (not the paper's protocol)")
    p.add_argument("--refusal", action="store_true", help="also run the refusal phase (not the paper's protocol)")
    p.add_argument("--force", action="store_true", help="overwrite a results folder that holds another configuration")
    p.add_argument("--dry_run", action="store_true", help="print the plan (configuration, weights or stand-in) and stop: no model")
    p.add_argument("--small", action="store_true", help="the small stand-in (16 layers; heads chosen on the validation split), "
                                                        "to check this script on a CPU in minutes; implies --stand_in always")
    p.add_argument("--labelled", type=int, default=400, help="stand-in: entities per type given made-up labels (half 'known')")
    a = p.parse_args(argv)
    if a.small: a.stand_in = "always"
    from steerattn.paper import PRESETS          # no torch
    if a.preset not in PRESETS: raise ValueError(f"--preset: unknown {a.preset!r}; valid: {', '.join(PRESETS)}")
    if a.stand_in not in ("auto", "always", "never"): raise ValueError(f"--stand_in must be auto, always or never; got {a.stand_in!r}")
    if a.stand_in == "always" and a.preset != "gemma-2-2b":
        raise ValueError(f"--stand_in always: the stand-in has gemma-2-2b's shape only; got --preset {a.preset}")
    if a.dtype not in ("bfloat16", "float32"): raise ValueError(f"--dtype must be bfloat16 or float32; got {a.dtype!r}")
    if a.device not in ("cuda", "cpu"): raise ValueError(f"--device must be cuda or cpu; got {a.device!r}")
    if a.labelled < 20: raise ValueError(f"--labelled must be ≥ 20 (each split needs known and unknown entities); got {a.labelled}")
    return a


def weights_found(cfg) -> tuple[bool, str]:
    "Can the preset's model and SAE be had here (cached, or the hub asked)? And why not."
    from steerattn.core import offline
    from steerattn.models import model_source
    try: model_source(cfg.model)
    except OSError as e: return False, str(e).split(". ")[0]
    if not offline(): return True, f"the hub may be asked (HF_HUB_OFFLINE unset or 0): {cfg.model} and its SAE download on first load"
    release, sae_id = cfg.sae.split("/", 1)
    if release.startswith("gemma-scope"):
        from huggingface_hub import try_to_load_from_cache
        from sae_lens.loading.pretrained_saes_directory import get_repo_id_and_folder_name
        repo, folder = get_repo_id_and_folder_name(release, sae_id)
        if not isinstance(try_to_load_from_cache(repo, f"{folder}/params.npz"), str):
            return False, f"the SAE {cfg.sae} ({repo}/{folder}/params.npz) is not in the local Hugging Face cache"
    return True, f"{cfg.model} and {cfg.sae} are in the local Hugging Face cache"


def made_up_labels(model, cfg, per_type=400) -> dict:
    "Write labels for the stand-in: of the `per_type` most popular entities of each type, the first half 'known'. They mean nothing."
    from steerattn.core import write_json_gz
    from steerattn.entities import load_entities, popularity
    from steerattn.labels import labels_path, read_labels
    lab = read_labels(model, cfg.label_mode)                  # an empty record in the current format
    for ty in cfg.entity_types:
        ents = sorted(load_entities(ty), key=lambda e: popularity(ty, e), reverse=True)[:per_type]
        for i, e in enumerate(ents):
            n = 2 if i < len(ents) // 2 else 0
            lab["entities"][ty][e["name"]] = dict(n_correct_attrs=n, n_above_base=n, label="known" if n else "unknown", made_up=True)
    write_json_gz(labels_path(model, cfg.label_mode), lab)
    return {ty: len(lab["entities"][ty]) for ty in cfg.entity_types}


def plan(a) -> dict:
    "What the run will do, before anything loads."
    from steerattn.paper import preset_config, PRESETS
    cfg = preset_config(a.preset, dtype=a.dtype, n_per_type=a.n_per_type, batch_size=a.batch_size, gates=a.gates, refusal=a.refusal,
                        **(dict(heads=None) if a.small else {}))      # the paper's heads reach layer 25; the small stand-in has 16
    found, why = (False, "--stand_in always") if a.stand_in == "always" else weights_found(cfg)
    if not found and a.stand_in == "never": raise SystemExit(f"paper_gpu: the weights are not here and --stand_in never: {why}")
    if not found and a.preset != "gemma-2-2b": raise SystemExit(f"paper_gpu: {why}; the stand-in has gemma-2-2b's shape only")
    return dict(preset=a.preset, title=PRESETS[a.preset]["title"], stand_in=not found, why=why, note=None if found else STAND_IN_NOTE,
                device=a.device, config=cfg.to_dict(), cfg=cfg,
                protocol=f"{cfg.n_per_type} prompts per type and label, {len(cfg.entity_types)} types, top latents {list(cfg.top_latents)} "
                         f"+ {cfg.n_random} random, both labels, measures {list(cfg.measures)}, coeff {cfg.coeff}, {cfg.dtype}")


def main(argv=None):
    try: a = parse_args(argv)
    except ValueError as e: raise SystemExit(f"paper_gpu: {e}")
    p = plan(a)
    cfg = p.pop("cfg")
    print(json.dumps({k: v for k, v in p.items() if k != "config"}, indent=1), flush=True)
    if a.dry_run: return p
    import torch
    from steerattn.experiment import resolve_sae, run_experiment
    from steerattn.models import load_model
    from steerattn.paper import hub_cache, stand_in_hub
    if a.device == "cuda" and not torch.cuda.is_available(): raise SystemExit("paper_gpu: no CUDA device here (--device cpu tries it on the CPU, slowly)")
    cuda, times, t_all = a.device == "cuda", {}, time.perf_counter()
    def tick(name, t0):
        times[name] = round(time.perf_counter() - t0, 2); print(f"paper_gpu: {name} {times[name]:.1f} s", flush=True)
        return time.perf_counter()
    with contextlib.ExitStack() as stack:
        out = a.out or str(ROOT/"results"/f"{a.preset}-gpu")
        if p["stand_in"]:
            print(f"paper_gpu: {STAND_IN_NOTE}", flush=True)
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="steerattn-paper-gpu-")))
            os.environ["STEERATTN_CACHE"] = str(tmp/"steerattn-cache")   # made-up labels and statistics stay out of the user's cache
            out = a.out or str(tmp/"results")
            t0 = time.perf_counter()
            info = stand_in_hub(tmp/"hub", full=not a.small, device=a.device)
            if cuda: torch.cuda.empty_cache()
            stack.enter_context(hub_cache(tmp/"hub"))
            p["stand_in_info"] = {k: v for k, v in info.items() if k not in ("cache_dir", "model_dir", "saes")} | dict(saes=list(info["saes"]))
            tick("stand_in_write", t0)
        if cuda: torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        model = load_model(cfg.model, device=a.device, dtype=cfg.dtype)
        t0 = tick("model_load", t0)
        sae = resolve_sae(cfg.sae, device=a.device, model=cfg.model)
        t0 = tick("sae_load", t0)
        if p["stand_in"]: p["made_up_labels"] = made_up_labels(model, cfg, a.labelled); t0 = tick("made_up_labels", t0)
        s = run_experiment(cfg, out, force=a.force, model=model, sae=sae, progress=True, atlas="none")
        tick("run_experiment", t0)
    times["total"] = round(time.perf_counter() - t_all, 2)
    rec = {k: v for k, v in p.items()} | dict(
        command="python scripts/paper_gpu.py " + " ".join(sys.argv[1:] if argv is None else argv),
        gpu=torch.cuda.get_device_name() if cuda else None, torch=torch.__version__,
        peak_gpu_GB=round(torch.cuda.max_memory_allocated() / 1e9, 2) if cuda else None,
        times_s=times, phases_s=s["timings"], counts=s["counts"], heads=s["heads"],
        latents={k: [(v["layer"], v["latent_idx"]) for v in vs] for k, vs in s["latents"].items()},
        verdict=None if p["stand_in"] else s["verdict"], results=None if p["stand_in"] else str(out))
    dest = Path(a.record or ROOT/"bench"/f"paper_gpu.{a.device}.json")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmpf = dest.with_suffix(".tmp"); tmpf.write_text(json.dumps(rec, indent=1, default=str) + "\n"); tmpf.replace(dest)
    print(f"paper_gpu: wrote {dest}" + (f"\n{STAND_IN_NOTE}" if p["stand_in"] else f"; results in {out}"))
    return rec


if __name__ == "__main__": main()
