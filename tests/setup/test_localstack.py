"""The local stack's build recipe and the fix messages name: portable flags always (never native, never AMX), only
the library built, the cache keyed by the flags, and `make setup` named only inside a checkout."""

from __future__ import annotations

from pathlib import Path

from prompt_alchemy import localstack
from prompt_alchemy.localstack import (
    PORTABLE_CPU_FLAGS,
    cached_wheel,
    cmake_args,
    fix_command,
    local_extra,
    wheel_cache,
    wheel_dir,
)


def _flags(args: str) -> dict[str, str]:
    return dict(part[2:].split("=", 1) for part in args.split() if part.startswith("-D"))


def test_the_default_build_is_portable_and_library_only():
    flags = _flags(cmake_args({}))
    assert flags["GGML_NATIVE"] == "OFF" and flags["GGML_AVX512"] == "OFF"
    assert all(flags[f] == "OFF" for f in ("GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16", "GGML_BACKEND_DL"))
    assert all(
        flags[f] == "OFF"
        for f in ("LLAVA_BUILD", "LLAMA_BUILD_TESTS", "LLAMA_BUILD_EXAMPLES", "LLAMA_BUILD_TOOLS", "LLAMA_BUILD_SERVER")
    )


def test_custom_cpu_flags_replace_the_portable_ones_but_still_build_only_the_library():
    args = cmake_args({"PROMPT_ALCHEMY_LLAMA_CMAKE_ARGS": "-DGGML_NATIVE=OFF -DGGML_AVX2=OFF"})
    assert _flags(args)["GGML_AVX2"] == "OFF" and _flags(args)["LLAVA_BUILD"] == "OFF"
    assert PORTABLE_CPU_FLAGS not in args


def test_the_wheel_cache_is_keyed_by_version_and_flags(tmp_path):
    cache = wheel_cache({"PROMPT_ALCHEMY_WHEEL_CACHE": str(tmp_path)})
    assert cache == tmp_path
    a, b = (
        wheel_dir("0.3.36", cmake_args({}), cache),
        wheel_dir("0.3.36", cmake_args({"PROMPT_ALCHEMY_LLAMA_CMAKE_ARGS": "-DGGML_NATIVE=ON"}), cache),
    )
    assert a != b and a.parent == b.parent == tmp_path and a.name.startswith("llama-0.3.36-")
    assert cached_wheel(a, "0.3.36") is None
    a.mkdir()
    (a / "llama_cpp_python-0.3.36-py3-none-linux_x86_64.whl").write_bytes(b"")
    assert cached_wheel(a, "0.3.36") is not None and cached_wheel(a, "0.3.37") is None


def test_the_local_extra_comes_from_the_package_metadata_without_llama():
    extra = local_extra()
    names = {r.split(">")[0].split("=")[0].split("<")[0].strip().lower() for r in extra}
    assert {"onnxruntime", "onnx", "tokenizers"} <= names
    assert "llama-cpp-python" not in names


def test_the_fix_names_make_setup_in_a_checkout_and_local_install_elsewhere(monkeypatch, tmp_path):
    root = Path(localstack.__file__).resolve().parents[2]
    monkeypatch.chdir(root)
    assert fix_command() == "make setup"
    monkeypatch.chdir(tmp_path)
    assert fix_command() == f"make -C {root} setup"
    monkeypatch.setattr(localstack, "checkout_root", lambda: None)
    assert fix_command() == "prompt-alchemy local install"
    assert localstack.setup_hint() == "run 'prompt-alchemy local install'"


def test_other_architectures_get_the_generic_build_not_the_x86_flags():
    for machine in ("x86_64", "AMD64"):
        assert cmake_args({}, machine=machine).startswith(PORTABLE_CPU_FLAGS)
    for machine in ("aarch64", "arm64"):
        flags = _flags(cmake_args({}, machine=machine))
        assert flags["GGML_NATIVE"] == "OFF" and "GGML_AVX2" not in flags and flags["LLAMA_BUILD_TESTS"] == "OFF"
    assert "GGML_AVX2" in _flags(cmake_args({"PROMPT_ALCHEMY_LLAMA_CMAKE_ARGS": "-DGGML_AVX2=ON"}, machine="arm64"))
