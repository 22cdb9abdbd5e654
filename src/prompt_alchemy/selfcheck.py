"""Health checks: one implementation for `prompt-alchemy doctor` and for the last step of `scripts/setup.sh`.

The local model and the embedder are tried in child processes (`python -m prompt_alchemy.selfcheck probe KIND`), so
a crash in native code (llama.cpp built for another CPU dies with SIGILL or SIGSEGV) becomes a report line with a
fix instead of killing the caller. The database is inspected read-only, the configuration is validated, and each
configured provider is contacted the way `providers --check` does it.

    python -m prompt_alchemy.selfcheck [--wheel-dir DIR]   # setup's smoke check; exit 1 with one clear message
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prompt_alchemy.localstack import fix_command, setup_hint

if TYPE_CHECKING:
    from prompt_alchemy.config import LoadedSettings

#: A child probe that takes longer than this has hung (loading and a few tokens take about a second).
PROBE_TIMEOUT = 180.0
PROBE_TOKENS = 8
PROBE_SENTENCE = "Prompt Alchemy turns a raw idea into a refined prompt."
WHEEL_CACHE_HINT = "the llama-cpp-python build cache ('prompt-alchemy local path')"


@dataclass
class Check:
    """One line of the report. `status` is ok, warn (works, but worth a look), fail or skip."""

    name: str
    status: str
    detail: str
    fix: str | None = None

    @property
    def failed(self) -> bool:
        return self.status == "fail"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------------------------------------ child processes


@dataclass
class ChildOutcome:
    returncode: int | None  # None: timed out and killed
    stdout: str
    stderr: str

    @property
    def crashed(self) -> bool:
        return self.returncode is not None and self.returncode < 0

    def last_error(self) -> str:
        """The child's own one-line explanation (its last stderr line), without the 'error: ' prefix."""
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        return lines[-1].removeprefix("error: ") if lines else ""


def signal_name(returncode: int) -> str:
    try:
        return f"{signal.Signals(-returncode).name} (signal {-returncode})"
    except ValueError:
        return f"signal {-returncode}"


async def run_child(argv: list[str], timeout: float = PROBE_TIMEOUT, env: dict[str, str] | None = None) -> ChildOutcome:
    """Run a command, capture its output, and never raise for how it ended (crash, error or timeout)."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        return ChildOutcome(None, out.decode(errors="replace"), err.decode(errors="replace"))
    return ChildOutcome(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


def probe_argv(kind: str, config_file: str | Path | None) -> list[str]:
    argv = [sys.executable, "-m", "prompt_alchemy.selfcheck", "probe", kind]
    return argv + (["--config", str(config_file)] if config_file else [])


# ------------------------------------------------------------------------------------------------ probes (in the child)


class ProbeFailure(Exception):
    """What a probe found wrong, with what to do about it."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


def _probe_model(loaded: LoadedSettings) -> dict[str, Any]:
    """Load the configured local model and generate a few tokens (in this process)."""
    from prompt_alchemy.errors import ProviderError
    from prompt_alchemy.providers.base import GenerationRequest, Message
    from prompt_alchemy.providers.local import LocalProvider

    provider = LocalProvider(loaded.settings.providers.get("local"))
    reason = provider.unavailable_reason()
    if reason:
        raise ProbeFailure(reason, _model_fix(loaded))
    request = GenerationRequest(
        messages=[Message("user", "Say hello in three words.")], temperature=0.0, max_tokens=PROBE_TOKENS, seed=0
    )
    start = time.perf_counter()
    try:
        response = asyncio.run(provider.generate(request))
    except ProviderError as exc:
        raise ProbeFailure(str(exc).removeprefix("provider 'local': "), _model_fix(loaded)) from None
    seconds = time.perf_counter() - start
    if response.output_tokens < 1:
        raise ProbeFailure(f"the local model {provider.model_path()} generated no tokens", _model_fix(loaded))
    return {
        "model": str(provider.model_path()),
        "tokens": response.output_tokens,
        "seconds": round(seconds, 3),
        "build": llama_features(),
    }


def llama_features() -> list[str]:
    """The CPU features the installed llama.cpp was built to use (from llama_print_system_info)."""
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode(errors="replace")
    return [part.split("=")[0].split(":")[-1].strip() for part in info.split("|") if part.strip().endswith("= 1")]


