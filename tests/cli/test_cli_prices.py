"""Prices come from genai-prices (maintained, exact tiers); the local table is only a dated fallback for models it
does not know, and `providers` (with or without --check) names the source of each price and the table's date."""

from __future__ import annotations

import json

import pytest

from prompt_alchemy.providers.pricing import PriceTable, price_source, table_date


def test_genai_prices_first_then_the_dated_table_then_nothing():
    table = PriceTable({"openai/gpt-4o": {"input": 9.0, "output": 9.0}})
    mini = table.lookup("openai", "gpt-4o-mini-2024-07-18")
    assert mini is not None and mini.source == "genai-prices" and price_source(mini).startswith("genai-prices ")
    assert table.lookup("openai", "gpt-4o").source == "config"  # gateway.prices still wins
    fallback = table.lookup("google", "text-embedding-004")  # a model genai-prices does not list
    assert fallback is not None and fallback.source == "table"
    assert price_source(fallback) == f"fallback table {table_date()}" and table_date() == "2025-08"
    assert table.lookup("openai", "my-own-finetune") is None
    assert table.cost("openai", "my-own-finetune", 1000, 1000) == 0.0


def test_cost_uses_the_maintained_tiers():
    """A long Claude Sonnet 4.5 call is priced at its long-context tier, which a flat per-million table misses."""
    table = PriceTable()
    short = table.cost("anthropic", "claude-sonnet-4-5", 100_000, 0)
    long = table.cost("anthropic", "claude-sonnet-4-5", 1_000_000, 0)
    assert short == pytest.approx(0.3)
    assert long > 10 * short  # the tier above 200k input tokens costs more per token


def test_providers_names_the_source_and_the_fallback_tables_date(cli, home):
    rows = {r["name"]: r for r in json.loads(cli("providers", "-o", "json").stdout)}
    assert rows["openai"]["price_source"].startswith("genai-prices ")
    assert rows["local"]["price_source"] == f"fallback table {table_date()}"
    text = cli("providers", "--check")
    assert text.returncode == 0, text.stderr
    assert "genai-prices" in text.stdout and f"fallback table dated {table_date()}" in text.stdout
