"""The portable llama.cpp build (what scripts/setup.sh installs) against a native build (-DGGML_NATIVE=ON, which
uses every instruction this CPU has: AVX-512, AMX ...), measured in the same run on the same machine.

The native wheel is built once (~5 minutes on 2 cores) into ~/.cache/prompt-alchemy/bench-wheels/, keyed by the
version, its flags and this CPU's flags, and installed into its own fresh virtualenv (no system site packages) next
to the project's. Each build then generates from the bundled SmolLM2-135M GGUF in child processes, taking turns, so
background load hits both alike. A build that crashes (a native build using AMX where the kernel forbids it) is
reported as a crash. Prints one JSON object.

    .venv/bin/python benchmarks/bench_llama_build.py [--tokens 128] [--rounds 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VERSION = "0.3.36"
NATIVE_FLAGS = "-DGGML_NATIVE=ON"
CACHE = Path(os.environ.get("PROMPT_ALCHEMY_BENCH_WHEELS", Path.home() / ".cache" / "prompt-alchemy" / "bench-wheels"))
SIMD_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "bmi2",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx_vnni",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
)

# Runs inside each interpreter: load the model, read a prompt, generate exactly N tokens greedily.
CHILD = r"""
import json, sys, time
import llama_cpp
path, n_tokens, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t0 = time.perf_counter()
llm = llama_cpp.Llama(model_path=path, n_ctx=2048, n_threads=threads, seed=0, verbose=False)
load = time.perf_counter() - t0
prompt = llm.tokenize(("<|im_start|>user\nWrite a detailed prompt for an assistant that summarizes git logs "
                       "for a weekly engineering report, with sections and constraints.<|im_end|>\n"
                       "<|im_start|>assistant\n").encode(), add_bos=True, special=True)
t0 = time.perf_counter()
llm.eval(prompt)
prompt_s = time.perf_counter() - t0
t0 = time.perf_counter()
made = 0
for token in llm.generate([], temp=0.0, reset=False):
    made += 1
    if made >= n_tokens:
        break
gen_s = time.perf_counter() - t0
print(json.dumps({"load_s": load, "prompt_tokens": len(prompt), "prompt_tps": len(prompt) / prompt_s,
                  "tokens": made, "gen_tps": made / gen_s,
                  "system_info": llama_cpp.llama_print_system_info().decode().strip()}))
"""


def cpu_info() -> dict:
    model, flags = "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model == "unknown":
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return {"model": model, "cores": os.cpu_count(), "simd": [f for f in SIMD_FLAGS if f in flags]}


def portable_flags() -> str | None:
    """The flags of the wheel setup built (its BUILD_FLAGS file), when exactly one portable wheel is cached."""
    wheels = Path(os.environ.get("PROMPT_ALCHEMY_WHEEL_CACHE", Path.home() / ".cache" / "prompt-alchemy" / "wheels"))
    found = sorted(wheels.glob(f"llama-{VERSION}-*/BUILD_FLAGS"))
    return found[-1].read_text().strip() if found else None


def native_wheel(log) -> tuple[Path, float | None]:
    """The cached native wheel, built when missing; and the build's seconds when it was built now."""
    key = hashlib.sha256(f"{VERSION} {NATIVE_FLAGS} {' '.join(cpu_info()['simd'])}".encode()).hexdigest()[:12]
    folder = CACHE / f"llama-{VERSION}-native-{key}"
    found = sorted(folder.glob("llama_cpp_python-*.whl"))
    if found:
        return found[0], None
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    log(f"building a native llama-cpp-python {VERSION} into {folder} (about 5 minutes)...")
    start = time.perf_counter()
    env = dict(
        os.environ,
        CMAKE_ARGS=NATIVE_FLAGS,
        CMAKE_BUILD_PARALLEL_LEVEL=os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", "2"),
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-cache-dir",
            "--no-deps",
            "--no-binary",
            "llama-cpp-python",
            f"llama-cpp-python=={VERSION}",
            "-w",
            str(partial),
        ],
        env=env,
        check=True,
        stdout=sys.stderr,
    )
    seconds = time.perf_counter() - start
    folder.mkdir(parents=True, exist_ok=True)
    wheel = next(partial.glob("llama_cpp_python-*.whl"))
    shutil.move(str(wheel), folder / wheel.name)
    (folder / "BUILD_FLAGS").write_text(NATIVE_FLAGS + "\n")
    shutil.rmtree(partial, ignore_errors=True)
    return folder / wheel.name, seconds


