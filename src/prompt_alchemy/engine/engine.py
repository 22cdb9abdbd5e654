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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from prompt_alchemy.config import Settings
from prompt_alchemy.embeddings.base import Embedder
from prompt_alchemy.engine.phases import build_messages, clean_output
from prompt_alchemy.engine.targets import (
    FAMILY_INSTRUCTIONS,
    render_for_target,
    target_family,
)
from prompt_alchemy.errors import CostLimitError, GenerationError, ProviderError
from prompt_alchemy.logging_setup import get_logger
from prompt_alchemy.models import (
    GenerationResult,
    MetricRecord,
    Persona,
    Phase,
    Prompt,
    PromptRequest,
    new_id,
)
from prompt_alchemy.providers.base import GenerationRequest, GenerationResponse
from prompt_alchemy.providers.registry import ProviderRegistry
from prompt_alchemy.ranking.ranker import Ranker, feature_contexts, prompt_meta

if TYPE_CHECKING:
    from prompt_alchemy.engine.structured import SpecRun
    from prompt_alchemy.providers.local import LocalProvider

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

    async def run(
        self,
        request: PromptRequest,
        persona: Persona,
        progress: ProgressCallback | None = None,
        session_id: str | None = None,
        *,
        on_token: TokenCallback | None = None,
    ) -> GenerationResult:
        """`session_id` may be chosen by the caller (batch runs pre-assign it so that --resume can tell whether an
        interrupted item was saved); a new one is made otherwise. `on_token` streams the final phase: it receives
        a :class:`TokenEvent` per delta of each variant's final text (variants run concurrently, so their events
        interleave); without it no call streams."""
        run = GenerationRun(self, request, persona, session_id or new_id(), progress, on_token)
        chain = run.structured_chain if self.uses_structured_path(run.chains) else run.freeform_chain
        try:
            chains_out = await self._run_variants(chain, request.count)
        except BaseException:
            if run.idea_vector is not None:
                run.idea_vector.cancel()
            raise
        prompts = sorted(  # every prompt the engine makes has its phase and variant
            (p for chain in chains_out for p in chain),
            key=lambda p: (request.phases.index(cast(Phase, p.phase)), p.variant),
        )
        result = GenerationResult(
            session_id=run.session_id,
            idea=request.idea,
            phases=request.phases,
            persona=persona.name,
            target_model=request.target_model,
            prompts=prompts,
            saved=False,
            events=run.events,
            metrics=run.metrics,
        )
        if run.embed_reason is not None:
            result.events.append(f"final prompts not embedded: {run.embed_reason}")
            log.info("final prompts not embedded: %s", run.embed_reason)  # the result's note says it
        idea_vector = (await run.idea_vector)[0] if run.idea_vector is not None else None
        await self._rank(result, idea_vector, judge=request.judge)
        result.wall_ms = (time.perf_counter() - run.started) * 1000.0
        result.model_ms = sum(p.latency_ms for p in prompts)
        return result

    def estimate_cost(self, request: PromptRequest, persona: Persona) -> float:
        """An upper bound on a run's cost in USD: every call priced at its phase's first provider with max_tokens
        of output (input counted at about 4 characters per token, each draft at the previous max_tokens)."""
        total, previous_output = 0.0, 0
        for index, phase in enumerate(request.phases):
            name = self.registry.chain(phase, request.provider)[0]
            _, max_tokens = self.phase_params(phase, request, persona)
            messages = build_messages(
                phase,
                idea=request.idea,
                draft="" if index else None,
                persona=persona,
                variant=0,
                context=request.context,
            )
            input_tokens = sum(len(m.content) for m in messages) // 4 + previous_output
            total += self.registry.estimate_cost(name, self.registry.model_for(phase, name), input_tokens, max_tokens)
            previous_output = max_tokens
        return total * request.count

    def uses_structured_path(self, chains: dict[Phase, list[str]]) -> bool:
        """`generation.mode`: structured or freeform as set; under auto, structured when every phase is served by a
        small local model (the bundled one, or a GGUF marked `providers.local.small`)."""
        mode = self.settings.generation.mode
        if mode != "auto":
            return mode == "structured"
        return bool(chains) and all(
            chain[0] == "local" and cast("LocalProvider", self.registry.get("local")).is_small()
            for chain in chains.values()
        )

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
            [p.content for p in finals],
            idea=result.idea,
            vectors=[p.embedding for p in finals] if embedded else None,
            idea_vector=idea_vector if embedded else None,
            metas=[prompt_meta(p) for p in finals],
        )
        if embedded and idea_vector is not None and self.embedder is not None:
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

                verdict = JudgeScore(
                    scored=False,
                    provider=judge.provider_name,
                    model=judge.model,
                    error=f"unscored: the judge call failed ({exc})",
                )
            if not verdict.scored:
                result.events.append(f"judge could not score variant {(prompt.variant or 0) + 1}: {verdict.error}")
            verdicts.append(verdict)
        for metric in judge.metrics:
            metric.session_id = result.session_id
        result.metrics.extend(judge.metrics)
        return verdicts


