"""What `run.sh`'s set-up costs on a fresh clone: wall time of the installs and the size of `.venv`, per torch path.

    python scripts/install_cost.py cpu_index --index https://download.pytorch.org/whl/cpu
    python scripts/install_cost.py default_index --index ''      # no STEERATTN_TORCH_INDEX: run.sh's own choice

Clones this repository (committed files only) into a temporary folder with no `.venv`, runs `bash run.sh demo --help`
(every install `run.sh run` does, nothing else) with STEERATTN_TORCH_INDEX set to `--index`, and records the time,
`du` of `.venv`, torch's version and the machine's load into `bench/install_costs.json` under the given name (atomic
write; other entries are kept). The README's install paragraph is generated from that file (steerattn.results).
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT/"bench"/"install_costs.json"


def du_bytes(p: Path) -> int:
    "Bytes on disk under `p` (hard links counted once), as `du -sb` reports."
    return int(subprocess.run(["du", "-sb", str(p)], capture_output=True, text=True, check=True).stdout.split()[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name", help="the entry's key in the JSON, e.g. cpu_index")
    ap.add_argument("--index", required=True, help="STEERATTN_TORCH_INDEX for run.sh ('' = unset: run.sh picks)")
    ap.add_argument("--note", default="", help="what the index was (e.g. a local file:// copy of PyTorch's CPU index)")
    ap.add_argument("--out", default=str(OUT))
    a = ap.parse_args()
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "STEERATTN_TORCH_INDEX", "PYTHON")}
    if a.index: env["STEERATTN_TORCH_INDEX"] = a.index
    env["HF_HUB_OFFLINE"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp)/"steerattn"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        load_before = os.getloadavg()
        t0 = time.time()
        r = subprocess.run(["bash", "run.sh", "demo", "--help"], cwd=clone, env=env, capture_output=True, text=True)
        secs = time.time() - t0
        if r.returncode: sys.exit(f"run.sh failed ({r.returncode}):\n{r.stderr[-3000:]}")
        py = clone/".venv"/"bin"/"python"
        torch_v = subprocess.run([str(py), "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True).stdout.strip()
        site = subprocess.run([str(py), "-c", "import torch, pathlib; print(pathlib.Path(torch.__file__).parent)"],
                              capture_output=True, text=True).stdout.strip()
        entry = dict(install_s=round(secs, 1), venv_bytes=du_bytes(clone/".venv"), torch=torch_v, torch_bytes=du_bytes(Path(site)),
                     notice=[l for l in r.stdout.splitlines() + r.stderr.splitlines() if "unreachable" in l][:1],
                     index=("file:// (a local copy)" if a.index.startswith("file:") else a.index) or "(unset)", note=a.note, load_before=load_before, load_after=os.getloadavg(), cpus=os.cpu_count(),
                     python=subprocess.run([str(py), "-V"], capture_output=True, text=True).stdout.strip(),
                     date=time.strftime("%Y-%m-%d"))
    out = Path(a.out)
    data = json.loads(out.read_text()) if out.exists() else {}
    data[a.name] = entry
    tmp = out.with_suffix(".tmp"); tmp.write_text(json.dumps(data, indent=1) + "\n"); os.replace(tmp, out)
    print(f"{a.name}: {secs:.0f} s, .venv {entry['venv_bytes'] / 1e9:.2f} GB, torch {torch_v} ({entry['torch_bytes'] / 1e9:.2f} GB)")


if __name__ == "__main__": main()