def _probe_embedder(loaded: LoadedSettings) -> dict[str, Any]:
    """Embed one sentence with the configured embedder (in this process)."""
    import numpy as np

    from prompt_alchemy.embeddings import make_embedder
    from prompt_alchemy.errors import ProviderError
    from prompt_alchemy.providers.registry import ProviderRegistry

    registry = ProviderRegistry(loaded.settings)
    embedder = make_embedder(loaded.settings, registry)
    fix = _embedder_fix(loaded)
    reason = embedder.unavailable_reason()
    if reason:
        raise ProbeFailure(reason, fix)

    async def embed() -> Any:
        try:
            return await embedder.embed([PROBE_SENTENCE])
        finally:
            await registry.aclose()

    try:
        vectors = np.asarray(asyncio.run(embed()))
    except ProviderError as exc:
        raise ProbeFailure(str(exc), fix) from None
    norm = float(np.linalg.norm(vectors[0])) if vectors.ndim == 2 and len(vectors) == 1 else float("nan")
    if vectors.shape != (1, embedder.dimensions) or not math.isfinite(norm) or abs(norm - 1.0) > 1e-3:
        raise ProbeFailure(
            f"embedder {embedder.provider}/{embedder.model} returned a malformed vector "
            f"(shape {vectors.shape}, norm {norm:.3f})",
            fix,
        )
    return {"provider": embedder.provider, "model": embedder.model, "dimensions": embedder.dimensions}


def _model_fix(loaded: LoadedSettings) -> str:
    if loaded.settings.providers.get("local").model_path:
        return "point providers.local.model_path at a valid GGUF file, or remove it to use the bundled model"
    return f"reinstall the local stack: {setup_hint()}"


def _embedder_fix(loaded: LoadedSettings) -> str:
    name = loaded.settings.generation.embedding_provider
    if name == "local":
        return f"reinstall the local embedding model: {setup_hint()}"
    return (
        f"check providers.{name} (key and endpoint), or set generation.embedding_provider: local for the "
        f"offline embedder"
    )


def _probe_main(kind: str, config_file: str | None) -> int:
    from prompt_alchemy.config import load_settings
    from prompt_alchemy.errors import AlchemyError, ConfigError

    try:
        loaded = load_settings(config_file=config_file)
        result = _probe_model(loaded) if kind == "model" else _probe_embedder(loaded)
    except ProbeFailure as exc:
        sys.stdout.write(json.dumps({"ok": False, "error": str(exc), "fix": exc.fix}) + "\n")
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except AlchemyError as exc:  # the configuration does not load, most likely
        fix = (
            "fix the configuration ('prompt-alchemy config validate' lists every problem)"
            if isinstance(exc, ConfigError)
            else "run 'prompt-alchemy --debug doctor' for details"
        )
        sys.stdout.write(json.dumps({"ok": False, "error": str(exc), "fix": fix}) + "\n")
        sys.stderr.write(f"error: {exc}\n")
        return 1
    sys.stdout.write(json.dumps({"ok": True, **result}) + "\n")
    return 0


# -------------------------------------------------------------------------------------------- checks (in the caller)

_LABELS = {"model": "local model", "embedder": "embedder"}


def interpret_probe(kind: str, outcome: ChildOutcome, *, crash_fix: str) -> Check:
    """Turn a probe child's ending into a report line: ok, a failure it explained, a crash, or a hang."""
    label = _LABELS[kind]
    if outcome.returncode is None:
        return Check(
            label, "fail", f"did not finish within {PROBE_TIMEOUT:g}s (hung while loading or running)", crash_fix
        )
    if outcome.crashed:
        what = "loading the model or generating" if kind == "model" else "embedding a sentence"
        return Check(label, "fail", f"crashed with {signal_name(outcome.returncode)} while {what}", crash_fix)
    report: dict[str, Any] = {}
    for line in reversed(outcome.stdout.splitlines()):
        try:
            report = json.loads(line)
            break
        except json.JSONDecodeError:
            continue
    if outcome.returncode == 0 and report.get("ok"):
        if kind == "model":
            detail = (
                f"{Path(report['model']).name} loads and generates ({report['tokens']} tokens in "
                f"{report['seconds']:.2f}s with loading; llama.cpp built for "
                f"{' '.join(report.get('build') or []) or 'unknown'})"
            )
        else:
            detail = f"{report['provider']}/{report['model']} embeds a sentence ({report['dimensions']}-d)"
        return Check(label, "ok", detail)
    detail = report.get("error") or outcome.last_error() or f"exited with code {outcome.returncode}"
    return Check(label, "fail", detail, report.get("fix") or crash_fix)


