"""Token prices per model (USD per million input/output tokens): the shipped table `prices.json` (by provider
name) over the prices a provider's description declares (a plugin's), overridable with `gateway.prices` in config,
and the cost of a call or an estimated run."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

#: OpenRouter model ids are "vendor/model"; the vendor's own table prices them when OpenRouter's has no entry.
_VENDOR_TABLE = {"openai": "openai", "anthropic": "anthropic", "google": "google"}


@dataclass(frozen=True)
class Price:
    input: float
    output: float
    source: str = "table"

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input + output_tokens * self.output) / 1_000_000.0


@lru_cache(maxsize=1)
def shipped_prices() -> dict[str, dict[str, Price]]:
    data = json.loads(resources.files("prompt_alchemy.providers").joinpath("prices.json").read_text("utf-8"))
    return {provider: {model: Price(float(p["input"]), float(p.get("output", 0.0)))
                       for model, p in models.items()}
            for provider, models in data["providers"].items()}


@lru_cache(maxsize=None)
def provider_prices(provider: str) -> dict[str, Price]:
    """A provider's price table: what its description declares, with the shipped table's entries over it."""
    from prompt_alchemy.providers.catalog import all_providers

    info = all_providers().get(provider)
    declared = {model: Price(float(i), float(o)) for model, (i, o) in (info.prices if info else {}).items()}
    return {**declared, **shipped_prices().get(provider, {})}


def _longest_prefix(table: Mapping[str, Price], model: str) -> Price | None:
    if model in table:
        return table[model]
    matches = [name for name in table if name != "*" and model.startswith(name)
               and model[len(name):len(name) + 1] in ("-", "@", ":", ".")]
    if matches:
        return table[max(matches, key=len)]
    return table.get("*")


class PriceTable:
    """Looks up a model's price: config overrides, then the shipped table (exact, then longest dated prefix)."""

    def __init__(self, overrides: Mapping[str, Any] | None = None) -> None:
        self.overrides: dict[str, Price] = {}
        for key, value in (overrides or {}).items():
            data = value.model_dump() if hasattr(value, "model_dump") else dict(value)
            self.overrides[key] = Price(float(data["input"]), float(data.get("output", 0.0)), source="config")

    def lookup(self, provider: str, model: str) -> Price | None:
        for key in (f"{provider}/{model}", model):
            if key in self.overrides:
                return self.overrides[key]
        found = _longest_prefix(provider_prices(provider), model)
        if found is None and provider == "openrouter" and "/" in model:
            vendor, rest = model.split("/", 1)
            if vendor in _VENDOR_TABLE:
                found = _longest_prefix(provider_prices(_VENDOR_TABLE[vendor]), rest)
        return found

    def cost(self, provider: str, model: str, input_tokens: int, output_tokens: int) -> float:
        """The call's cost in USD, 0.0 when the model has no known price."""
        price = self.lookup(provider, model)
        return round(price.cost(input_tokens, output_tokens), 8) if price else 0.0