def native_venv(wheel: Path, where: Path, log) -> Path:
    """A fresh virtualenv with only the native wheel and its dependencies."""
    log(f"installing the native wheel into a fresh virtualenv {where}...")
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    python = where / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)], check=True, stdout=sys.stderr)
    return python


def measure(python: Path, model: Path, tokens: int, threads: int) -> dict:
    proc = subprocess.run(
        [str(python), "-c", CHILD, str(model), str(tokens), str(threads)], capture_output=True, text=True, timeout=600
    )
    if proc.returncode < 0:
        return {"crashed": signal.Signals(-proc.returncode).name}
    if proc.returncode != 0:
        return {"failed": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summarize(runs: list[dict]) -> dict:
    ok = [r for r in runs if "gen_tps" in r]
    if not ok:
        return {"runs": runs}
    return {
        "gen_tokens_per_s": round(statistics.median(r["gen_tps"] for r in ok), 1),
        "gen_tokens_per_s_runs": [round(r["gen_tps"], 1) for r in ok],
        "prompt_tokens_per_s": round(statistics.median(r["prompt_tps"] for r in ok), 1),
        "load_s": round(statistics.median(r["load_s"] for r in ok), 3),
        "system_info": ok[0]["system_info"],
        "crashes": [r for r in runs if "gen_tps" not in r],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--threads",
        type=int,
        default=max(1, (os.cpu_count() or 1) - 1),
        help="llama.cpp threads (default: all cores but one, as the local provider uses)",
    )
    parser.add_argument("--portable-python", default=str(ROOT / ".venv" / "bin" / "python"))
    args = parser.parse_args()

    def log(message: str) -> None:
        sys.stderr.write(f"bench_llama_build: {message}\n")

    sys.path.insert(0, str(ROOT / "src"))
    from prompt_alchemy.providers.local import bundled_model_path

    model = bundled_model_path()
    if model is None:
        sys.exit("error: the bundled model is not installed; run 'make setup' first")
    wheel, build_s = native_wheel(log)
    with tempfile.TemporaryDirectory(prefix="bench-llama-native-") as tmp:
        native_python = native_venv(wheel, Path(tmp) / "venv", log)
        portable_runs, native_runs = [], []
        for _ in range(args.rounds):  # taking turns: background load falls on both builds alike
            portable_runs.append(measure(Path(args.portable_python), model, args.tokens, args.threads))
            native_runs.append(measure(native_python, model, args.tokens, args.threads))
    portable, native = summarize(portable_runs), summarize(native_runs)
    ratio = (
        round(native["gen_tokens_per_s"] / portable["gen_tokens_per_s"], 3)
        if "gen_tokens_per_s" in portable and "gen_tokens_per_s" in native
        else None
    )
    print(
        json.dumps(
            {
                "benchmark": "llama_build",
                "model": model.name,
                "tokens": args.tokens,
                "threads": args.threads,
                "rounds": args.rounds,
                "cpu": cpu_info(),
                "load_average": os.getloadavg(),
                "portable": {"flags": portable_flags(), **portable},
                "native": {
                    "flags": NATIVE_FLAGS,
                    "wheel": str(wheel),
                    "build_s": round(build_s, 1) if build_s else None,
                    **native,
                },
                "native_over_portable": ratio,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