def crash_fix_text(wheel_dir: str | None = None) -> str:
    where = wheel_dir or WHEEL_CACHE_HINT
    return (
        f"llama-cpp-python was built for another CPU (or its build is damaged): remove {where} and run "
        f"'{fix_command()}' again; on an older CPU set PROMPT_ALCHEMY_LLAMA_CMAKE_ARGS (docs/install.md)"
    )


async def probe(kind: str, config_file: str | Path | None, *, crash_fix: str | None = None) -> Check:
    outcome = await run_child(probe_argv(kind, config_file))
    fix = crash_fix or (
        crash_fix_text()
        if kind == "model"
        else f"onnxruntime crashed on this machine: reinstall it ('{fix_command()}') and run doctor again"
    )
    return interpret_probe(kind, outcome, crash_fix=fix)


def check_config(config_file: str | Path | None) -> tuple[Check, LoadedSettings | None]:
    from prompt_alchemy.config import load_settings, resolve_paths, validate_config
    from prompt_alchemy.errors import ConfigError

    path = resolve_paths(config_file=config_file).config_file
    fix = f"edit {path} ('prompt-alchemy config validate' lists every problem)"
    try:
        loaded = load_settings(config_file=config_file)
    except ConfigError as exc:
        return Check("config", "fail", str(exc), fix), None
    problems = validate_config(config_file)
    if problems:
        return Check("config", "fail", "; ".join(problems), fix), loaded
    where = str(path) if path.exists() else f"{path} not present: defaults"
    return Check("config", "ok", f"valid ({where})"), loaded


def check_database(loaded: LoadedSettings) -> Check:
    from prompt_alchemy.storage.health import check_postgres, check_sqlite

    path: Path | str = loaded.database_path
    if loaded.database_url:  # PostgreSQL: `path` is the URL with its password masked
        health = check_postgres(loaded.database_url)
        path = loaded.database_location  # the URL as text (a Path would fold its '//'), password masked
        restore = (
            "check storage.url (PROMPT_ALCHEMY_DATABASE_URL) and that the server is up with pgvector; "
            "'prompt-alchemy db copy --from BACKUP --to URL' restores a backup into an empty database"
        )
    else:
        health = check_sqlite(loaded.database_path)
        backups = loaded.database_path.parent / "backups"
        restore = (
            f"move {path} aside and restore your newest backup into its place ('prompt-alchemy db backup' "
            f"writes them to {backups}); without one, the next run starts an empty library"
        )
    if not health.exists:
        return Check("database", "ok", f"{path} not created yet (the first saved prompt creates it)")
    if health.error:
        return Check("database", "fail", f"{path} cannot be read: {health.error}", health.fix or restore)
    if not health.sound:
        findings = "; ".join(health.integrity[:3]) + (" ..." if len(health.integrity) > 3 else "")
        return Check("database", "fail", f"{path} fails its integrity check: {findings}", restore)
    if health.unknown:
        return Check(
            "database",
            "fail",
            f"{path} was written by a newer prompt-alchemy (migrations "
            f"{', '.join(health.unknown)} are unknown to this version)",
            "upgrade prompt-alchemy (or use this database only with the newer version)",
        )
    prompts = f"{health.prompts} prompts, " if health.prompts is not None else ""
    if health.pending:
        return Check(
            "database",
            "warn",
            f"{path}: integrity ok, {prompts}migrations pending: " f"{', '.join(health.pending)}",
            "run 'prompt-alchemy db migrate' (any command that opens the library applies them too)",
        )
    return Check("database", "ok", f"{path}: integrity ok, {prompts}migrations current ({len(health.applied)})")


async def check_providers(loaded: LoadedSettings) -> tuple[list[Check], bool]:
    """Each configured remote provider contacted (host reachable, key accepted), as `providers --check` does;
    and whether any provider other than `local` can generate."""
    from prompt_alchemy.services import AlchemyService

    service = AlchemyService(loaded)
    try:
        rows = await service.providers_status(check=True)
        others = any(n != "local" for n in service.registry.available())
    finally:
        await service.aclose()
    checks = []
    for row in rows:
        outcome = row.get("check")
        if row["name"] in ("local", "scripted") or outcome is None:
            continue
        where = f" at {row['endpoint']}" if row.get("endpoint") else ""
        if outcome["ok"]:
            checks.append(
                Check(
                    f"provider {row['name']}", "ok", f"{outcome['detail']}{where} " f"({outcome['latency_ms']:.0f} ms)"
                )
            )
        else:
            checks.append(
                Check(
                    f"provider {row['name']}",
                    "fail",
                    f"{outcome['detail']}{where}",
                    _provider_fix(row["name"], outcome["detail"]),
                )
            )
    if not checks:
        checks.append(
            Check(
                "providers",
                "ok",
                "no cloud provider or Ollama configured: every phase runs on the " "embedded local model",
            )
        )
    return checks, others


