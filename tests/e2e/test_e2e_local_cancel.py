"""The real local model stops generating soon after its caller is cancelled (an MCP cancel, Ctrl-C), instead of
running to max_tokens while holding the model."""

from __future__ import annotations

import asyncio

import pytest

from prompt_alchemy.config import LocalProviderConfig
from prompt_alchemy.providers.base import GenerationRequest, Message
from prompt_alchemy.providers.local import LocalProvider, _infer_lock

pytestmark = pytest.mark.e2e
MAX_TOKENS = 256


def _request() -> GenerationRequest:
    return GenerationRequest(
        messages=[Message("user", "Write a very long story about dragons, at least 2000 words.")],
        max_tokens=MAX_TOKENS,
        temperature=0.8,
    )


async def test_a_cancelled_local_generation_stops_early():
    provider = LocalProvider(LocalProviderConfig(max_tokens_cap=MAX_TOKENS))
    full = await provider.generate(_request())
    assert full.output_tokens >= MAX_TOKENS // 2  # the prompt really makes the model run long

    task = asyncio.create_task(provider.generate(_request()))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.to_thread(_infer_lock.acquire)  # wait until the worker thread has let go of the model
    _infer_lock.release()
    llm = provider._llama()
    prompt_tokens = full.input_tokens
    generated = llm.n_tokens - prompt_tokens
    assert generated < MAX_TOKENS // 2, generated