class GenerationRun:
    """One generation run's shared state: its request, the provider chains, the metrics and events gathered from
    every variant, and the progress count. Each variant's chain of phases is one call of `freeform_chain` (the
    phase templates) or `structured_chain` (the small-model path); the variants run concurrently."""

    def __init__(
        self,
        engine: Engine,
        request: PromptRequest,
        persona: Persona,
        session_id: str,
        progress: ProgressCallback | None,
        on_token: TokenCallback | None,
    ) -> None:
        self.engine = engine
        self.request = request
        self.persona = persona
        self.session_id = session_id
        self.progress = progress
        self.on_token = on_token
        self.chains = {phase: engine.registry.chain(phase, request.provider) for phase in request.phases}
        self.family = target_family(request.target_model)
        self.total_calls = len(request.phases) * request.count
        self.done = 0
        self.metrics: list[MetricRecord] = []
        self.events: list[str] = []
        self.started = time.perf_counter()
        self.specs: dict[tuple[str, ...], tuple[asyncio.Future[SpecRun], int]] = {}
        self.guidance: asyncio.Future[str] | None = None
        embedder = engine.embedder
        self.embed_reason = embedder.unavailable_reason() if embedder else "no embedder configured"
        # The idea is embedded while the phases run, and each final prompt as soon as its chain ends, so
        # embedding stays off the critical path.
        self.idea_vector = (
            asyncio.ensure_future(embedder.embed([request.idea]))
            if embedder is not None and self.embed_reason is None
            else None
        )

    def make_prompt(
        self,
        phase: Phase,
        variant: int,
        text: str,
        resp: GenerationResponse,
        temperature: float,
        max_tokens: int,
        parent: Prompt | None,
        method: str | None = None,
        notes: str | None = None,
    ) -> Prompt:
        request = self.request
        return Prompt(
            content=text,
            title=request.idea.splitlines()[0][:80],
            phase=phase,
            variant=variant,
            provider=resp.provider,
            model=resp.model,
            temperature=temperature,
            max_tokens=max_tokens,
            input_tokens=resp.input_tokens,
            output_tokens=resp.output_tokens,
            cost_usd=resp.cost_usd,
            latency_ms=round(resp.latency_ms, 2),
            tags=list(request.tags),
            parent_id=parent.id if parent else None,
            session_id=self.session_id,
            source_type="generated",
            enhancement_method=method,
            notes=notes,
            original_input=request.idea,
            generation_request=request.model_dump(mode="json", exclude={"context"}),
            generation_context=[{"source": c.source, "type": c.context_type} for c in request.context] or None,
            persona_used=self.persona.name,
            target_model=request.target_model,
            target_model_family=self.family,
        )

    async def finish(self, prompt: Prompt) -> None:
        """Embed a final prompt as soon as its chain ends."""
        if self.embed_reason is None and self.engine.embedder is not None:
            prompt.set_embedding((await self.engine.embedder.embed([prompt.content]))[0], self.engine.embedder)

    def record(self, prompt: Prompt, resp: GenerationResponse, call_metrics: Sequence[MetricRecord] = ()) -> None:
        """The metrics of a phase's calls and of the prompt it made, all under this session."""
        for m in call_metrics:
            m.session_id = self.session_id
        self.metrics.extend(call_metrics)
        self.metrics.append(
            MetricRecord(
                kind="generation",
                prompt_id=prompt.id,
                session_id=self.session_id,
                phase=prompt.phase.value if prompt.phase else None,
                provider=resp.provider,
                model=resp.model,
                input_tokens=resp.input_tokens,
                output_tokens=resp.output_tokens,
                latency_ms=resp.latency_ms,
                cost_usd=resp.cost_usd,
            )
        )

    def step_done(self, phase: Phase, variant: int) -> None:
        self.done += 1
        if self.progress:
            self.progress(ProgressEvent(phase=phase, variant=variant, done=self.done, total=self.total_calls))

    async def shared_spec(self, chains: dict[Phase, list[str]], variant: int = 0) -> tuple[SpecRun, int]:
        """The idea's spec on the small-model path, made once per run (per provider chain) and shared by every
        variant: the pattern, the details and the model's task. Returns it and the variant that made it (whose
        prima-materia carries the calls' tokens and cost)."""
        from prompt_alchemy.engine.structured import SpecExtractor

        key = tuple(chains[self.request.phases[0]])
        if key not in self.specs:
            self.specs[key] = (asyncio.ensure_future(self._make_spec(chains, SpecExtractor)), variant)
        future, owner = self.specs[key]
        return await asyncio.shield(future), owner

    async def _make_spec(self, chains: dict[Phase, list[str]], extractor_type) -> SpecRun:
        request, engine = self.request, self.engine
        first = request.phases[0]
        temperature, _max_tokens = engine.phase_params(first, request, self.persona)
        vector = (await asyncio.shield(self.idea_vector))[0] if self.idea_vector is not None else None
        run = await extractor_type(engine.registry, engine.embedder).extract(
            phase=first,
            chain=chains[first],
            idea=request.idea,
            idea_vector=vector,
            variant=0,
            temperature=min(temperature, 0.3),
            persona_guidance=self.persona.guidance,
            context=request.context,
        )
        for outcome in run.outcomes:
            for m in outcome.metrics:
                m.session_id = self.session_id
            self.metrics.extend(outcome.metrics)
            self.events.extend(outcome.events)
        return run

    async def structured_chain(
        self, variant: int, chains: dict[Phase, list[str]] | None = None, counted: int = 0
    ) -> list[Prompt]:
        """The small-model path: the model fills the spec once (prima-materia); every phase's text is rendered
        from it, the final one assembled for the strategy and the target. `chains` replaces the run's (a variant
        moved to the local model); the first `counted` phases' progress was reported already."""
        from prompt_alchemy.engine.structured import assemble, render_prose, strategy_name

        request, engine = self.request, self.engine
        chains = chains or self.chains
        first = request.phases[0]
        run, owner = await self.shared_spec(chains, variant)
        spec = run.spec
        provider = chains[first][0]
        # the spec's model calls are made once per idea: the first variant to ask carries their tokens and cost
        answered = (
            run.response(provider, engine.registry.model_for(first, provider))
            if owner == variant
            else GenerationResponse(text="", provider=provider, model=engine.registry.model_for(first, provider))
        )
        prompts: list[Prompt] = []
        for index, phase in enumerate(request.phases):
            final = index == len(request.phases) - 1
            temperature, max_tokens = engine.phase_params(phase, request, self.persona)
            if phase is Phase.PRIMA_MATERIA:
                text = spec.render()
            elif phase is Phase.SOLUTIO and not final:
                text = render_prose(spec)
            else:
                text = assemble(spec, variant, self.family)
            if final and self.on_token is not None:
                self.on_token(TokenEvent(phase=phase, variant=variant, delta=text, assembled=True))
            resp = (
                answered
                if index == 0
                else GenerationResponse(text="", provider=answered.provider, model=answered.model)
            )
            notes = "; ".join(run.notes) if index == 0 and run.notes and owner == variant else None
            prompt = self.make_prompt(
                phase,
                variant,
                text,
                resp,
                temperature,
                max_tokens,
                prompts[-1] if prompts else None,
                method=f"structured:{strategy_name(variant)}",
                notes=notes,
            )
            if final:
                await self.finish(prompt)
            prompts.append(prompt)
            self.record(prompt, resp)
            if index >= counted:
                self.step_done(phase, variant)
        return prompts

    async def _pattern_guidance(self) -> str:
        """The chosen pattern's skeleton and the idea's details, once per run, for models that write the prompt
        themselves (the same patterns as the small-model path)."""
        from prompt_alchemy.engine.details import extract_details
        from prompt_alchemy.engine.patterns import choose_pattern, pattern_guidance

        vector = (await asyncio.shield(self.idea_vector))[0] if self.idea_vector is not None else None
        embedder = self.engine.embedder if self.embed_reason is None else None
        choice = await choose_pattern(self.request.idea, embedder, vector)
        return pattern_guidance(choice, extract_details(self.request.idea, self.request.context))

    async def freeform_chain(self, variant: int) -> list[Prompt]:
        """The phase templates: each phase's model call works on the draft of the phase before."""
        request, engine = self.request, self.engine
        prompts: list[Prompt] = []
        draft: str | None = None
        if self.guidance is None:
            self.guidance = asyncio.ensure_future(self._pattern_guidance())
        guidance = await asyncio.shield(self.guidance)
        for index, phase in enumerate(request.phases):
            final = index == len(request.phases) - 1
            temperature, max_tokens = engine.phase_params(phase, request, self.persona)
            messages = build_messages(
                phase,
                idea=request.idea,
                draft=draft,
                persona=self.persona,
                variant=variant,
                context=request.context,
                target_instructions=FAMILY_INSTRUCTIONS.get(self.family or "", "") if final else "",
                guidance=guidance,
            )
            call = GenerationRequest(
                messages=messages,
                temperature=temperature,
                max_tokens=max_tokens,
                metadata={"phase": phase.value, "variant": variant},
            )
            streaming = final and self.on_token is not None
            on_delta = _token_relay(self.on_token, phase, variant) if streaming else None  # type: ignore[arg-type]
            try:
                outcome = await engine.registry.generate(phase, self.chains[phase], call, on_delta=on_delta)
                text = clean_output(outcome.response.text)
                if not text:
                    raise ProviderError(outcome.response.provider, "returned an empty prompt")
            except ProviderError as exc:
                raise GenerationError(phase.value, exc.provider, exc) from exc
            if final:
                text = render_for_target(text, self.family)
            resp = outcome.response
            if self._small_fallback(phase, resp.provider):
                return await self._restart_structured(variant, phase, prompts, outcome.metrics, outcome.events)
            prompt = self.make_prompt(
                phase, variant, text, resp, temperature, max_tokens, prompts[-1] if prompts else None
            )
            if final:
                await self.finish(prompt)
            prompts.append(prompt)
            self.record(prompt, resp, outcome.metrics)
            self.events.extend(outcome.events)
            draft = text
            self.step_done(phase, variant)
        return prompts

    def _small_fallback(self, phase: Phase, provider: str) -> bool:
        """Whether a phase's call failed over from another provider to the small local model, which cannot
        follow the phase templates (under `generation.mode: auto`)."""
        engine = self.engine
        return (
            provider == "local"
            and self.chains[phase][0] != "local"
            and engine.settings.generation.mode == "auto"
            and cast("LocalProvider", engine.registry.get("local")).is_small()
        )

    async def _restart_structured(
        self, variant: int, phase: Phase, made: list[Prompt], call_metrics: list, call_events: list[str]
    ) -> list[Prompt]:
        """Make the variant again on the small-model path, every phase on the local model: its earlier drafts
        are dropped (their calls' metrics and costs are kept), and progress goes on from where it was."""
        dropped = {p.id for p in made}
        self.metrics[:] = [m for m in self.metrics if m.prompt_id not in dropped]
        for m in call_metrics:
            m.session_id = self.session_id
        self.metrics.extend(call_metrics)
        self.events.extend(call_events)
        self.events.append(
            f"variant {variant + 1}: {phase.value} failed over to the small local model, which "
            f"cannot follow the phase templates; the variant was made on the small-model path"
        )
        local = {p: ["local"] for p in self.request.phases}
        return await self.structured_chain(variant, chains=local, counted=len(made))


def _token_relay(on_token: TokenCallback, phase: Phase, variant: int) -> Callable[[str], None]:
    """The registry's delta callback for one variant's final call, as TokenEvents."""
    return lambda delta: on_token(TokenEvent(phase=phase, variant=variant, delta=delta))