def _provider_fix(name: str, detail: str) -> str:
    from prompt_alchemy.config import KEY_ENV_VARS

    lowered = detail.lower()
    if name in KEY_ENV_VARS and any(
        w in lowered
        for w in ("http 401", "http 403", "authentication failed", "permission denied", "api key", "no api key")
    ):
        return f"check {KEY_ENV_VARS[name][0]} (or providers.{name}.api_key)"
    setting = "host (or OLLAMA_HOST)" if name == "ollama" else "base_url"
    return (
        f"check the network and providers.{name}.{setting}; remove the provider's key to stop using it "
        f"(its phases then fail over)"
    )


async def run_doctor(config_file: str | Path | None = None) -> list[Check]:
    """Every check, the slow ones side by side."""
    config, loaded = check_config(config_file)
    if loaded is None:
        reason = "skipped: the configuration does not load"
        return [config] + [Check(name, "skip", reason) for name in ("local model", "embedder", "database", "providers")]
    from prompt_alchemy.providers.local import LocalProvider

    local_reason = LocalProvider(loaded.settings.providers.get("local")).unavailable_reason()
    model_task = (
        None
        if local_reason and not loaded.settings.providers.get("local").model_path
        else asyncio.ensure_future(probe("model", config_file))
    )
    embed_task = asyncio.ensure_future(probe("embedder", config_file))
    providers, others = await check_providers(loaded)
    if model_task is None:
        model = Check(
            "local model",
            "warn" if others else "fail",
            local_reason or "",
            f"{setup_hint()} for the embedded offline model"
            + ("" if others else " (no other provider is configured, so nothing can generate)"),
        )
    else:
        model = await model_task
    return [config, model, await embed_task, check_database(loaded)] + consistent(providers, model)


def consistent(providers: list[Check], model: Check) -> list[Check]:
    """The providers' checks as they stand beside the local model's: "every phase runs on the embedded local model"
    only when that model works; when it does not and no other provider is configured, nothing can generate."""
    if model.status in ("ok", "skip") or [c.name for c in providers] != ["providers"]:
        return providers
    return [
        Check(
            "providers",
            "warn",
            "no cloud provider or Ollama configured, and the embedded local model does "
            "not work (see 'local model'): nothing can generate",
            "store a provider key with 'prompt-alchemy keys set openai' (or set OPENAI_API_KEY), or fix the "
            "local model",
        )
    ]


def setup_check(wheel_dir: str | None = None) -> list[Check]:
    """Setup's smoke check: the local model generates and the embedder embeds, each in its own child process."""

    async def both() -> list[Check]:
        return list(
            await asyncio.gather(probe("model", None, crash_fix=crash_fix_text(wheel_dir)), probe("embedder", None))
        )

    return asyncio.run(both())


def _setup_main(wheel_dir: str | None) -> int:
    checks = setup_check(wheel_dir)
    failed = [c for c in checks if c.failed]
    for check in checks:
        if not check.failed:
            sys.stderr.write(f"setup: self-check: {check.name}: {check.detail}\n")
    if failed:
        what = "; ".join(f"the {c.name} {c.detail}" for c in failed)
        fixes = "; ".join(dict.fromkeys(c.fix for c in failed if c.fix))
        sys.stderr.write(
            f"setup: FAILED: {what}. To fix: {fixes}. Setup is not marked done, so the next run " f"checks again.\n"
        )
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m prompt_alchemy.selfcheck",
        description="Setup's smoke check: the local model generates, the embedder embeds.",
    )
    parser.add_argument("--wheel-dir", help="the llama-cpp-python wheel cache directory to name when the model crashes")
    sub = parser.add_subparsers(dest="command")
    child = sub.add_parser("probe", help="run one probe in this process (the checks run it in a child process)")
    child.add_argument("kind", choices=("model", "embedder"))
    child.add_argument("--config", default=None)
    args = parser.parse_args(argv)
    if args.command == "probe":
        return _probe_main(args.kind, args.config)
    return _setup_main(args.wheel_dir)


if __name__ == "__main__":
    sys.exit(main())
