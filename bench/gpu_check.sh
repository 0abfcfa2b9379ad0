#!/usr/bin/env bash
# The GPU checks of a lent device machine, in one call (see docs/LOG.md, "GPU"): the CUDA tests,
# experiment=smoke (surprise-head and transformer PRMs), then one seed of the default, each
# through bench/stage_times.py. The machine has torch but not this project's other pins: wheels
# for those travel in .whl/ (hydra-core, omegaconf, antlr4, transformers, accelerate, trl,
# datasets, dill, multiprocess); CPU baselines from this script's JSON in .devcheck/. Both folders
# are local (add them to .git/info/exclude). To make them, here:
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .whl hydra-core==1.3.8 \
#     omegaconf==2.3.1 trl==1.16.0 datasets==5.2.0 transformers==5.23.0 accelerate==1.16.0 dill multiprocess
#   pip wheel --no-deps antlr4-python3-runtime==4.9.3 -w .whl
#   .venv/bin/python bench/stage_times.py experiment=smoke --json .devcheck/smoke-cpu.json   (and smoke-transformer)
#   device run: bash bench/gpu_check.sh   (carry .whl and .devcheck; timeout_s 600)
set -u
out=${OUT:-/tmp/gpu-check}; mkdir -p "$out"
py=${PYTHON:-python3}  # PYTHON=.venv/bin/python: a rehearsal here, on the CPU, with the project's own install
if [ -z "${PYTHON:-}" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONUNBUFFERED=1 APRM_PROGRESS=0 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 \
  TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
"$py" -c "import torch, transformers, trl, datasets, hydra; print('torch', torch.__version__, 'transformers', transformers.__version__, 'trl', trl.__version__, 'datasets', datasets.__version__)" | tee -a "$out/gpu.txt"
stage() {  # name, seconds, overrides...
  local name=$1 limit=$2; shift 2
  timeout "$limit" "$py" bench/stage_times.py "$@" --json "$out/$name.json" \
    $( [ -f ".devcheck/$name-cpu.json" ] && echo --baseline ".devcheck/$name-cpu.json" ) 2>&1 \
    | grep -v "Loading weights\|it/s\]\|FutureWarning\|warnings.warn\|^{'" | tee "$out/$name.log"
}
stage smoke 120 experiment=smoke
stage smoke-transformer 120 experiment=smoke model.prm_kind=transformer
timeout 90 "$py" -m pytest -q -m gpu tests/test_gpu.py -p no:cacheprovider 2>&1 | tail -5 | tee "$out/pytest.txt"
# last: what its limit cuts off still leaves every finished stage's line in default.log
stage default "${DEFAULT_LIMIT_S:-420}" experiment=benchmark seeds=null seed=0 backend.batch_size=512
