"""The machine's own bar: torch matmul and SDPA throughput at a transformer's real shapes, fp32 and bf16.

    python bench/machine_bar.py [--threads 2] [--rows 256]

`machine_bar(geometry, rows, threads)` times, for `rows` token rows, the projections of one decoder layer
(q/o: d_model x d_model, k/v: d_model x kv_heads*d_head, the gated MLP: 3 x d_model x d_mlp) as torch `linear`
calls, and SDPA with `q_len` query positions over `k_len` keys, each for ≥ `seconds` after a warm-up. The layer
number (GFLOP/s over the whole projection set, FLOPs counted as 2·M·K·N) is the bar an engine running that layer
on those rows can at best reach; the engine's GFLOP/s divided by it is its fraction of the machine.
"""
import argparse, json, os, time


def _rate(f, flop, seconds):
    f(); f()                                                   # warm-up (allocator, oneDNN kernels)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds: f(); n += 1
    return flop * n / (time.perf_counter() - t0) / 1e9


def machine_bar(geometry, rows, threads=2, q_len=8, k_len=24, seconds=1.0, dtypes=("float32", "bfloat16")) -> dict:
    "GFLOP/s of one decoder layer's projections (and of SDPA) at `rows` token rows, per dtype, with `threads` threads."
    import torch
    old = torch.get_num_threads(); torch.set_num_threads(threads)
    d, dm, H = geometry["d_model"], geometry["d_mlp"], geometry["n_heads"]
    kv, dh = geometry.get("n_kv") or H, geometry.get("d_head") or d // H
    shapes = [(d, d), (kv * dh, d), (kv * dh, d), (d, d), (dm, d), (dm, d), (d, dm)]   # (out, in): q k v o gate up down
    out = dict(rows=rows, threads=threads, q_len=q_len, k_len=k_len, torch=torch.__version__, load_avg=os.getloadavg())
    try:
        for dt in dtypes:
            t = getattr(torch, dt)
            g = torch.Generator().manual_seed(0)
            ws = [torch.randn(o, i, generator=g).to(t) for o, i in shapes]
            xs = {i: torch.randn(rows, i, generator=g).to(t) for i in {i for _, i in shapes}}
            layer_flop = sum(2 * rows * o * i for o, i in shapes)
            mlp = [(w, xs[w.shape[1]]) for w in ws[4:6]]
            q = torch.randn(max(1, rows // q_len), H, q_len, dh, generator=g).to(t)
            k = torch.randn(max(1, rows // q_len), H, k_len, dh, generator=g).to(t)
            out[dt] = dict(layer_gflops=round(_rate(lambda: [torch.nn.functional.linear(xs[w.shape[1]], w) for w in ws], layer_flop, seconds), 2),
                           mlp_up_gflops=round(_rate(lambda: [torch.nn.functional.linear(x, w) for w, x in mlp], 2 * 2 * rows * dm * d, seconds), 2),
                           sdpa_gflops=round(_rate(lambda: torch.nn.functional.scaled_dot_product_attention(q, k, k),
                                                   4 * q.shape[0] * H * q_len * k_len * dh, seconds), 2))
    finally: torch.set_num_threads(old)
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2); ap.add_argument("--rows", type=int, default=256)
    a = ap.parse_args()
    geo = dict(d_model=576, d_mlp=1536, n_heads=9, n_kv=3, d_head=64)   # SmolLM2-135M (the default model)
    print(json.dumps(machine_bar(geo, a.rows, a.threads), indent=1))
