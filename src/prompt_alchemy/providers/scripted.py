"""A deterministic provider for tests and benchmarks: same request, same answer, with configurable latency.

Never chosen by default; name it with `--provider scripted` or in config. Each answer is derived from the request,
so chaining, personas and target models visibly change what comes back. It streams its answer word by word;
`generate` is that stream collected.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import AsyncGenerator

from prompt_alchemy.errors import ProviderError
from prompt_alchemy.providers.base import BaseProvider, GenerationRequest, GenerationResponse, StreamItem, collect

_INPUT = re.compile(r"<(idea|draft)>\n?(.*?)\n?</\1>", re.S)


class ScriptedProvider(BaseProvider):
    name = "scripted"

    def __init__(self, config) -> None:
        super().__init__(config)
        self.calls: list[GenerationRequest] = []

    def supports_embeddings(self) -> bool:
        return False

    async def generate(self, request: GenerationRequest) -> GenerationResponse:
        return await collect(self.stream(request))

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[StreamItem, None]:
        """The answer word by word. `latency` is the whole call's: half of it before the first word, the rest
        spread over the words, so streaming callers see the text arrive and others wait as long as before."""
        start = time.perf_counter()
        self.calls.append(request)
        if self.config.latency:
            await asyncio.sleep(self.config.latency / 2)
        phase = str(request.metadata.get("phase", ""))
        if phase and phase in self.config.fail_phases:
            if self.config.latency:
                await asyncio.sleep(self.config.latency / 2)  # a failure takes the whole latency, as before
            raise ProviderError(self.name, f"scripted failure in phase {phase}", status=500)
        text = self._answer(request, len(self.calls) - 1)
        words = re.findall(r"\s*\S+|\s+$", text)
        pause = self.config.latency / 2 / max(1, len(words))
        clock = asyncio.get_running_loop().time
        due = clock()
        for word in words:
            yield word
            if pause:  # to a schedule, so that the sleeps' overshoot does not add up over the words
                due += pause
                await asyncio.sleep(max(0.0, due - clock()))
        prompt_chars = sum(len(m.content) for m in request.messages)
        yield GenerationResponse(
            text=text,
            provider=self.name,
            model=request.model or self.default_model(),
            input_tokens=max(1, prompt_chars // 4),
            output_tokens=max(1, len(text) // 4),
            latency_ms=(time.perf_counter() - start) * 1000.0,
            finish_reason="stop",
        )

    def _answer(self, request: GenerationRequest, index: int) -> str:
        if self.config.responses:
            return self.config.responses[index % len(self.config.responses)]
        user = request.non_system[-1].content if request.non_system else ""
        match = _INPUT.search(user)
        source = " ".join((match.group(2) if match else user).split())[:240]
        digest = hashlib.sha256((request.system + "\x00" + user).encode()).hexdigest()[:8]
        phase = request.metadata.get("phase", "?")
        variant = request.metadata.get("variant", 0)
        return (
            f"Here is the prompt:\n\nRole: You are an expert assistant for this task.\n"
            f"Task: {source}\n"
            f"Constraints:\n- Keep every stated requirement.\n- Ask when something is ambiguous.\n"
            f"Output format: a numbered list of steps, then a short summary.\n"
            f"Notes: scripted {phase} variant {variant} ({digest}, temperature {request.temperature})"
        )
