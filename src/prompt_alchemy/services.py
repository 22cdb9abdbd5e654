"""The one application facade that the CLI, the MCP server and the HTTP API all call.

Every request is validated here before any provider call or database write; heavy components (the store, the
provider registry, the embedder) are created lazily, once, and reused.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from prompt_alchemy.config import LoadedSettings, load_settings, validate_config
from prompt_alchemy.engine.batch import BatchProgress  # batch (issue 7)
from prompt_alchemy.engine.engine import Engine, ProgressCallback
from prompt_alchemy.engine.personas import resolve_persona
from prompt_alchemy.errors import InputError, NotFoundError
from prompt_alchemy.models import ContextItem, GenerationResult, Prompt, PromptRequest
from prompt_alchemy.models import BatchItem, BatchItemResult, BatchOptions, BatchReport  # batch (issue 7)
from prompt_alchemy.security import (MAX_BATCH_BYTES, MAX_CONTEXT_BYTES, check_length, check_output_path,
                                      mask_secrets, read_text_file, register_secret)
# library (issue 4)
from collections.abc import Callable
from datetime import datetime
from typing import IO

from prompt_alchemy.errors import AlchemyError
from prompt_alchemy.models import ImportReport, SearchFilters, SearchResult
from prompt_alchemy.observability import get_logger

_log = get_logger("services")
_SEARCH_MODES = ("hybrid", "semantic", "text")
_RRF_K = 60  # reciprocal rank fusion constant (Cormack et al.)
_RRF_POOL = 50  # candidates taken from each list before fusion
_MAX_LIMIT = 1000
_MAX_OFFSET = 10**12  # far past any library; SQLite's integers end at 2**63
_MIN_PREFIX = 4  # shortest id prefix accepted, like git
_MAX_CANDIDATES = 5  # candidates named when a prefix is ambiguous
_MAX_DEPTH = 1000
_IMPORT_BATCH = 256  # rows per import/re-embed transaction
_EMBED_BATCH = 64  # texts per embedder call
_MAX_COMMENT = 5000  # learning (issue 6): characters in a feedback comment
_MAX_EXAMPLE_CHARS = 4000  # learning (issue 6): characters of one include_context example


class AlchemyService:
    def __init__(self, loaded: LoadedSettings) -> None:
        self.loaded = loaded
        self.settings = loaded.settings
        for name in ("openai", "anthropic", "google", "openrouter", "ollama"):
            key = self.settings.providers.get(name).api_key
            if key is not None:
                register_secret(key.get_secret_value())

    @classmethod
    def from_environment(cls, config_file: str | Path | None = None, overrides: Mapping[str, Any] | None = None,
                         env: Mapping[str, str] | None = None) -> AlchemyService:
        return cls(load_settings(config_file=config_file, overrides=overrides, env=env))

    # ------------------------------------------------------------------ components (lazy, shared)

    @cached_property
    def store(self):
        from prompt_alchemy.storage.sqlite import SQLiteStore

        return SQLiteStore(self.loaded.database_path)

    @cached_property
    def registry(self):
        from prompt_alchemy.providers.registry import ProviderRegistry

        return ProviderRegistry(self.settings, cache_factory=lambda: self.response_cache)

    @cached_property
    def response_cache(self):
        """Provider responses and embeddings cached in the store (gateway.cache_ttl_seconds)."""
        from prompt_alchemy.providers.cache import ResponseCache

        return ResponseCache(self.store, self.settings.gateway.cache_ttl_seconds)

    @cached_property
    def embedder(self):
        from prompt_alchemy.embeddings import make_embedder

        return make_embedder(self.settings, self.registry)

    @cached_property
    def engine(self) -> Engine:
        engine = Engine(self.settings, self.registry, self.embedder)
        engine.ranker.learned = self._active_learned_model()  # learning (issue 6): the adopted model, if any
        return engine

    async def aclose(self) -> None:
        if "registry" in self.__dict__:
            await self.registry.aclose()
        if "store" in self.__dict__:
            self.store.close()

    # ------------------------------------------------------------------ generation

    def build_request(self, idea: str, *, phases: Any = None, count: int | None = None, persona: str | None = None,
                      target_model: str | None = None, provider: str | None = None,
                      temperature: float | None = None, max_tokens: int | None = None,
                      tags: list[str] | None = None, context_files: list[str | Path] | None = None,
                      save: bool = True, use_cache: bool = True, max_cost: float | None = None,
                      judge: bool = False) -> PromptRequest:
        """Validate everything a generation needs; raises InputError (exit 2) and touches nothing."""
        from pydantic import ValidationError

        gen = self.settings.generation
        check_length("the idea", idea, gen.max_idea_length)
        context = [self._read_context(path) for path in context_files or []]
        if sum(len(c.content) for c in context) > gen.max_context_chars:
            raise InputError(f"--context files total more than {gen.max_context_chars:,} characters "
                             f"(raise generation.max_context_chars to allow more)")
        data: dict[str, Any] = {
            "idea": idea, "count": gen.default_count if count is None else count,
            "persona": persona or gen.default_persona, "target_model": target_model or gen.default_target_model,
            "provider": provider, "temperature": temperature, "max_tokens": max_tokens, "tags": tags or [],
            "context": context, "save": save, "use_cache": use_cache, "max_cost": max_cost, "judge": judge}
        if phases is not None:
            data["phases"] = phases
        try:
            request = PromptRequest(**data)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "request"
            msg = err["msg"].removeprefix("Value error, ")
            raise InputError(f"invalid {field}: {msg}") from None
        resolve_persona(request.persona, self.settings)
        if request.provider:
            self.registry.check_name(request.provider)
        if request.judge:  # ranking (issue 5): fail before any call when no judge can run
            from prompt_alchemy.ranking.judge import judge_chain

            judge_chain(self.registry, self.settings)
        return request

    @staticmethod
    def _read_context(path: str | Path) -> ContextItem:
        text = read_text_file(path, "--context file", limit=MAX_CONTEXT_BYTES)
        return ContextItem(source=str(Path(path).expanduser()), content=text, context_type="file")

    async def generate(self, request: PromptRequest, progress: ProgressCallback | None = None, *,
                       session_id: str | None = None) -> GenerationResult:
        """Run the phases and, unless `save` is off, store the whole session in one transaction."""
        if request.save:
            self._check_writable()
        persona = resolve_persona(request.persona, self.settings)
        if request.max_cost is not None:  # providers (issue 3): refuse a run whose estimate exceeds the limit
            estimate = self.estimate_cost(request)
            if estimate > request.max_cost:
                from prompt_alchemy.errors import CostLimitError

                raise CostLimitError(f"the estimated cost ${estimate:.4f} exceeds --max-cost ${request.max_cost:g}; "
                                     f"lower --count or --max-tokens, choose a cheaper model, or raise the limit")
        examples = await self._rated_examples(request.idea) if self.settings.generation.include_context else []
        if examples:  # learning (issue 6): top-rated similar library prompts as examples for the phases
            request = request.model_copy(update={"context": [*request.context, *examples]})
        read_cache = request.use_cache and (request.save or self.loaded.database_path.exists())
        with self.registry.run_options(read_cache=read_cache, write_cache=request.save,
                                       max_cost=request.max_cost) as gateway:
            result = await self.engine.run(request, persona, progress, session_id=session_id)
        if examples:
            result.events.append(f"the phases were given {len(examples)} top-rated similar library prompt(s) as "
                                 f"examples (generation.include_context)")
        if gateway.cache_hits:
            total = gateway.cache_hits + gateway.calls
            result.events.append(f"{gateway.cache_hits} of {total} calls answered from the response cache "
                                 f"(--no-cache to call the providers)")
        result = mask_result_secrets(result)
        if request.save:
            roots = [p for p in result.prompts if p.parent_id is None]
            contexts = {p.id: request.context for p in roots} if request.context else None
            self.store.save_session(result.prompts, contexts, result.metrics)
            self._index_prompts(result.prompts)  # library (issue 4): keep loaded vector indexes current
            result.saved = True
        return result

    # ------------------------------------------------------------------ providers (issue 3)

    def estimate_cost(self, request: PromptRequest) -> float:
        """An upper bound on a run's cost in USD: every call priced at its phase's first provider with max_tokens
        of output (input counted at about 4 characters per token, each draft at the previous max_tokens)."""
        from prompt_alchemy.engine.phases import build_messages

        persona = resolve_persona(request.persona, self.settings)
        total, previous_output = 0.0, 0
        for index, phase in enumerate(request.phases):
            name = self.registry.chain(phase, request.provider)[0]
            _, max_tokens = self.engine.phase_params(phase, request, persona)
            messages = build_messages(phase, idea=request.idea, draft="" if index else None, persona=persona,
                                      variant=0, context=request.context)
            input_tokens = sum(len(m.content) for m in messages) // 4 + previous_output
            total += self.registry.estimate_cost(name, self.registry.model_for(phase, name), input_tokens,
                                                 max_tokens)
            previous_output = max_tokens
        return total * request.count

    async def providers_status(self, check: bool = False) -> list[dict[str, Any]]:
        """Every provider: configured/available, default and phase-assigned models, embedding support, price;
        with `check`, each configured provider is contacted (host reachable, key accepted)."""
        import asyncio

        from prompt_alchemy.config import PROVIDER_NAMES
        from prompt_alchemy.providers.registry import EXPLICIT_ONLY, IMPLEMENTATIONS

        rows = [self.registry.describe(n) for n in PROVIDER_NAMES if n in IMPLEMENTATIONS]
        rows = [r for r in rows if r["name"] not in EXPLICIT_ONLY or r["phases"] or r["embedder"]]
        if check:
            async def probe(row: dict[str, Any]) -> dict[str, Any] | None:
                return await self.registry.check(row["name"]) if row["configured"] else None

            for row, outcome in zip(rows, await asyncio.gather(*(probe(r) for r in rows))):
                row["check"] = outcome
        return rows

    # ------------------------------------------------------------------ library (issue 4)
    # Query logic lives in storage/ (sqlite.py, vectors.py, transfer.py); this block orchestrates it.

    def _vector_index(self, model: str, dimensions: int):
        """The in-memory index of (model, dimensions), loaded from the store on first use."""
        import threading

        from prompt_alchemy.storage.vectors import VectorIndex

        lock = self.__dict__.setdefault("_index_lock", threading.Lock())
        indexes = self.__dict__.setdefault("_indexes", {})
        versions = self.__dict__.setdefault("_index_versions", {})
        with lock:
            # Another process's commit (a CLI import, an update) changes data_version; this process's own writes
            # do not, and they update the loaded index directly (_index_prompts, _unindex).
            version = self.store.data_version()
            index = indexes.get((model, dimensions))
            if index is None or versions.get((model, dimensions)) != version:
                index = VectorIndex(model, dimensions)
                ids, matrix = self.store.load_embeddings(model, dimensions)
                index.load_matrix(ids, matrix)
                indexes[(model, dimensions)] = index
                versions[(model, dimensions)] = version
            return index

    def load_vector_index(self) -> dict[str, Any]:
        """Load (or reuse) the index for the configured embedder: its size, memory and load time."""
        import time

        start = time.perf_counter()
        index = self._vector_index(self.embedder.model, self.embedder.dimensions)
        return {"model": index.model, "dimensions": index.dimensions, "vectors": len(index),
                "bytes": index.nbytes, "load_ms": round((time.perf_counter() - start) * 1000, 2)}

    def _index_prompts(self, prompts: list[Prompt]) -> None:
        """Keep loaded vector indexes in step with prompts just written (unloaded ones read them on load)."""
        indexes = self.__dict__.get("_indexes") or {}
        for p in prompts:
            if p.embedding is not None and p.embedding_model:
                index = indexes.get((p.embedding_model, p.embedding_dim or len(p.embedding)))
                if index is not None:
                    index.add([p.id], [p.embedding])

    def _unindex(self, ids: list[str]) -> None:
        for index in (self.__dict__.get("_indexes") or {}).values():
            index.remove(ids)

    async def _embed_texts(self, texts: list[str]):
        """Unit vectors for `texts` with the configured embedder, in length-sorted batches (less padding)."""
        import numpy as np

        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.embedder.dimensions), dtype=np.float32)
        for start in range(0, len(order), _EMBED_BATCH):
            chunk = order[start:start + _EMBED_BATCH]
            out[chunk] = await self.embedder.embed([texts[i] for i in chunk])
        return out

    def _known_dimensions(self) -> dict[str, set[int]]:
        """The vector lengths a labelled embedding model may have on import: its native size, the configured size
        of the configured model, and the sizes this library already stores for it."""
        from prompt_alchemy.config import DEFAULT_EMBEDDING_MODELS

        known: dict[str, set[int]] = {}
        for model, dims in DEFAULT_EMBEDDING_MODELS.values():
            known.setdefault(model, set()).add(dims)
        gen = self.settings.generation
        known.setdefault(gen.embedding_model, set()).add(gen.embedding_dimensions)
        if self.loaded.database_path.exists():
            for row in self.store.embedding_counts():
                if row["model"] and row["dimensions"]:
                    known.setdefault(row["model"], set()).add(int(row["dimensions"]))
        return known

    def _check_writable(self) -> None:
        """Fail before any provider call or embedding when the library cannot be written (read-only, newer)."""
        from prompt_alchemy.storage.sqlite import StorageError

        if self.loaded.database_path.exists() and self.store.write_refusal:
            raise StorageError(self.store.write_refusal)

    def resolve_id(self, id_or_prefix: str) -> str:
        """The full id of the one prompt whose id is or starts with `id_or_prefix` (like git's short hashes)."""
        prefix = (id_or_prefix or "").strip()
        if not prefix:
            raise InputError("no prompt id given")
        rows = self.store.resolve_prefix(prefix, limit=_MAX_CANDIDATES + 1)
        if rows and rows[0]["id"] == prefix:
            return prefix
        if len(prefix) < _MIN_PREFIX:
            raise InputError(f"prompt id prefix '{prefix}' is too short; give at least {_MIN_PREFIX} characters")
        if not rows:
            raise NotFoundError(f"no prompt with id '{prefix}' (see 'prompt-alchemy list')")
        if len(rows) > 1:
            shown = "; ".join(f"{r['id']} ({r['phase'] or 'no phase'}: {(r['title'] or '')[:30]})"
                              for r in rows[:_MAX_CANDIDATES])
            more = " ..." if len(rows) > _MAX_CANDIDATES else ""
            raise NotFoundError(f"prompt id prefix '{prefix}' is ambiguous; candidates: {shown}{more}")
        return rows[0]["id"]

    def get_prompt(self, id_or_prefix: str) -> Prompt:
        prompt = self.store.get_prompt(self.resolve_id(id_or_prefix))
        if prompt is None:
            raise NotFoundError(f"no prompt with id '{id_or_prefix}'")
        return prompt

    def get_context(self, prompt_id: str) -> list[ContextItem]:
        return self.store.get_context(self.resolve_id(prompt_id))

    def lineage(self, prompt_id: str) -> dict[str, list[Prompt]]:
        """Ancestors (root first) and descendants (breadth first) of a prompt."""
        full = self.resolve_id(prompt_id)
        return {"ancestors": self.store.ancestors(full), "descendants": self.store.descendants(full)}

    def list_prompts(self, filters: SearchFilters | None = None, limit: int = 20, offset: int = 0) -> list[Prompt]:
        """The library, most recent first, `limit` at a time from `offset`."""
        if not 1 <= limit <= _MAX_LIMIT:
            raise InputError(f"limit must be between 1 and {_MAX_LIMIT}, got {limit}")
        if not 0 <= offset <= _MAX_OFFSET:
            raise InputError(f"offset must be between 0 and {_MAX_OFFSET:,}, got {offset}")
        return self.store.list_prompts(filters=filters, limit=limit, offset=offset)

    def count_prompts(self, filters: SearchFilters | None = None) -> int:
        return self.store.count_matching(filters)

    async def search(self, query: str, *, mode: str = "hybrid", filters: SearchFilters | None = None,
                     limit: int = 10) -> list[SearchResult]:
        """Find prompts by words (FTS5 bm25), by meaning (cosine over the in-memory index, the query embedded by
        the same model as the stored vectors) or both fused by reciprocal rank. Filters apply before ranking."""
        import asyncio

        query = (query or "").strip()
        if not query:
            raise InputError("the search query is empty")
        if mode not in _SEARCH_MODES:
            raise InputError(f"unknown search mode '{mode}'; use one of: {', '.join(_SEARCH_MODES)}")
        if not 1 <= limit <= _MAX_LIMIT:
            raise InputError(f"limit must be between 1 and {_MAX_LIMIT}, got {limit}")
        check_length("the search query", query, self.settings.generation.max_idea_length)
        filters = filters or SearchFilters()
        pool = limit if mode != "hybrid" else max(_RRF_POOL, limit * 3)
        embedding = None
        if mode in ("semantic", "hybrid"):
            if "_embed_reason" not in self.__dict__:  # checked once: it looks for packages and model files
                self.__dict__["_embed_reason"] = self.embedder.unavailable_reason()
            reason = self.__dict__["_embed_reason"]
            if reason is None:  # the query is embedded (batched with concurrent ones) while the text search runs
                embedding = asyncio.ensure_future(self._query_embedder.embed(query))
            elif mode == "semantic":
                raise AlchemyError(f"semantic search needs the embedder: {reason}")
            else:
                _log.warning("hybrid search falls back to text only: %s", reason)
        # The CPU-bound parts run in worker threads (SQLite and numpy release the GIL), so the event loop goes on
        # serving other requests and concurrent searches use every core.
        if embedding is None:  # words only: one trip to a worker thread
            return await asyncio.to_thread(self._rank, mode, query, None, filters, pool, None, limit)
        text_hits: list[tuple[str, float]] = []
        try:
            if mode == "hybrid":
                text_hits = await asyncio.to_thread(self.store.search_text, query, filters, pool)
        finally:
            vector = await embedding
        return await asyncio.to_thread(self._rank, mode, query, vector, filters, pool, text_hits, limit)

    def _rank(self, mode: str, query: str, vector: Any, filters: SearchFilters, pool: int,
              text_hits: list[tuple[str, float]] | None, limit: int) -> list[SearchResult]:
        """The text hits (searched here when not given), the vector hits, fused and read for the final top `limit`."""
        if text_hits is None:
            text_hits = self.store.search_text(query, filters, pool) if mode != "semantic" else []
        semantic_hits: list[tuple[str, float]] = []
        if vector is not None:
            index = self._vector_index(self.embedder.model, self.embedder.dimensions)
            allowed = None if filters.is_empty() else self.store.filter_ids(filters)
            semantic_hits = index.search(vector, pool, allowed)
        return self._fuse(mode, text_hits, semantic_hits, limit)

    @cached_property
    def _query_embedder(self):
        """Search queries' vectors: cached by (model, text), concurrent queries embedded in one batch."""
        from prompt_alchemy.embeddings.query import QueryEmbedder

        return QueryEmbedder(self.embedder)

    def _fuse(self, mode: str, text_hits: list[tuple[str, float]], semantic_hits: list[tuple[str, float]],
              limit: int) -> list[SearchResult]:
        text_rank = {pid: i for i, (pid, _) in enumerate(text_hits, 1)}
        sem_rank = {pid: i for i, (pid, _) in enumerate(semantic_hits, 1)}
        similarity = dict(semantic_hits)
        if mode == "text":
            scored = text_hits
        elif mode == "semantic":
            scored = semantic_hits
        else:
            fused: dict[str, float] = {}
            for ranks in (text_rank, sem_rank):
                for pid, rank in ranks.items():
                    fused[pid] = fused.get(pid, 0.0) + 1.0 / (_RRF_K + rank)
            scored = sorted(fused.items(), key=lambda kv: (-kv[1], sem_rank.get(kv[0], 10**9)))
        scored = scored[:limit]
        prompts = self.store.get_prompts([pid for pid, _ in scored])
        return [SearchResult(prompt=prompts[pid], score=score, mode=mode, text_rank=text_rank.get(pid),  # type: ignore[arg-type]
                             semantic_rank=sem_rank.get(pid), similarity=similarity.get(pid))
                for pid, score in scored if pid in prompts]

    async def update_prompt(self, prompt_id: str, *, content: str | None = None, tags: list[str] | None = None,
                            notes: str | None = None) -> Prompt:
        """A new version linked to the old one by parent_id (the old one is kept), re-embedded."""
        from prompt_alchemy.models import content_hash, new_id, utcnow

        if content is None and tags is None and notes is None:
            raise InputError("nothing to update; give new content, tags or notes")
        if content is not None:
            content = content.strip()
            if not content:
                raise InputError("the new content is empty")
            check_length("the content", content, self.settings.generation.max_idea_length)
        old = self.get_prompt(prompt_id)
        self._check_writable()
        new_content = old.content if content is None else mask_secrets(content)
        clean_tags = old.tags if tags is None else list(dict.fromkeys(t.strip() for t in tags if t.strip()))
        now = utcnow()
        new = old.model_copy(update={
            "id": new_id(), "content": new_content, "content_hash": content_hash(new_content), "tags": clean_tags,
            "notes": old.notes if notes is None else (notes.strip() or None), "parent_id": old.id,
            "enhancement_method": "edit", "created_at": now, "updated_at": now, "usage_count": 0,
            "generation_count": 0, "last_used_at": None, "input_tokens": 0, "output_tokens": 0,
            "actual_tokens": 0, "cost_usd": 0.0, "latency_ms": 0.0,
            "score": old.score if new_content == old.content else None})
        embedder = self.embedder
        current = old.embedding_model == embedder.model and old.embedding_dim == embedder.dimensions
        if new_content != old.content or not current:
            reason = embedder.unavailable_reason()
            if reason is None:
                vector = (await self._embed_texts([new_content]))[0]
                new.embedding, new.embedding_model = vector.tolist(), embedder.model
                new.embedding_provider, new.embedding_dim = embedder.provider, embedder.dimensions
            else:
                _log.warning("the new version is not embedded: %s", reason)
                new.embedding = new.embedding_model = new.embedding_provider = new.embedding_dim = None
        self.store.save_session([new])
        self._index_prompts([new])
        return new

    def history(self, prompt_id: str) -> list[Prompt]:
        """Every version of a prompt, oldest first: the original and each edit made from it."""
        root = self.get_prompt(prompt_id)
        for _ in range(_MAX_DEPTH):
            if root.enhancement_method != "edit" or not root.parent_id:
                break
            parent = self.store.get_prompt(root.parent_id)
            if parent is None:
                break
            root = parent
        return [root] + self.store.descendants(root.id, edits_only=True)

    def delete_prompt(self, prompt_id: str) -> None:
        """Delete a prompt with its vector, context, metrics and feedback rows; its children are relinked to its
        parent and keep working."""
        full = self.resolve_id(prompt_id)
        self.store.delete_prompts([full])
        self._unindex([full])

    async def import_prompts(self, path: str | Path, fmt: str | None = None,
                             progress: Callable[[int, int], None] | None = None) -> ImportReport:
        """Import JSON, JSONL or CSV (including the awesome-chatgpt-prompts layout). Malformed rows are reported
        by line and skipped; duplicates by content hash are skipped and counted; valid rows are embedded (unless
        they carry vectors, or say `"embedding": null` as exports do) and written in batches, one transaction
        per batch."""
        import time

        from prompt_alchemy.storage.transfer import read_prompt_file

        started = time.perf_counter()
        self._check_writable()
        fmt, rows, errors, seen = read_prompt_file(path, fmt, dimensions=self._known_dimensions())
        report = ImportReport(path=str(path), format=fmt, rows=seen, errors=errors, failed=len(errors))
        first_seen: dict[str, str] = {}
        unique_rows = []
        for row in rows:  # an id given twice in one file is an error, not a silent drop
            if row.prompt.id in first_seen:
                report.errors.append(f"{row.where}: id {row.prompt.id} is already used by "
                                     f"{first_seen[row.prompt.id]} of this file")
                report.failed += 1
                continue
            first_seen[row.prompt.id] = row.where
            unique_rows.append(row)
        rows = unique_rows
        mask_prompt_secrets([r.prompt for r in rows])
        by_hash = self.store.ids_by_hash() if self.loaded.database_path.exists() else {}
        remap: dict[str, str] = {}
        fresh = []
        for row in rows:
            existing = by_hash.get(row.prompt.content_hash)
            if existing is not None:
                remap[row.prompt.id] = existing
                report.duplicates += 1
                continue
            by_hash[row.prompt.content_hash] = row.prompt.id
            fresh.append(row)
        taken = self.store.existing_ids(r.prompt.id for r in fresh)
        if taken:
            for row in [r for r in fresh if r.prompt.id in taken]:
                report.errors.append(f"{row.where}: id {row.prompt.id} already exists with different content")
                report.failed += 1
            fresh = [r for r in fresh if r.prompt.id not in taken]
        fresh = self._parents_first(fresh, remap, report)
        embedder = self.embedder
        reason = embedder.unavailable_reason()
        if reason is not None and any(r.embed for r in fresh):
            report.warnings.append(f"imported without embeddings: {reason}")
        else:
            report.embedding_model = embedder.model
        total = len(fresh)
        if progress:
            progress(0, total)
        import asyncio

        batches = [fresh[start:start + _IMPORT_BATCH] for start in range(0, total, _IMPORT_BATCH)]
        todos = [[r.prompt for r in batch if r.embed] if reason is None else [] for batch in batches]

        def embedding(i: int) -> asyncio.Task | None:
            if i >= len(batches) or not todos[i]:
                return None
            return asyncio.ensure_future(self._embed_texts([p.content for p in todos[i]]))

        pending = embedding(0)
        try:
            for i, batch in enumerate(batches):
                if pending is not None:
                    vectors = await pending
                    for prompt, vector in zip(todos[i], vectors):
                        prompt.embedding, prompt.embedding_model = vector.tolist(), embedder.model
                        prompt.embedding_provider, prompt.embedding_dim = embedder.provider, embedder.dimensions
                    report.embedded += len(todos[i])
                pending = embedding(i + 1)  # the next batch embeds while this one is written
                contexts = {r.prompt.id: r.context for r in batch if r.context}
                # the content check runs again inside the write transaction: another process may have imported
                # the same rows since this one looked
                inserted, duplicates, clashes = self.store.insert_new_prompts([r.prompt for r in batch], contexts,
                                                                             remap)
                self._index_prompts(inserted)
                report.imported += len(inserted)
                report.duplicates += len(duplicates)
                for r in batch:
                    if r.prompt.id in clashes:
                        report.errors.append(f"{r.where}: id {r.prompt.id} already exists with different content")
                        report.failed += 1
                if progress:
                    progress(report.imported, total)
        finally:
            if pending is not None and not pending.done():
                pending.cancel()
        report.wall_ms = round((time.perf_counter() - started) * 1000, 1)
        return report

    def _parents_first(self, rows: list, remap: dict[str, str], report: ImportReport) -> list:
        """Order rows so that every parent is written before its children; a parent found neither in the file
        nor in the library is dropped from the row (with a warning), and cycles are rejected."""
        by_id = {r.prompt.id: r for r in rows}
        for r in rows:
            parent = r.prompt.parent_id
            if parent is not None and parent in remap:
                r.prompt.parent_id = parent = remap[parent]
            if parent is not None and parent not in by_id and parent not in self.store.existing_ids([parent]):
                report.warnings.append(f"{r.where}: parent {parent} is not in the file or the library; "
                                       f"imported without it")
                r.prompt.parent_id = None
        ordered, state = [], {}
        for r in rows:
            chain, node, cyclic = [], r, False
            while node is not None and state.get(node.prompt.id) is None:
                state[node.prompt.id] = "visiting"
                chain.append(node)
                parent = node.prompt.parent_id
                node = by_id.get(parent) if parent else None
                if node is not None and state.get(node.prompt.id) == "visiting":
                    cyclic = True
                    break
            for item in reversed(chain):
                state[item.prompt.id] = "done"
                if cyclic:
                    report.errors.append(f"{item.where}: parent links form a cycle")
                    report.failed += 1
                else:
                    ordered.append(item)
        return ordered

    def export_prompts(self, path: str | Path | IO[str], fmt: str | None = None,
                       filters: SearchFilters | None = None, force: bool = False) -> int:
        """Write the matching prompts (oldest first) as JSONL, JSON, Markdown or text to a file (never over an
        existing one unless `force`; written beside it and renamed into place) or an open stream."""
        import os
        import tempfile

        from prompt_alchemy.storage.transfer import EXPORT_FORMATS, PromptWriter, normalize_format

        stream = path if hasattr(path, "write") else None
        fmt = normalize_format(fmt, None if stream else path, EXPORT_FORMATS, "export")
        if stream is not None:
            return self._write_export(stream, fmt, filters, PromptWriter)  # type: ignore[arg-type]
        target = self.check_output_path(path, force=force, what="export file")  # type: ignore[arg-type]
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        except OSError as exc:
            raise InputError(f"cannot write export file {target}: {exc.strerror}") from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                count = self._write_export(fh, fmt, filters, PromptWriter)
            umask = os.umask(0o022)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return count

    def _write_export(self, stream: IO[str], fmt: str, filters: SearchFilters | None, writer_cls) -> int:
        page: list[Prompt] = []
        with writer_cls(stream, fmt) as writer:
            def flush() -> None:
                contexts = self.store.contexts_for([p.id for p in page]) if fmt in ("json", "jsonl") else {}
                for p in page:
                    writer.write(p, contexts.get(p.id))
                page.clear()

            for prompt in self.store.iter_prompts(filters):
                page.append(prompt)
                if len(page) >= 500:
                    flush()
            flush()
        return writer.count

    def metrics_report(self, since: Any = None, phase: str | None = None, provider: str | None = None) -> dict:
        """What the tool has done: prompts by phase, provider, model, persona and day; tokens and cost; per-phase
        generation latency p50/p95; provider latency and error rates; database size."""
        from prompt_alchemy.models import Phase, parse_when

        try:
            when = parse_when(since)
            phase_name = Phase.parse(phase).value if phase else None
        except ValueError as exc:
            raise InputError(str(exc)) from None
        report = self.store.metrics_summary(since=when, phase=phase_name, provider=provider)
        report["filters"] = {"since": when.isoformat() if when else None, "phase": phase_name, "provider": provider}
        report["database"] = {"path": str(self.store.path), **self.store.file_sizes()}
        return report

    # ------------------------------------------------------------------ database maintenance (issue 4)

    def db_stats(self) -> dict[str, Any]:
        stats = self.store.stats()
        stats["configured_embedding"] = {"provider": self.settings.generation.embedding_provider,
                                         "model": self.embedder.model, "dimensions": self.embedder.dimensions}
        stats["backups"] = [str(p) for p in self._backups()]
        partials = self._partials()
        stats["partial_backups"] = {"files": len(partials),
                                    "bytes": sum(p.stat().st_size for p in partials if p.exists())}
        stats["cache"] = self.response_cache.stats()
        return stats

    def clear_cache(self) -> dict[str, int]:
        """Forget every cached provider response and embedding; returns what was removed."""
        before = self.response_cache.stats()
        removed = self.response_cache.clear()
        return {"removed": removed, "responses": before["responses"], "embeddings": before["embeddings"]}

    def _backup_dir(self) -> Path:
        return self.loaded.database_path.parent / "backups"

    def _backups(self) -> list[Path]:
        stem = self.loaded.database_path.stem
        folder = self._backup_dir()
        return sorted(folder.glob(f"{stem}-*Z.db")) if folder.is_dir() else []

    def check_output_path(self, path: str | Path, *, force: bool, what: str = "output file",
                          allow_existing: bool = False) -> Path:
        """The guard every written file goes through: never the database, its -wal/-shm, a backup, a device or
        other non-regular file; an existing file only with `force` (see security.check_output_path)."""
        return check_output_path(path, force=force, what=what, allow_existing=allow_existing,
                                 protected=[self.loaded.database_path], protected_dirs=[self._backup_dir()])

    def _partials(self) -> list[Path]:
        """Unfinished backup copies (`*.partial`) left in the backups folder by an interrupted backup."""
        folder = self._backup_dir()
        return sorted(folder.glob("*.partial")) if folder.is_dir() else []

    def backup_database(self, path: str | Path | None = None, force: bool = False, *,
                        now: datetime | None = None) -> dict[str, Any]:
        """An online backup. Without `path`, into the backups folder beside the database, keeping the newest
        `storage.max_backups`; with `path`, to that file (never over an existing one unless `force`). The source is
        checked (`quick_check`) before copying and the copy (`integrity_check`) before it is kept; old backups are
        pruned only after both pass, so a damaged library never pushes good backups out. Unfinished copies left by
        an interrupted backup are removed."""
        import time

        from prompt_alchemy.models import utcnow
        from prompt_alchemy.storage.sqlite import StorageError, damaged_message

        now = now or utcnow()
        pruned: list[str] = []
        if path is not None and Path(path).expanduser().resolve() == self._backup_dir().resolve():
            path = None  # the backups folder itself: the default, with pruning
        name = f"{self.loaded.database_path.stem}-{now:%Y%m%dT%H%M%S%fZ}.db"
        if path is None:
            target = self._backup_dir() / name
        else:
            target = Path(path).expanduser()
            if target.is_dir() and target.resolve() != self._backup_dir().resolve():
                target = target / name
            target = self.check_output_path(target, force=force, what="backup file")
        if not self.loaded.database_path.is_file():
            raise InputError(f"there is no library to back up at {self.loaded.database_path}")
        problems = self.store.check_integrity(quick=True)
        if problems:
            raise StorageError(damaged_message(self.loaded.database_path, problems[0])
                               + "; no backup was made and no old backup was removed")
        removed_partials = []
        for partial in self._partials():  # older than a minute: not a backup another process is writing now
            try:
                if time.time() - partial.stat().st_mtime > 60:
                    partial.unlink()
                    removed_partials.append(str(partial))
            except OSError:
                pass
        try:
            size = self.store.backup_to(target)
        except OSError as exc:
            raise AlchemyError(f"cannot write backup {target}: {exc.strerror or exc}") from None
        if path is None:
            keep = self.settings.storage.max_backups
            backups = self._backups()
            for old in backups[:-keep] if len(backups) > keep else []:
                old.unlink(missing_ok=True)
                pruned.append(str(old))
        self.store.record_maintenance("backup", now, str(target))
        return {"path": str(target), "bytes": size, "pruned": pruned, "at": now.isoformat(),
                "removed_partials": removed_partials}

    def restore_database(self, backup: str | Path | None = None, force: bool = False, *,
                         now: datetime | None = None) -> dict[str, Any]:
        """Put a backup back in place of the library: `backup` (a file), else the newest backup in backups/ that
        passes its integrity check. The current file is kept beside it as `<name>.replaced-<time>`. A library that
        is still sound is replaced only with `force`. Run it while no server uses the library."""
        from prompt_alchemy.models import utcnow
        from prompt_alchemy.storage.sqlite import integrity_check, restore_database

        now = now or utcnow()
        db_path = self.loaded.database_path
        if "store" in self.__dict__:
            self.store.close()
            del self.__dict__["store"]
        skipped: list[str] = []
        if backup is not None:
            chosen = Path(backup).expanduser()
            if not chosen.is_file():
                raise InputError(f"backup {chosen} does not exist or is not a file")
        else:
            chosen = None
            for candidate in reversed(self._backups()):
                if integrity_check(candidate):
                    skipped.append(str(candidate))
                    continue
                chosen = candidate
                break
            if chosen is None:
                raise InputError(f"no sound backup in {self._backup_dir()}"
                                 + (f" ({len(skipped)} damaged)" if skipped else "")
                                 + "; give a backup file: prompt-alchemy db restore FILE")
        if chosen.resolve() == db_path.resolve():
            raise InputError("the backup to restore is the library itself")
        if db_path.is_file() and not integrity_check(db_path, quick=True) and not force:
            raise InputError(f"the library {db_path} passes its integrity check; use --force to replace it "
                             f"with {chosen} anyway (the current file is kept beside it)")
        moved = restore_database(db_path, chosen, stamp=f"{now:%Y%m%dT%H%M%SZ}")
        return {"restored": str(chosen), "database": str(db_path), "previous": str(moved) if moved else None,
                "skipped_damaged": skipped}

    def vacuum_database(self, *, now: datetime | None = None) -> dict[str, Any]:
        from prompt_alchemy.models import utcnow

        before = sum(self.store.file_sizes().values())
        self.store.vacuum()
        after = sum(self.store.file_sizes().values())
        now = now or utcnow()
        self.store.record_maintenance("vacuum", now, f"{before} -> {after} bytes")
        return {"bytes_before": before, "bytes_after": after, "at": now.isoformat()}

    def migrate_database(self) -> dict[str, Any]:
        """Apply pending schema migrations (opening the store applies them too): which ran, which exist."""
        applied = list(self.store.applied_migrations) + self.store.migrate()
        return {"applied": applied, "migrations": self.store.stats()["migrations"],
                "version": self.store.schema_version(), "path": str(self.store.path)}

    async def reembed(self, include_all: bool = False,
                      progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        """Re-embed the prompts whose vectors come from another embedding model or dimension (with `include_all`,
        every prompt) with the configured embedder, in batches, one transaction each."""
        import time

        from prompt_alchemy.storage.sqlite import vector_to_blob

        embedder = self.embedder
        reason = embedder.unavailable_reason()
        if reason is not None:
            raise AlchemyError(f"cannot re-embed: {reason}")
        started = time.perf_counter()
        targets = self.store.embedding_targets(embedder.model, embedder.dimensions, include_all=include_all)
        if progress:
            progress(0, len(targets))
        done = 0
        for start in range(0, len(targets), _IMPORT_BATCH):
            batch = targets[start:start + _IMPORT_BATCH]
            vectors = await self._embed_texts([content for _, content in batch])
            self.store.set_embeddings([(pid, vector_to_blob(v)) for (pid, _), v in zip(batch, vectors)],
                                      embedder.model, embedder.provider, embedder.dimensions)
            done += len(batch)
            if progress:
                progress(done, len(targets))
        self.__dict__.pop("_indexes", None)
        return {"reembedded": done, "model": embedder.model, "provider": embedder.provider,
                "dimensions": embedder.dimensions, "wall_ms": round((time.perf_counter() - started) * 1000, 1)}

    def run_maintenance_if_due(self, now: Any = None) -> dict[str, Any]:
        """Back up and/or vacuum when `storage.backup_interval` / `storage.vacuum_interval` has passed since the
        last run (recorded in the database). For server mode, called periodically. Returns what ran."""
        from prompt_alchemy.models import parse_duration, parse_when, utcnow

        now = parse_when(now) or utcnow()
        ran: dict[str, Any] = {}
        storage = self.settings.storage
        for task, interval, run in (("backup", storage.backup_interval, self.backup_database),
                                    ("vacuum", storage.vacuum_interval, self.vacuum_database)):
            if not interval:
                continue
            last = self.store.last_maintenance(task)
            if last is None or (now - last).total_seconds() >= parse_duration(interval):
                ran[task] = run(now=now)
        return ran

    # ------------------------------------------------------------------ ranking (issue 5)

    @property
    def ranker(self):
        """The one ranker, shared with the engine; the learning loop may set `ranker.learned`."""
        return self.engine.ranker

    def _prompt_argument(self, id_or_prefix: str) -> Prompt:
        """A stored prompt named as an argument: an unknown id is bad input (exit 2)."""
        try:
            return self.get_prompt(id_or_prefix)
        except NotFoundError as exc:
            raise InputError(f"{exc}; list prompts with 'prompt-alchemy list' or search for them") from None

    async def _feature_contexts(self, texts: list[str], idea: str | None, metas: list[dict[str, Any]]):
        from prompt_alchemy.ranking.ranker import feature_contexts

        if not texts or self.embedder.unavailable_reason() is not None:
            return feature_contexts(texts, idea=idea, metas=metas)
        vectors = await self.embedder.embed(list(texts) + ([idea] if idea else []))
        contexts = feature_contexts(texts, idea=idea, vectors=vectors[:len(texts)],
                                    idea_vector=vectors[len(texts)] if idea else None, metas=metas)
        if not idea:
            return contexts
        from prompt_alchemy.ranking.drift import with_drift

        return await with_drift(self.embedder, contexts, texts, vectors[len(texts)])

    async def score_prompts(self, ids: list[str] | None = None, text: str | None = None, idea: str | None = None,
                            judge: bool = False) -> list:
        """Rank stored prompts (by id) or one ad-hoc text, best first; every result carries its score components,
        feature vector and (with `judge`) the judge's rubric. A stored prompt is compared with its sibling
        variants for distinctness and with `idea` (default: its original idea) for intent."""
        from prompt_alchemy.ranking.judge import Judge, JudgeScore
        from prompt_alchemy.ranking.ranker import prompt_meta

        ids = [i for i in (ids or []) if i.strip()]
        if not ids and text is None:
            raise InputError("nothing to score: give prompt IDs or --text")
        if ids and text is not None:
            raise InputError("give prompt IDs or --text, not both")
        if text is not None:
            if not text.strip():
                raise InputError("--text is empty")
            check_length("--text", text, self.settings.generation.max_idea_length)
        if idea is not None and not idea.strip():
            raise InputError("--idea is empty")
        prompts = [self._prompt_argument(i) for i in ids]
        judge_ = Judge(self.settings, self.registry, avoid={p.provider for p in prompts if p.provider}) \
            if judge else None
        items = []

        async def verdict(content: str, reference: str | None) -> JudgeScore | None:
            return await judge_.score(content, idea=reference) if judge_ is not None else None

        if text is not None:
            ctx = (await self._feature_contexts([text], idea, [{}]))[0]
            items.append((None, text, ctx, await verdict(text, idea)))
        for prompt in prompts:
            siblings = []
            if prompt.session_id and prompt.phase is not None:
                siblings = [s for s in self.store.list_prompts(session_id=prompt.session_id, limit=200)
                            if s.phase == prompt.phase and s.id != prompt.id]
            group = [prompt] + siblings
            reference = idea or prompt.original_input
            metas = [prompt_meta(g) for g in group]
            ctx = (await self._feature_contexts([g.content for g in group], reference, metas))[0]
            items.append((prompt.id, prompt.content, ctx, await verdict(prompt.content, reference)))
        if judge_ is not None and judge_.metrics and self.loaded.database_path.exists():
            self.store.record_metrics(judge_.metrics)
        return self.ranker.rank(items)

    async def judge_prompts(self, id_a: str, id_b: str | None = None) -> dict[str, Any]:
        """With two ids: which stored prompt is better (asked in both orders; a disagreement is a tie). With one:
        the judge's rubric scores. The judge avoids the prompts' own providers when another is available."""
        from prompt_alchemy.ranking.judge import Judge

        a = self._prompt_argument(id_a)
        b = self._prompt_argument(id_b) if id_b is not None else None
        if b is not None and a.id == b.id:
            raise InputError("give two different prompts to compare")
        judge = Judge(self.settings, self.registry, avoid={p.provider for p in (a, b) if p and p.provider})
        if b is None:
            verdict = await judge.score(a.content, idea=a.original_input)
            out: dict[str, Any] = {"mode": "rubric", "id": a.id, **verdict.model_dump()}
        else:
            idea = a.original_input if a.original_input == b.original_input else None
            result = await judge.compare(a.content, b.content, idea=idea)
            winner_id = {"a": a.id, "b": b.id}.get(result.winner or "")
            out = {"mode": "pairwise", "a": a.id, "b": b.id, "winner_id": winner_id, **result.model_dump()}
        if judge.metrics:
            self.store.record_metrics(judge.metrics)
        return out

    async def optimize(self, prompt_id: str | None = None, prompt: str | None = None, task: str | None = None,
                       examples_path: str | Path | None = None, max_iterations: int = 3,
                       target_score: float | None = None, max_cost: float | None = None, metric: str = "auto",
                       provider: str | None = None, task_provider: str | None = None, save: bool = True,
                       progress: Any = None, examples: list[Any] | None = None, examples_file: str | None = None):
        """Improve a prompt (a stored one by id, or text) for `task`; see ranking/optimizer.py. Everything is
        validated before any provider call or write; each round's candidates are stored in one transaction.
        Examples come from `examples_path` (a file: the CLI), or, for clients of the server, inline (`examples`)
        or by name from the examples folder (`examples_file`): a server never opens a path a client names."""
        from prompt_alchemy.models import Phase
        from prompt_alchemy.ranking.evaluation import load_examples, parse_examples, split_examples
        from prompt_alchemy.ranking.judge import Judge
        from prompt_alchemy.ranking.optimizer import MAX_ITERATIONS, Optimizer

        if (prompt_id is None) == (prompt is None):
            raise InputError("give the prompt to optimize: a prompt ID or --prompt TEXT (one of them)")
        task = (task or "").strip()
        if not task:
            raise InputError("--task is required: say what the prompt must get a model to do")
        check_length("--task", task, self.settings.generation.max_idea_length)
        if not 1 <= max_iterations <= MAX_ITERATIONS:
            raise InputError(f"--max-iterations must be between 1 and {MAX_ITERATIONS}, got {max_iterations}")
        if target_score is not None and not 0 < target_score <= 1:
            raise InputError(f"--target-score must be above 0 and at most 1 (scores are 0-1; the judge's 1-10 "
                             f"is divided by 10), got {target_score:g}")
        if max_cost is not None and not max_cost > 0:
            raise InputError(f"--max-cost must be a positive amount in USD, got {max_cost:g}")
        if metric not in ("auto", "judge", "accuracy", "loglik"):
            raise InputError(f"unknown --metric '{metric}'; choose auto, judge, accuracy or loglik")
        if prompt is not None:
            if not prompt.strip():
                raise InputError("--prompt is empty")
            check_length("--prompt", prompt, self.settings.generation.max_idea_length)
            seed_text, seed_id = prompt.strip(), None
        else:
            stored = self._prompt_argument(prompt_id or "")
            seed_text, seed_id = stored.content, stored.id
        if sum(x is not None for x in (examples_path, examples, examples_file)) > 1:
            raise InputError("give the examples one way: inline examples or an examples file")
        loaded_examples = None
        if examples is not None:
            import json

            if not isinstance(examples, list) or len(examples) > 2000:
                raise InputError("examples must be a list of at most 2000 objects with input and expected")
            try:
                text = "\n".join(json.dumps(e, ensure_ascii=True) for e in examples)
            except (TypeError, ValueError):
                raise InputError("examples must be JSON objects with input and expected") from None
            loaded_examples = parse_examples(text, "examples")
        elif examples_file is not None:
            loaded_examples = load_examples(self.examples_file(examples_file))
        elif examples_path is not None:
            loaded_examples = load_examples(examples_path)
        propose_set = heldout_set = None
        local_ok = "local" in self.registry.available()
        if loaded_examples is not None:
            propose_set, heldout_set = split_examples(loaded_examples)
            if metric == "judge":
                raise InputError("--metric judge does not use --examples; drop one of them")
            if metric == "auto":
                metric = "loglik" if local_ok else "accuracy"
            if metric == "loglik" and not local_ok:
                raise InputError(f"--metric loglik needs the local model: "
                                 f"{self.registry.get('local').unavailable_reason()}")
        elif metric in ("accuracy", "loglik"):
            raise InputError(f"--metric {metric} needs --examples FILE (JSONL lines with input and expected; over "
                             f"MCP: examples or examples_file)")
        else:
            metric = "judge"
        if provider is not None:
            self.registry.check_name(provider)
            reason = self.registry.get(provider).unavailable_reason()
            if reason:
                raise InputError(f"--provider {provider} cannot be used: {reason}")
            proposer = provider
        else:
            proposer = self.registry.chain(Phase.COAGULATIO)[0]
        if task_provider is not None:
            self.registry.check_name(task_provider)
            reason = self.registry.get(task_provider).unavailable_reason()
            if reason:
                raise InputError(f"--task-provider {task_provider} cannot be used: {reason}")
        elif metric != "judge":
            task_provider = "local" if local_ok else proposer
        judge = Judge(self.settings, self.registry, avoid={proposer}) if metric == "judge" else None

        async def persist(prompts: list[Prompt], metrics: list[Any]) -> None:
            mask_prompt_secrets(prompts)
            if prompts and self.embedder.unavailable_reason() is None:
                vectors = await self.embedder.embed([p.content for p in prompts])
                for p, vector in zip(prompts, vectors):
                    p.embedding = vector.tolist()
                    p.embedding_model = self.embedder.model
                    p.embedding_provider = self.embedder.provider
                    p.embedding_dim = self.embedder.dimensions
            self.store.save_session(prompts, metrics=metrics)
            self._index_prompts(prompts)  # library (issue 4): keep loaded vector indexes current

        optimizer = Optimizer(
            self.settings, self.registry, task=task, metric=metric, proposer=proposer,  # type: ignore[arg-type]
            judge=judge, propose_set=propose_set, heldout_set=heldout_set, task_provider=task_provider,
            max_iterations=max_iterations, target_score=target_score, max_cost=max_cost,
            persist=persist if save else None, progress=progress)
        return await optimizer.run(seed_text, seed_id)

    def examples_dir(self) -> Path:
        """The one folder whose files MCP clients may name as optimization examples (server.examples_dir)."""
        configured = self.settings.server.examples_dir
        return Path(configured) if configured else self.loaded.database_path.parent / "examples"

    def examples_file(self, name: str) -> Path:
        """The examples file `name` inside examples_dir(); a path, a hidden name or a link out of the folder is
        refused without saying whether anything exists there."""
        folder = self.examples_dir()
        bad = (not isinstance(name, str) or not name.strip() or len(name) > 255 or name.startswith(".")
               or any(c in name for c in "/\\\x00:"))
        if bad:
            raise InputError(f"examples_file must be the name of a file in the examples folder {folder} "
                             f"(a name, not a path)")
        path = folder / name
        try:
            inside = path.is_file() and folder.resolve() in path.resolve().parents
        except OSError:
            inside = False
        if not inside:
            raise InputError(f"there is no examples file '{name}' in the examples folder {folder}")
        return path

    # ------------------------------------------------------------------ batch generation (issue 7)

    def read_batch_items(self, path: str | Path, fmt: str | None = None, text: str | None = None) -> list[BatchItem]:
        """Parse a batch file: JSONL (an object with "idea" and optional options per line), CSV (an `idea` or
        `prompt` column plus optional option columns) or one idea per line. `text` replaces reading `path`."""
        from prompt_alchemy.engine.batch import detect_format, parse_items

        if text is None:
            text = read_text_file(path, "batch file", limit=MAX_BATCH_BYTES)
        return parse_items(text, fmt or detect_format(path, text), str(path))

    async def batch_generate(self, items: list[BatchItem], *, workers: int = 2, defaults: BatchOptions | None = None,
                             save: bool = True, results_file: str | Path | None = None, resume: bool = False,
                             dry_run: bool = False, source: str = "batch",
                             progress: BatchProgress | None = None) -> BatchReport:
        """Generate every item, at most `workers` at a time; per-item options override `defaults`. Every item is
        validated (and every provider chain resolved) before anything runs or is written. With `results_file`,
        each finished item is appended to it and `resume` skips the items it already holds."""
        from prompt_alchemy.engine.batch import MAX_WORKERS, BatchJob, ResultsFile, item_keys, run_batch

        if not items:
            raise InputError("the batch has no ideas")
        if not 1 <= workers <= MAX_WORKERS:
            raise InputError(f"workers must be between 1 and {MAX_WORKERS}, got {workers}")
        defaults = defaults or BatchOptions()
        jobs: list[BatchJob] = []
        for index, (item, key) in enumerate(zip(items, item_keys(items)), 1):
            options = {name: getattr(item, name) if getattr(item, name) is not None else getattr(defaults, name)
                       for name in BatchOptions.model_fields}
            try:
                request = self.build_request(item.idea, save=save, **options)
            except InputError as exc:
                snippet = " ".join(item.idea.split())[:40]
                raise InputError(f"batch item {index} ('{snippet}'): {exc}") from None
            jobs.append(BatchJob(key=key, index=index, request=request))
        for phases, provider in {(tuple(job.request.phases), job.request.provider) for job in jobs}:
            for phase in phases:
                self.registry.chain(phase, provider)
        if results_file:
            self.check_output_path(results_file, force=False, what="results file", allow_existing=True)
        results = ResultsFile(results_file, resume=resume, source=source) if results_file else None

        async def generate(job: BatchJob, session_id: str | None) -> GenerationResult:
            return await self.generate(job.request, session_id=session_id)

        return await run_batch(jobs, workers=workers, generate=generate, recover=self._recover_batch_item,
                               results=results, progress=progress, dry_run=dry_run)

    # ------------------------------------------------------------------ server mode helpers (issue 7)

    def persona_names(self) -> list[str]:
        from prompt_alchemy.engine.personas import persona_names

        return persona_names(self.settings)

    def validate_configuration(self) -> tuple[Path, list[str]]:
        """Re-read the configuration file the service was loaded from (plus the environment): (path, problems)."""
        path = self.loaded.paths.config_file
        return path, check_configuration(path if path.exists() else None)

    def top_prompts(self, limit: int = 20) -> list[Prompt]:
        """The best prompts first: by average feedback rating where rated, then by ranking score."""
        return self.store.top_prompts(limit)

    def _recover_batch_item(self, job: Any, session_id: str) -> BatchItemResult | None:
        """The result of a batch item that an interrupted run saved but did not get to record, or None."""
        prompts = self.store.list_prompts(session_id=session_id, limit=1000)
        if not prompts:
            return None
        scored = [p for p in prompts if p.score is not None]
        best = max(scored, key=lambda p: p.score or 0.0) if scored else None
        return BatchItemResult(
            key=job.key, index=job.index, idea=job.request.idea, status="ok", session_id=session_id,
            best_id=best.id if best else None, best=best.content if best else None,
            best_score=best.score if best else None, prompt_ids=[p.id for p in prompts], saved=True,
            total_tokens=sum(p.actual_tokens for p in prompts), cost_usd=round(sum(p.cost_usd for p in prompts), 6))

    # ------------------------------------------------------------------ learning from feedback (issue 6)
    # Feedback and model rows live in storage/feedback.py; training in ranking/learning.py; the schedule in
    # ranking/schedule.py. This block validates and orchestrates.

    def rate(self, prompt_id: str, score: int, comment: str | None = None, source: str = "cli"):
        """Record a 1-5 rating of a stored prompt (with an optional comment). Bad input writes nothing."""
        from prompt_alchemy.models import Feedback
        from prompt_alchemy.storage.feedback import insert_feedback

        rating = self._check_score(score)
        source = self._check_source(source)
        comment = (comment or "").strip() or None
        if comment is not None:
            check_length("the comment", comment, _MAX_COMMENT)
        prompt = self._feedback_prompt(prompt_id)
        row = Feedback(prompt_id=prompt.id, session_id=prompt.session_id, rating=rating, comment=comment,
                       source=source)
        insert_feedback(self.store, [row])
        return row

    def record_choice(self, session_id: str, chosen_id: str, source: str = "cli") -> dict[str, Any]:
        """The user picked `chosen_id` as the best final prompt of a session: chosen=1 for it, chosen=0 (skipped)
        for each of its sibling variants of the same phase, in one transaction."""
        from prompt_alchemy.models import Feedback
        from prompt_alchemy.storage.feedback import insert_feedback

        source = self._check_source(source)
        if not (session_id or "").strip():
            raise InputError("no session id given")
        chosen = self._feedback_prompt(chosen_id)
        if chosen.session_id != session_id:
            raise InputError(f"prompt {chosen.id} is not part of session {session_id}")
        siblings = [p for p in self.store.list_prompts(session_id=session_id, limit=_MAX_LIMIT)
                    if p.phase == chosen.phase and p.id != chosen.id]
        rows = [Feedback(prompt_id=chosen.id, session_id=session_id, chosen=True, source=source)]
        rows += [Feedback(prompt_id=p.id, session_id=session_id, chosen=False, source=source) for p in siblings]
        insert_feedback(self.store, rows)
        return {"session_id": session_id, "chosen": chosen.id, "skipped": [p.id for p in siblings]}

    def list_feedback(self, prompt_id: str | None = None, *, session_id: str | None = None,
                      source: str | None = None, kind: str | None = None, since: Any = None, limit: int = 50,
                      offset: int = 0) -> list:
        """Feedback rows (ratings and choices), newest first."""
        from prompt_alchemy.models import parse_when
        from prompt_alchemy.storage.feedback import list_feedback

        if not 1 <= limit <= _MAX_LIMIT:
            raise InputError(f"limit must be between 1 and {_MAX_LIMIT}, got {limit}")
        if not 0 <= offset <= _MAX_OFFSET:
            raise InputError(f"offset must be between 0 and {_MAX_OFFSET:,}, got {offset}")
        if source is not None:
            source = self._check_source(source)
        if kind not in (None, "rating", "choice"):
            raise InputError(f"unknown feedback kind '{kind}'; use rating or choice")
        try:
            when = parse_when(since)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        if not self.loaded.database_path.exists():
            if prompt_id is not None:
                raise InputError(f"no prompt with id '{prompt_id}' (the library is empty)")
            return []
        full = self._prompt_argument(prompt_id).id if prompt_id is not None else None
        return list_feedback(self.store, prompt_id=full, session_id=session_id, source=source, since=when,
                             kind=kind, limit=limit, offset=offset)

    async def train(self, dry_run: bool = False, *, trigger: str = "cli", now: datetime | None = None):
        """Fit a learning-to-rank model on all feedback, validate it against the current ranker, and adopt it only
        if it is better (never with `dry_run`). Too little feedback is bad input (exit 2) and changes nothing."""
        from prompt_alchemy.ranking.learning import check_enough, run_training

        if not self.loaded.database_path.exists():
            check_enough(0, self.settings.learning.min_feedback)
        report = await run_training(self.store, self.settings, self._stored_feature_contexts, dry_run=dry_run,
                                    trigger=trigger, now=now)
        if report.adopted:
            self.refresh_learned_model()
        return report

    def learning_status(self) -> dict[str, Any]:
        """The active model (version, metrics, training-set size, the features that matter most), recent versions,
        feedback counts and the schedule."""
        from prompt_alchemy.ranking.schedule import local_now, next_slot
        from prompt_alchemy.storage.feedback import feedback_counts, last_training, list_models

        cfg = self.settings.learning
        exists = self.loaded.database_path.exists()
        models = list_models(self.store, limit=10) if exists else []
        active = next((m for m in models if m.active), None)
        if active is None and exists:
            from prompt_alchemy.storage.feedback import active_model

            active = active_model(self.store)

        def summary(m) -> dict[str, Any]:
            metrics = {k: v for k, v in m.metrics.items() if k != "top_features"}
            return {"version": m.version, "status": m.status, "active": m.active, "kind": m.kind,
                    "created_at": m.created_at.isoformat(), "trigger": m.trigger, "training_size": m.training_size,
                    "train_pairs": m.train_pairs, "validation_pairs": m.validation_pairs, "metrics": metrics,
                    "params": m.params}

        counts = feedback_counts(self.store) if exists else {
            "total": 0, "ratings": 0, "choices": 0, "rated_prompts": 0, "choice_sessions": 0}
        return {
            "enabled": cfg.enabled, "schedule": cfg.schedule,
            "next_run": next_slot(local_now(), cfg.schedule).isoformat(timespec="minutes")
            if cfg.enabled and cfg.schedule else None,
            "feedback": {**counts, "needed": cfg.min_feedback},
            "active": {**summary(active), "top_features": active.metrics.get("top_features", [])} if active else None,
            "versions": [summary(m) for m in models],
            "last_attempt": last_training(self.store) if exists else None,
        }

    def install_training_schedule(self, crontab_file: str | Path | None = None) -> dict[str, Any]:
        """Add (or replace) a crontab entry that runs `prompt-alchemy train` daily at `learning.schedule`; every
        other crontab line is kept. `crontab_file` edits that file instead of the user's crontab."""
        import sys

        from prompt_alchemy.ranking.schedule import cron_line, install_cron

        cfg = self.settings.learning
        if not cfg.enabled:
            raise InputError("learning is disabled (learning.enabled: false); enable it before scheduling training")
        if not cfg.schedule:
            raise InputError("learning.schedule is not set; set it to a time such as 02:00 first")
        env = {k: os.environ[k] for k in ("PROMPT_ALCHEMY_HOME",) if os.environ.get(k)}
        command = [sys.executable, "-m", "prompt_alchemy"]
        if self.loaded.paths.config_file.exists():
            command += ["--config", str(self.loaded.paths.config_file.resolve())]
        command += ["train", "--trigger", "cron"]
        log_file = self.loaded.database_path.parent / "training.log"
        line = cron_line(cfg.schedule, command, env, log_file)
        return {**install_cron(line, Path(crontab_file) if crontab_file else None), "schedule": cfg.schedule,
                "log_file": str(log_file)}

    def uninstall_training_schedule(self, crontab_file: str | Path | None = None) -> dict[str, Any]:
        from prompt_alchemy.ranking.schedule import uninstall_cron

        return uninstall_cron(Path(crontab_file) if crontab_file else None)

    async def run_training_scheduler(self, *, clock: Any = None, poll: float = 60.0) -> None:
        """For the server process: train whenever `learning.schedule` comes, until cancelled."""
        from prompt_alchemy.ranking.schedule import run_scheduler

        await run_scheduler(self, clock=clock, poll=poll)

    def refresh_learned_model(self) -> None:
        """Make the ranker use the model that is active in the database now (another process may have trained)."""
        if "engine" in self.__dict__:
            self.ranker.learned = self._active_learned_model()

    def _active_learned_model(self):
        """The active learned scorer for the ranker, or None (learning off, no database, no model yet)."""
        if not self.settings.learning.enabled or not self.loaded.database_path.exists():
            return None
        from prompt_alchemy.ranking.learning import LearnedModel
        from prompt_alchemy.storage.feedback import active_model

        model = active_model(self.store)
        return LearnedModel(model) if model is not None else None

    async def _stored_feature_contexts(self, prompts: list[Prompt]) -> dict[str, Any]:
        """Each stored prompt's ranking context, computed as `score_prompts` does: against its original idea and its
        sibling variants (the same session and phase)."""
        from prompt_alchemy.ranking.ranker import feature_contexts, prompt_meta

        out: dict[str, Any] = {}
        sessions: dict[str, list[Prompt]] = {}
        for p in prompts:
            group = [p]
            if p.session_id and p.phase is not None:
                if p.session_id not in sessions:
                    sessions[p.session_id] = self.store.list_prompts(session_id=p.session_id, limit=200)
                group += [s for s in sessions[p.session_id] if s.phase == p.phase and s.id != p.id]
            metas = [prompt_meta(g) for g in group]
            if len(group) == 1 and not p.original_input:  # nothing to compare with: no embedding needed
                out[p.id] = feature_contexts([p.content], metas=metas)[0]
            else:
                out[p.id] = (await self._feature_contexts([g.content for g in group], p.original_input, metas))[0]
        return out

    async def _rated_examples(self, idea: str) -> list[ContextItem]:
        """For `generation.include_context`: the library prompts most similar to the idea (by embedding) whose
        average rating is at least `generation.context_min_rating`, as example context for the phases."""
        from prompt_alchemy.storage.feedback import average_ratings

        gen = self.settings.generation
        if not self.loaded.database_path.exists():
            return []
        reason = self.embedder.unavailable_reason()
        if reason is not None:
            _log.warning("include_context: no examples from the library: %s", reason)
            return []
        hits = await self.search(idea, mode="semantic", filters=SearchFilters(min_rating=gen.context_min_rating),
                                 limit=gen.context_examples)
        ratings = average_ratings(self.store, [h.prompt.id for h in hits])
        budget = gen.max_context_chars
        examples = []
        for hit in hits:
            text = hit.prompt.content[:_MAX_EXAMPLE_CHARS]
            if len(text) > budget:
                break
            budget -= len(text)
            avg, n = ratings.get(hit.prompt.id, (0.0, 0))
            examples.append(ContextItem(
                source=f"example from the library: prompt {hit.prompt.id[:8]}, rated {avg:.1f}/5 ({n} ratings)",
                content=text, context_type="example"))
        return examples

    @staticmethod
    def _check_score(score: Any) -> int:
        if isinstance(score, bool) or not isinstance(score, (int, float)) or score != int(score) \
                or not 1 <= score <= 5:
            raise InputError(f"the score must be a whole number from 1 to 5, got {score!r}")
        return int(score)

    @staticmethod
    def _check_source(source: str) -> str:
        from prompt_alchemy.models import FEEDBACK_SOURCES

        if source not in FEEDBACK_SOURCES:
            raise InputError(f"unknown feedback source '{source}'; use one of: {', '.join(FEEDBACK_SOURCES)}")
        return source

    def _feedback_prompt(self, prompt_id: str) -> Prompt:
        """The stored prompt that feedback is about; an unknown one is bad input and creates no database."""
        if not self.loaded.database_path.exists():
            raise InputError(f"no prompt with id '{prompt_id}' (the library is empty)")
        return self._prompt_argument(prompt_id)



def mask_prompt_secrets(prompts: list[Prompt]) -> None:
    """Mask every configured secret (API key) in the prompts' text before it is stored or printed."""
    from prompt_alchemy.models import content_hash

    for p in prompts:
        masked = mask_secrets(p.content)
        if masked != p.content:
            p.content, p.content_hash = masked, content_hash(masked)
        for name in ("title", "notes", "original_input"):
            value = getattr(p, name, None)
            if isinstance(value, str) and mask_secrets(value) != value:
                setattr(p, name, mask_secrets(value))
        for name in ("generation_request", "generation_context"):
            value = getattr(p, name, None)
            if value is not None:
                text = json.dumps(value)
                if mask_secrets(text) != text:
                    setattr(p, name, json.loads(mask_secrets(text)))


def mask_result_secrets(result: GenerationResult) -> GenerationResult:
    """The result with every configured secret masked: the prompts (content hashes follow) and everything said
    about them (ranking reasons quote the text)."""
    mask_prompt_secrets(result.prompts)
    dumped = result.model_dump_json()
    if mask_secrets(dumped) == dumped:
        return result
    masked = GenerationResult.model_validate_json(mask_secrets(dumped))
    return masked


def check_configuration(config_file: str | Path | None = None, env: Mapping[str, str] | None = None) -> list[str]:
    """Every problem in the configuration (file and environment), one line each."""
    return validate_config(config_file, env=os.environ if env is None else env)
