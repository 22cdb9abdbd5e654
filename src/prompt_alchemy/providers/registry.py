"""The provider registry: one long-lived instance per provider, and per-phase resolution with ordered fallbacks."""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field

from prompt_alchemy.config import PREFERRED_PROVIDER, PROVIDER_NAMES, Settings
from prompt_alchemy.errors import InputError, ProviderError, ProviderUnavailableError
from prompt_alchemy.models import MetricRecord, Phase
from prompt_alchemy.observability import get_logger
from prompt_alchemy.providers.base import GenerationRequest, GenerationResponse, Provider

log = get_logger("providers")

#: Implementations by name, imported lazily so that unused SDKs are never loaded.
IMPLEMENTATIONS: dict[str, str] = {
    "local": "prompt_alchemy.providers.local:LocalProvider",
    "scripted": "prompt_alchemy.providers.scripted:ScriptedProvider",
}
#: Never picked automatically: only when named.
EXPLICIT_ONLY = {"scripted"}


@dataclass
class CallOutcome:
    """What a chain call produced, plus what happened on the way (failovers, errors) for metrics and output."""

    response: GenerationResponse
    events: list[str] = field(default_factory=list)
    metrics: list[MetricRecord] = field(default_factory=list)


class ProviderRegistry:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._instances: dict[str, Provider] = {}

    # ------------------------------------------------------------------ lookup

    @staticmethod
    def check_name(name: str) -> str:
        if name not in PROVIDER_NAMES:
            raise InputError(f"unknown provider '{name}'; known providers: {', '.join(PROVIDER_NAMES)}")
        if name not in IMPLEMENTATIONS:
            raise InputError(f"provider '{name}' is not supported by this installation; "
                             f"supported: {', '.join(IMPLEMENTATIONS)}")
        return name

    def get(self, name: str) -> Provider:
        self.check_name(name)
        if name not in self._instances:
            module, cls = IMPLEMENTATIONS[name].split(":")
            factory = getattr(importlib.import_module(module), cls)
            self._instances[name] = factory(self.settings.providers.get(name))
        return self._instances[name]

    def available(self) -> list[str]:
        return [n for n in PROVIDER_NAMES if n in IMPLEMENTATIONS and n not in EXPLICIT_ONLY
                and self.get(n).is_available()]

    # ------------------------------------------------------------------ resolution

    def chain(self, phase: Phase, override: str | None = None) -> list[str]:
        """The ordered providers to try for a phase. Raises when none of them can run here."""
        cfg = self.settings.phases.get(phase)
        if override:
            names = [self.check_name(override)]
        elif cfg.provider:
            names = [self.check_name(cfg.provider)] + [self.check_name(f) for f in cfg.fallbacks]
        else:
            preferred = PREFERRED_PROVIDER[phase]
            auto = preferred if preferred in self.available() else next(iter(self.available()), None)
            names = ([auto] if auto else []) + [self.check_name(f) for f in cfg.fallbacks]
        ordered = list(dict.fromkeys(names))
        usable = [n for n in ordered if self.get(n).is_available()]
        if not usable:
            reasons = "; ".join(f"{n}: {self.get(n).unavailable_reason()}" for n in ordered) or \
                "no provider is configured or installed (add an API key, or run 'make setup' for the local model)"
            raise ProviderUnavailableError(ordered[0] if ordered else "none",
                                           f"no usable provider for phase {phase.value}: {reasons}")
        return usable

    def model_for(self, phase: Phase, provider: str) -> str:
        """The phase's configured model applies to the phase's own provider; fallbacks use their default."""
        cfg = self.settings.phases.get(phase)
        if cfg.model and (cfg.provider in (None, provider)):
            return cfg.model
        return self.get(provider).default_model()

    # ------------------------------------------------------------------ calls

    async def generate(self, phase: Phase, chain: list[str], request: GenerationRequest) -> CallOutcome:
        """Call the chain in order until one provider answers; retryable failures fail over to the next."""
        events: list[str] = []
        metrics: list[MetricRecord] = []
        last_error: ProviderError | None = None
        for position, name in enumerate(chain):
            provider = self.get(name)
            request.model = self.model_for(phase, name)
            start = time.perf_counter()
            try:
                response = await provider.generate(request)
            except ProviderError as exc:
                last_error = exc
                elapsed = (time.perf_counter() - start) * 1000.0
                metrics.append(MetricRecord(kind="provider_error", phase=phase.value, provider=name,
                                            model=request.model, latency_ms=elapsed, success=False,
                                            detail=str(exc)))
                if not exc.retryable or position == len(chain) - 1:
                    raise
                nxt = chain[position + 1]
                events.append(f"{phase.value}: {name} failed ({exc}); failing over to {nxt}")
                metrics.append(MetricRecord(kind="failover", phase=phase.value, provider=name, model=request.model,
                                            success=False, detail=f"{name} -> {nxt}"))
                log.warning("failover in %s: %s -> %s (%s)", phase.value, name, nxt, exc)
                continue
            return CallOutcome(response=response, events=events, metrics=metrics)
        assert last_error is not None
        raise last_error

    async def aclose(self) -> None:
        for provider in self._instances.values():
            await provider.aclose()
        self._instances.clear()
