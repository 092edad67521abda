"""Latent atlas throughput: latents per minute for 1 process and for 2 processes (torchrun, gloo, CPU).

    python bench/atlas_bench.py [--latents 0:64] [--n-prompts 8] [--block-size 32] [--out bench/atlas_bench.cpu.json]

Workload: the default model and SAE (2048 latents at layer 15), the default atlas prompt set (8 known + 8 unknown
test-split prompts, round robin over entity types), coefficient 100 at the entity's last token, measure attn_weights.
Both runs compute the same latents from scratch (fresh shard folders) with one thread per process
(OMP_NUM_THREADS=1, torchrun's default); the time is `shard_seconds` from atlas.json: from the first shard to the
barrier after the last (model loading and the findings are not counted). The load average before and after each run
is recorded: the machine may be shared. The two merged atlases are checked to be identical bit for bit.

From the measured cost per steered token-layer (one prompt token pushed through one layer from the steering layer
on) the script estimates the time of a 16k-latent Gemma Scope atlas of gemma-2-2b on one GPU; the assumptions are
written into the JSON next to the number.
"""
import argparse, json, os, platform, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(n_proc, args, d):
    out, sh = Path(d)/f"out{n_proc}", Path(d)/f"sh{n_proc}"
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", PYTHONWARNINGS="ignore")
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"): env.pop(k, None)
    if sys.platform.startswith("linux"): env["GLOO_SOCKET_IFNAME"] = "lo"
    opts = ["--out", str(out), "--shards", str(sh), "--latents", args.latents, "--n_prompts", str(args.n_prompts),
            "--block_size", str(args.block_size), "--examples", "0", "--no_progress"]
    launch = [sys.executable, "-m", "steerattn.atlas"] if n_proc == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", str(n_proc),
        "--master_addr", "127.0.0.1", "--master_port", str(29600 + n_proc), "-m", "steerattn.atlas"]
    load0, t0 = os.getloadavg(), time.perf_counter()
    p = subprocess.run(launch + opts, env=env, cwd=ROOT, capture_output=True, text=True)
    if p.returncode: sys.exit(f"run with {n_proc} process(es) failed:\n{p.stderr[-3000:]}")
    info = json.loads((out/"atlas.json").read_text())
    return dict(processes=n_proc, threads_per_process=info.get("threads_per_rank"), shard_seconds=info["shard_seconds"],
                wall_seconds_with_loading=round(time.perf_counter() - t0, 2), load_avg_before=load0, load_avg_after=os.getloadavg(),
                latents=info["n_latents"], latents_per_minute=round(60 * info["n_latents"] / info["shard_seconds"], 2)), out, info


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--latents", default="0:64"); ap.add_argument("--n-prompts", type=int, default=8)
    ap.add_argument("--block-size", type=int, default=32); ap.add_argument("--out", default=str(ROOT/"bench"/"atlas_bench.cpu.json"))
    args = ap.parse_args()
    import numpy as np
    with tempfile.TemporaryDirectory() as d:
        one, o1, info = run(1, args, d)
        two, o2, _ = run(2, args, d)
        with np.load(o1/"atlas.npz") as a, np.load(o2/"atlas.npz") as b:
            identical = all(np.array_equal(a[k], b[k]) for k in a.files)
    # cost per steered token-layer: every latent pushes every prompt token through the layers from the steering layer on
    from steerattn.models import load_model
    m = load_model("default")
    tokens = sum(len(m.tokenizer(p["prompt"])["input_ids"]) + 1 for p in info["prompts"])   # + BOS
    layers = info["n_layers"] - info["layer"]
    per_latent_1 = one["shard_seconds"] / one["latents"]
    tl = tokens * layers                                          # token-layers per latent
    s_per_tl = per_latent_1 / tl
    smol_flop = 2 * 3.54e6                                        # SmolLM2-135M: ~106M non-embedding params / 30 layers, 2 FLOP per param
    gemma_flop = 2 * 2.0e9 / 26                                   # gemma-2-2b: ~2.0B non-embedding params / 26 layers
    cpu_flops = smol_flop / s_per_tl
    gpu = dict(device="one A100/H100-class GPU", peak_bf16_tflops=312, assumed_utilisation=0.3,
               latents=16384, prompts=2 * args.n_prompts, tokens_per_prompt=round(tokens / len(info["prompts"]), 1),
               steering_layer=9, n_layers=26)
    g_tl = gpu["prompts"] * gpu["tokens_per_prompt"] * (gpu["n_layers"] - gpu["steering_layer"])
    g_s = gpu["latents"] * g_tl * gemma_flop / (gpu["peak_bf16_tflops"] * 1e12 * gpu["assumed_utilisation"])
    res = dict(
        workload=dict(model="default", sae="default (2048 latents, layer 15)", latents=args.latents, n_prompts_per_label=args.n_prompts,
                      block_size=args.block_size, coeff=info["coeff"], measures=info["measures"], pos_type=info["pos_type"],
                      batch_size=info["batch_size"], token_layers_per_latent=tl, prompt_tokens=tokens, layers_steered=layers),
        machine=dict(python=platform.python_version(), cpus=os.cpu_count(), platform=platform.platform()),
        one_process=one, two_processes=two, speedup=round(two["latents_per_minute"] / one["latents_per_minute"], 3),
        identical_1_vs_2=identical,
        cost=dict(seconds_per_latent_1proc=round(per_latent_1, 4), seconds_per_token_layer=s_per_tl,
                  effective_cpu_gflops=round(cpu_flops / 1e9, 2),
                  full_default_atlas_minutes_1proc=round(2048 * per_latent_1 / 60, 1)),
        gemma_scope_16k_estimate=dict(gpu, flop_per_token_layer=gemma_flop, token_layers_per_latent=g_tl,
                                      seconds=round(g_s, 1), minutes=round(g_s / 60, 1),
                                      same_on_this_cpu_1proc_hours=round(16384 * g_tl * s_per_tl * gemma_flop / smol_flop / 3600, 1),
                                      assumptions="FLOP-bound: 2 FLOP per non-embedding parameter per token, attention over ~15 "
                                                  "tokens negligible; the same prompt set (token count from the default tokenizer); "
                                                  "30% of bf16 peak with latents stacked as extra rows (thousands of rows per pass); "
                                                  "Python/hook overhead per pass amortised by large stacks; model loading not counted"))
    Path(args.out).write_text(json.dumps(res, indent=1))
    print(f"1 process : {one['latents_per_minute']} latents/min ({one['shard_seconds']} s for {one['latents']} latents, "
          f"load {one['load_avg_before'][0]:.1f} -> {one['load_avg_after'][0]:.1f})")
    print(f"2 processes: {two['latents_per_minute']} latents/min ({two['shard_seconds']} s, "
          f"load {two['load_avg_before'][0]:.1f} -> {two['load_avg_after'][0]:.1f})")
    print(f"ratio 2/1: {res['speedup']}; identical: {identical}")
    print(f"cost: {s_per_tl * 1e6:.2f} µs per token-layer ({cpu_flops / 1e9:.1f} GFLOP/s effective); full default atlas "
          f"{res['cost']['full_default_atlas_minutes_1proc']} min on 1 process")
    print(f"16k-latent Gemma Scope atlas on one GPU (see assumptions): ~{res['gemma_scope_16k_estimate']['minutes']} min")


if __name__ == "__main__":
    main()
