#!/usr/bin/env bash
# Prepare the GPU check (benchmarks/gpu.py) in this checkout, on a machine with ../shared and PyPI:
#   .gpu/  real HH-RLHF pairs and SmolLM2's tokenizer (the GPU machine has neither ../shared nor a network)
#   .whl/  the wheels named in benchmarks/gpu-wheels.txt, at constraints.txt's versions, for the GPU
#          machine's Python 3.12 on x86-64 Linux
# Both are ignored by git and travel only when a device call names them in `carry`; docs/gpu.md has the
# command to run there. Usage: bash benchmarks/gpu_prepare.sh   (PY=... to use another interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
rm -rf .gpu .whl
"$PY" benchmarks/gpu.py --prepare .gpu
pins=()
while read -r name; do
  pin=$(grep -i "^${name}==" constraints.txt) || { echo "gpu_prepare: $name is not pinned in constraints.txt" >&2; exit 2; }
  pins+=("$pin")
done < <(grep -v '^#' benchmarks/gpu-wheels.txt | grep -v '^$')
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "${pins[@]}"
ls .whl
du -sh .gpu .whl
echo "travels: $(git ls-files -z | du -ch --files0-from=- | tail -1 | cut -f1) tracked + the two folders above (64 MiB limit)"
