"""Labelling throughput: steerattn's teacher-forced labeller vs batched generation, side by side.

    python bench/labels_bench.py [--n 40] [--threads 2] [--out bench/labels_bench.cpu.json]

Workload: the `--n` most popular labellable entities of each type (`labelling_order`), every attribute,
greedy *and* sampled labels (the paper's protocol: 1 greedy answer, 10 samples at T = 1), into a fresh
temporary label cache (nothing is reused). Unit: attribute questions (entity x attribute) per second.

Compared, in one run, on the same entities:
- `generate fp32`: what a user would write: batched Hugging Face generation with a KV cache on the
  plain fp32 model, 1 greedy + 10 sampled completions per question, answers matched afterwards
  (`steerattn.labels.label_entities`, modes greedy and sampled; the v1 labeller).
- `teacher-forced fp32`: `label_entities_fast` (one forward pass over prompt + each gold variant, the
  unembedding only at answer positions; numbers still generated greedily) on the fp32 model.
- `teacher-forced bf16`: the same on a bfloat16 copy (`labelling_model`), what `scripts/label_default.py` runs.
Agreement: the fraction of (entity, attribute) greedy verdicts on which each method agrees with
`generate fp32`.
"""
import argparse, json, os, platform, tempfile, time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40, help="entities per type (most popular first)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT/"bench"/"labels_bench.cpu.json"))
    a = ap.parse_args()
    import torch
    from steerattn.core import ENTITY_TYPES, atomic_write
    from steerattn.entities import ATTRIBUTES
    from steerattn.models import load_model
    from steerattn.labels import label_entities, label_entities_fast, labelling_model, labelling_order
    torch.set_num_threads(a.threads)
    model = load_model()
    ents = {t: labelling_order(t)[:a.n] for t in ENTITY_TYPES}
    n_q = sum(bool(e[x]) for t, es in ents.items() for e in es for x in ATTRIBUTES[t])

    def generate(lm, root):
        for t, es in ents.items():
            for mode in ("greedy", "sampled"): label_entities(lm, es, t, mode=mode, root=root, chunk_size=64, progress=False)
        return _verdicts(root, "greedy")

    def fast(lm, root):
        for t, es in ents.items(): label_entities_fast(lm, es, t, root=root, chunk_size=256, sample_numbers=True, progress=False)
        return _verdicts(root, "greedy")

    def _verdicts(root, mode):
        from steerattn.labels import read_labels
        lab = read_labels(lm_key, mode, root)
        return {(t, n, x): int(v > 0) for t, d in lab["entities"].items() for n, r in d.items() for x, v in r["correct"].items()}

    lm_key = model
    methods = [("generate fp32", generate, "float32"), ("teacher-forced fp32", fast, "float32"), ("teacher-forced bf16", fast, "bfloat16")]
    res, verdicts = {}, {}
    for name, fn, dtype in methods:
        lm = labelling_model(model, dtype)
        with tempfile.TemporaryDirectory() as root:
            t0 = time.perf_counter(); verdicts[name] = fn(lm, root); dt = time.perf_counter() - t0
        res[name] = dict(seconds=round(dt, 2), questions_per_s=round(n_q / dt, 2), dtype=dtype)
        print(f"{name}: {dt:.1f} s, {n_q / dt:.2f} questions/s", flush=True)
    ref = verdicts["generate fp32"]
    for name in res:
        common = set(ref) & set(verdicts[name])
        res[name]["agreement_with_generate"] = round(sum(ref[k] == verdicts[name][k] for k in common) / max(len(common), 1), 4)
        res[name]["n_verdicts"] = len(common)
        res[name]["speedup_vs_generate"] = round(res["generate fp32"]["seconds"] / res[name]["seconds"], 2)
    out = dict(workload=dict(n_per_type=a.n, entity_types=list(ENTITY_TYPES), questions=n_q, protocol="greedy + 10 samples at T=1",
                             threads=a.threads),
               machine=dict(python=platform.python_version(), torch=torch.__version__, cpus=os.cpu_count(), platform=platform.platform()),
               methods=res)
    with atomic_write(a.out, "w") as f: f.write(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
