"""The generation engine: chains the phases per variant, runs variants concurrently, embeds and ranks finals.

Variant i of phase k+1 is made from variant i of phase k. Nothing is persisted here: the service layer saves a
finished run in one transaction, so a failure leaves nothing behind.

A caller follows a run through two callbacks, both called on the event loop's thread, in the order things happen:
`progress` gets a :class:`ProgressEvent` after each phase call, and `on_token` (optional; passing it is what makes
the final phase stream) gets a :class:`TokenEvent` for each piece of the final phase's text as it arrives.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from prompt_alchemy.config import Settings
from prompt_alchemy.embeddings.base import Embedder
from prompt_alchemy.engine.phases import build_messages, clean_output
from prompt_alchemy.engine.targets import (
    FAMILY_INSTRUCTIONS,
    render_for_target,
    target_family,
)
from prompt_alchemy.errors import CostLimitError, GenerationError, ProviderError
from prompt_alchemy.models import (
    GenerationResult,
    MetricRecord,
    Persona,
    Phase,
    Prompt,
    PromptRequest,
    new_id,
)
from prompt_alchemy.observability import get_logger
from prompt_alchemy.providers.base import GenerationRequest, GenerationResponse
from prompt_alchemy.providers.registry import ProviderRegistry
from prompt_alchemy.ranking.ranker import Ranker, feature_contexts, prompt_meta

log = get_logger("engine")


@dataclass(frozen=True)
class ProgressEvent:
    phase: Phase
    variant: int
    done: int
    total: int


ProgressCallback = Callable[[ProgressEvent], None]


@dataclass(frozen=True)
class TokenEvent:
    """A piece of one variant's final-phase text, in arrival order; a variant's deltas joined are the text the
    model wrote for it. Only the last phase of the request streams.

    On the freeform path the deltas are the model's raw output as the provider streams it (a cached answer comes
    as one delta). The saved final prompt is that text after clean-up (a lead-in such as "Here is the prompt:" or
    a code fence removed) and in the target model's form, so read the finished prompt from the result, not from
    the deltas. A call that fails before its first delta is retried or failed over unseen; one that fails after
    it ends the run with the error (drop the partial text then).

    On the structured small-model path the final text is assembled by rules from the extracted spec, not
    generated token by token, so each variant's finished final text arrives as one event (`assembled` true) as
    soon as that variant's chain has it; it is exactly the saved final prompt.
    """

    phase: Phase
    variant: int
    delta: str
    assembled: bool = False


TokenCallback = Callable[[TokenEvent], None]


class Engine:
    def __init__(self, settings: Settings, registry: ProviderRegistry, embedder: Embedder | None) -> None:
        self.settings = settings
        self.registry = registry
        self.embedder = embedder
        self.ranker = Ranker.from_settings(settings)  # the learning loop may set `ranker.learned`

    def phase_params(self, phase: Phase, request: PromptRequest, persona: Persona) -> tuple[float, int]:
        """Temperature: flag > persona > phase config. Max tokens: flag > phase config."""
        cfg = self.settings.phases.get(phase)
        temperature = request.temperature
        if temperature is None:
            temperature = persona.temperatures.get(phase.value, cfg.temperature)
        return temperature, request.max_tokens or cfg.max_tokens

    async def run(self, request: PromptRequest, persona: Persona, progress: ProgressCallback | None = None,
                  session_id: str | None = None, *, on_token: TokenCallback | None = None) -> GenerationResult:
        """`session_id` may be chosen by the caller (batch runs pre-assign it so that --resume can tell whether an
        interrupted item was saved); a new one is made otherwise. `on_token` streams the final phase: it receives
        a :class:`TokenEvent` per delta of each variant's final text (variants run concurrently, so their events
        interleave); without it no call streams."""
        chains = {phase: self.registry.chain(phase, request.provider) for phase in request.phases}
        session_id = session_id or new_id()
        family = target_family(request.target_model)
        total_calls = len(request.phases) * request.count
        done = 0
        metrics: list[MetricRecord] = []
        events: list[str] = []
        started = time.perf_counter()
        embed_reason = self.embedder.unavailable_reason() if self.embedder else "no embedder configured"
        # The idea is embedded while the phases run, and each final prompt as soon as its chain ends, so
        # embedding stays off the critical path.
        idea_vector = asyncio.ensure_future(self.embedder.embed([request.idea])) if embed_reason is None else None

        structured = self.uses_structured_path(chains)

        def make_prompt(phase: Phase, variant: int, text: str, resp: GenerationResponse, temperature: float,
                        max_tokens: int, parent: Prompt | None, method: str | None = None,
                        notes: str | None = None) -> Prompt:
            return Prompt(
                content=text, title=request.idea.splitlines()[0][:80], phase=phase, variant=variant,
                provider=resp.provider, model=resp.model, temperature=temperature, max_tokens=max_tokens,
                input_tokens=resp.input_tokens, output_tokens=resp.output_tokens, cost_usd=resp.cost_usd,
                latency_ms=round(resp.latency_ms, 2), tags=list(request.tags),
                parent_id=parent.id if parent else None, session_id=session_id,
                source_type="generated", enhancement_method=method, notes=notes, original_input=request.idea,
                generation_request=request.model_dump(mode="json", exclude={"context"}),
                generation_context=[{"source": c.source, "type": c.context_type} for c in request.context]
                or None,
                persona_used=persona.name, target_model=request.target_model, target_model_family=family)

        async def finish(prompt: Prompt) -> None:
            """Embed a final prompt as soon as its chain ends."""
            if embed_reason is None:
                prompt.set_embedding((await self.embedder.embed([prompt.content]))[0], self.embedder)

        def step_done(phase: Phase, variant: int) -> None:
            nonlocal done
            done += 1
            if progress:
                progress(ProgressEvent(phase=phase, variant=variant, done=done, total=total_calls))

        async def run_structured_chain(variant: int) -> list[Prompt]:
            from prompt_alchemy.engine.structured import (
                SpecExtractor,
                assemble,
                render_prose,
                strategy_name,
            )

            first = request.phases[0]
            temperature, max_tokens = self.phase_params(first, request, persona)
            vector = (await asyncio.shield(idea_vector))[0] if idea_vector is not None else None
            run = await SpecExtractor(self.registry, self.embedder).extract(
                phase=first, chain=chains[first], idea=request.idea, idea_vector=vector, variant=variant,
                temperature=min(temperature, 0.3) if variant == 0 else min(temperature, 0.6),
                persona_guidance=persona.guidance, context=request.context)
            for outcome in run.outcomes:
                for m in outcome.metrics:
                    m.session_id = session_id
                metrics.extend(outcome.metrics)
                events.extend(outcome.events)
            spec = run.spec
            provider = chains[first][0]
            model = self.registry.model_for(first, provider)
            prompts: list[Prompt] = []
            for index, phase in enumerate(request.phases):
                final = index == len(request.phases) - 1
                temperature, max_tokens = self.phase_params(phase, request, persona)
                if phase is Phase.PRIMA_MATERIA:
                    text = spec.render()
                elif phase is Phase.SOLUTIO and not final:
                    text = render_prose(spec)
                else:
                    text = assemble(spec, variant, family)
                if final and on_token is not None:
                    on_token(TokenEvent(phase=phase, variant=variant, delta=text, assembled=True))
                resp = run.response(provider, model) if index == 0 else GenerationResponse(
                    text="", provider=run.response(provider, model).provider,
                    model=run.response(provider, model).model)
                notes = "; ".join(run.notes) if index == 0 and run.notes else None
                prompt = make_prompt(phase, variant, text, resp, temperature, max_tokens,
                                     prompts[-1] if prompts else None,
                                     method=f"structured:{strategy_name(variant)}", notes=notes)
                if final:
                    await finish(prompt)
                prompts.append(prompt)
                metrics.append(MetricRecord(
                    kind="generation", prompt_id=prompt.id, session_id=session_id, phase=phase.value,
                    provider=resp.provider, model=resp.model, input_tokens=resp.input_tokens,
                    output_tokens=resp.output_tokens, latency_ms=resp.latency_ms, cost_usd=resp.cost_usd))
                step_done(phase, variant)
            return prompts

        async def run_chain(variant: int) -> list[Prompt]:
            if structured:
                return await run_structured_chain(variant)
            prompts: list[Prompt] = []
            draft: str | None = None
            for index, phase in enumerate(request.phases):
                final = index == len(request.phases) - 1
                temperature, max_tokens = self.phase_params(phase, request, persona)
                messages = build_messages(
                    phase, idea=request.idea, draft=draft, persona=persona, variant=variant,
                    context=request.context,
                    target_instructions=FAMILY_INSTRUCTIONS.get(family or "", "") if final else "")
                call = GenerationRequest(messages=messages, temperature=temperature, max_tokens=max_tokens,
                                         metadata={"phase": phase.value, "variant": variant})
                on_delta = _token_relay(on_token, phase, variant) if final and on_token is not None else None
                try:
                    outcome = await self.registry.generate(phase, chains[phase], call, on_delta=on_delta)
                    text = clean_output(outcome.response.text)
                    if not text:
                        raise ProviderError(outcome.response.provider, "returned an empty prompt")
                except ProviderError as exc:
                    raise GenerationError(phase.value, exc.provider, exc) from exc
                if final:
                    text = render_for_target(text, family)
                resp = outcome.response
                prompt = make_prompt(phase, variant, text, resp, temperature, max_tokens,
                                     prompts[-1] if prompts else None)
                if final:
                    await finish(prompt)
                prompts.append(prompt)
                for m in outcome.metrics:
                    m.session_id = session_id
                metrics.extend(outcome.metrics)
                metrics.append(MetricRecord(
                    kind="generation", prompt_id=prompt.id, session_id=session_id, phase=phase.value,
                    provider=resp.provider, model=resp.model, input_tokens=resp.input_tokens,
                    output_tokens=resp.output_tokens, latency_ms=resp.latency_ms, cost_usd=resp.cost_usd))
                events.extend(outcome.events)
                draft = text
                step_done(phase, variant)
            return prompts

        try:
            chains_out = await self._run_variants(run_chain, request.count)
        except BaseException:
            if idea_vector is not None:
                idea_vector.cancel()
            raise
        prompts = sorted((p for chain in chains_out for p in chain),
                         key=lambda p: (request.phases.index(p.phase), p.variant))
        result = GenerationResult(
            session_id=session_id, idea=request.idea, phases=request.phases, persona=persona.name,
            target_model=request.target_model, prompts=prompts, saved=False, events=events, metrics=metrics)
        if embed_reason is not None:
            result.events.append(f"final prompts not embedded: {embed_reason}")
            log.warning("final prompts not embedded: %s", embed_reason)
        await self._rank(result, (await idea_vector)[0] if idea_vector is not None else None, judge=request.judge)
        result.wall_ms = (time.perf_counter() - started) * 1000.0
        result.model_ms = sum(p.latency_ms for p in prompts)
        return result

    def estimate_cost(self, request: PromptRequest, persona: Persona) -> float:
        """An upper bound on a run's cost in USD: every call priced at its phase's first provider with max_tokens
        of output (input counted at about 4 characters per token, each draft at the previous max_tokens)."""
        total, previous_output = 0.0, 0
        for index, phase in enumerate(request.phases):
            name = self.registry.chain(phase, request.provider)[0]
            _, max_tokens = self.phase_params(phase, request, persona)
            messages = build_messages(phase, idea=request.idea, draft="" if index else None, persona=persona,
                                      variant=0, context=request.context)
            input_tokens = sum(len(m.content) for m in messages) // 4 + previous_output
            total += self.registry.estimate_cost(name, self.registry.model_for(phase, name), input_tokens,
                                                 max_tokens)
            previous_output = max_tokens
        return total * request.count

    def uses_structured_path(self, chains: dict[Phase, list[str]]) -> bool:
        """`generation.mode`: structured or freeform as set; under auto, structured when every phase is served by a
        small local model (the bundled one, or a GGUF marked `providers.local.small`)."""
        mode = self.settings.generation.mode
        if mode != "auto":
            return mode == "structured"
        return bool(chains) and all(chain[0] == "local" and self.registry.get("local").is_small()
                                    for chain in chains.values())

    async def _run_variants(self, run_chain, count: int) -> list[list[Prompt]]:
        if not self.settings.generation.use_parallel or count == 1:
            return [await run_chain(i) for i in range(count)]
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(run_chain(i)) for i in range(count)]
        except BaseExceptionGroup as eg:
            first = eg.exceptions[0]
            while isinstance(first, BaseExceptionGroup):
                first = first.exceptions[0]
            raise first from None
        return [t.result() for t in tasks]

    async def _rank(self, result: GenerationResult, idea_vector, judge: bool = False) -> None:
        """Score the final prompts with the ranker (rubric, intent, distinctness from sibling variants, and the
        judge's rubric score with `judge`) and pick the best."""
        finals = result.final_prompts()
        embedded = bool(finals) and all(p.embedding is not None for p in finals)
        contexts = feature_contexts(
            [p.content for p in finals], idea=result.idea,
            vectors=[p.embedding for p in finals] if embedded else None,
            idea_vector=idea_vector if embedded else None,
            metas=[prompt_meta(p) for p in finals])
        if embedded and idea_vector is not None:
            from prompt_alchemy.ranking.drift import with_drift

            contexts = await with_drift(self.embedder, contexts, [p.content for p in finals], idea_vector)
        verdicts = await self._judge(result, finals) if judge and finals else [None] * len(finals)
        for prompt, ctx, verdict in zip(finals, contexts, verdicts):
            score = self.ranker.score(prompt.content, ctx, verdict)
            prompt.score = score.total
            result.scores[prompt.id] = score
        if finals:
            best = max(finals, key=lambda p: (*result.scores[p.id].rank_key, -(p.variant or 0)))
            result.best_id = best.id

    async def _judge(self, result: GenerationResult, finals: list[Prompt]) -> list:
        """The judge's rubric score for each final prompt, from a provider other than the generator's when one is
        available. A failed or unparseable judgment leaves that prompt unscored by the judge (noted)."""
        from prompt_alchemy.ranking.judge import Judge

        judge = Judge(self.settings, self.registry, avoid={p.provider for p in finals})
        verdicts = []
        for prompt in finals:
            try:
                verdict = await judge.score(prompt.content, idea=result.idea)
            except (ProviderError, CostLimitError) as exc:
                from prompt_alchemy.ranking.judge import JudgeScore

                verdict = JudgeScore(scored=False, provider=judge.provider_name, model=judge.model,
                                     error=f"unscored: the judge call failed ({exc})")
            if not verdict.scored:
                result.events.append(f"judge could not score variant {(prompt.variant or 0) + 1}: {verdict.error}")
            verdicts.append(verdict)
        for metric in judge.metrics:
            metric.session_id = result.session_id
        result.metrics.extend(judge.metrics)
        return verdicts


def _token_relay(on_token: TokenCallback, phase: Phase, variant: int) -> Callable[[str], None]:
    """The registry's delta callback for one variant's final call, as TokenEvents."""
    return lambda delta: on_token(TokenEvent(phase=phase, variant=variant, delta=delta))
