"""Token prices per model and the cost of a call or an estimated run. In order: `gateway.prices` in config, then
the maintained `genai-prices` package (exact, with its tiers, for the providers it knows), then the dated local
table `prices.json` (a fallback for models genai-prices does not know) over the prices a provider's description
declares (a plugin's). Every price says where it came from (`Price.source`), and `providers --check` names it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any

#: OpenRouter model ids are "vendor/model"; the vendor's own table prices them when OpenRouter's has no entry.
_VENDOR_TABLE = {"openai": "openai", "anthropic": "anthropic", "google": "google"}
#: Our provider names -> genai-prices provider ids (others, such as local, ollama and scripted, cost nothing).
_GENAI_PROVIDERS = {"openai": "openai", "anthropic": "anthropic", "google": "google", "openrouter": "openrouter"}
GENAI_PRICES = "genai-prices"
TABLE = "table"
CONFIG = "config"


@dataclass(frozen=True)
class Price:
    """USD per million input/output tokens (at the base tier), where they came from, and for a genai-prices price
    the (provider id, model ref) it prices exactly, tiers included."""

    input: float
    output: float
    source: str = TABLE
    genai_ref: tuple[str, str] | None = None

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        if self.genai_ref is not None:
            from genai_prices import Usage, calc_price

            provider_id, model_ref = self.genai_ref
            calculation = calc_price(
                Usage(input_tokens=input_tokens, output_tokens=output_tokens), model_ref, provider_id=provider_id
            )
            return float(calculation.total_price)
        return (input_tokens * self.input + output_tokens * self.output) / 1_000_000.0


def genai_prices_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("genai-prices")
    except metadata.PackageNotFoundError:
        return None


@lru_cache(maxsize=512)
def genai_price(provider: str, model: str) -> Price | None:
    """The genai-prices price of `model` at `provider`, or None (not installed, a provider or model it does not
    know). Base-tier rates per million come from a 1,000-token call; `cost` asks it again with the real usage."""
    provider_id = _GENAI_PROVIDERS.get(provider)
    if provider_id is None or not model or genai_prices_version() is None:
        return None
    try:
        from genai_prices import Usage, calc_price

        probe = calc_price(Usage(input_tokens=1000, output_tokens=1000), model, provider_id=provider_id)
    except LookupError:
        return None
    return Price(
        float(probe.input_price) * 1000.0,
        float(probe.output_price) * 1000.0,
        source=GENAI_PRICES,
        genai_ref=(provider_id, model),
    )


@lru_cache(maxsize=1)
def table_date() -> str:
    """When the local fallback table was last updated (YYYY-MM)."""
    data = json.loads(resources.files("prompt_alchemy.providers").joinpath("prices.json").read_text("utf-8"))
    return str(data.get("updated", "unknown"))


def price_source(price: Price | None) -> str | None:
    """Where a price came from, fit to print: "genai-prices 0.2.3", "fallback table 2025-08" or "config"."""
    if price is None:
        return None
    if price.source == GENAI_PRICES:
        return f"genai-prices {genai_prices_version()}"
    if price.source == TABLE:
        return f"fallback table {table_date()}"
    return price.source


def sources_note() -> str:
    """Where prices come from, for `providers` output."""
    version = genai_prices_version()
    first = f"genai-prices {version}" if version else "genai-prices (not installed)"
    return (
        f"prices: gateway.prices in config, then {first}, then the local fallback table dated {table_date()} "
        f"for models genai-prices does not know"
    )


@lru_cache(maxsize=1)
def shipped_prices() -> dict[str, dict[str, Price]]:
    data = json.loads(resources.files("prompt_alchemy.providers").joinpath("prices.json").read_text("utf-8"))
    return {
        provider: {model: Price(float(p["input"]), float(p.get("output", 0.0))) for model, p in models.items()}
        for provider, models in data["providers"].items()
    }


@cache
def provider_prices(provider: str) -> dict[str, Price]:
    """A provider's price table: what its description declares, with the shipped table's entries over it."""
    from prompt_alchemy.providers.catalog import all_providers

    info = all_providers().get(provider)
    declared = {model: Price(float(i), float(o)) for model, (i, o) in (info.prices if info else {}).items()}
    return {**declared, **shipped_prices().get(provider, {})}


def _longest_prefix(table: Mapping[str, Price], model: str) -> Price | None:
    if model in table:
        return table[model]
    matches = [
        name
        for name in table
        if name != "*" and model.startswith(name) and model[len(name) : len(name) + 1] in ("-", "@", ":", ".")
    ]
    if matches:
        return table[max(matches, key=len)]
    return table.get("*")


class PriceTable:
    """Looks up a model's price: config overrides, then genai-prices, then the shipped table (exact, then longest
    dated prefix)."""

    def __init__(self, overrides: Mapping[str, Any] | None = None) -> None:
        self.overrides: dict[str, Price] = {}
        for key, value in (overrides or {}).items():
            data = value.model_dump() if hasattr(value, "model_dump") else dict(value)
            self.overrides[key] = Price(float(data["input"]), float(data.get("output", 0.0)), source=CONFIG)

    def lookup(self, provider: str, model: str) -> Price | None:
        for key in (f"{provider}/{model}", model):
            if key in self.overrides:
                return self.overrides[key]
        found = genai_price(provider, model)
        if found is not None:
            return found
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
