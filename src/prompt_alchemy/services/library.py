"""The library: records, lineage, search (text, semantic, hybrid), updates, history, import and export."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from prompt_alchemy.errors import (
    ForbiddenError,
    InputError,
    MissingVariablesError,
    NotFoundError,
)
from prompt_alchemy.library import SEARCH_MODES
from prompt_alchemy.logging_setup import get_logger
from prompt_alchemy.models import (
    ContextItem,
    Feedback,
    ImportReport,
    Prompt,
    SearchFilters,
    SearchResult,
)
from prompt_alchemy.security import check_length, check_text, mask_secrets, write_text_atomically
from prompt_alchemy.services._common import (
    _IMPORT_BATCH,
    _MAX_CANDIDATES,
    _MAX_DEPTH,
    _MIN_PREFIX,
    check_page,
    guard_output_path,
    in_thread,
    mask_prompt_secrets,
)
from prompt_alchemy.services.access import AuditLog, Call, Written, audited
from prompt_alchemy.services.app import App
from prompt_alchemy.storage.labels import ID_LIKE, LATEST, NAME_PATTERN
from prompt_alchemy.tenancy import principal, role_at_least

_log = get_logger("services")

#: A prompt name or a label: a letter, then letters, digits, '.', '_' or '-' (at most 64 in all); never id-like.
LABEL_NAME = NAME_PATTERN
_ID_LIKE = ID_LIKE
#: Where a protected label may be moved from without an admin key: the local user, who says --force.
_LOCAL_SOURCES = ("cli", "viewer")


@dataclass
class RenderedPrompt:
    """A stored prompt with its variables filled (or its template, unfilled)."""

    prompt: Prompt
    text: str
    variables: list[str]
    values: dict[str, str]
    labels: list[str]
    #: The prompt's name and version, when it has a name.
    name: str | None = None
    version: int | None = None


def _updated(new: Prompt, call: Call) -> Written:
    fields = ",".join(k for k in ("content", "tags", "notes") if call[k] is not None)
    return [new.id, new.parent_id or call["prompt_id"]], f"changed {fields}"


def _prompt_target(call: Call) -> list[str]:
    return [call["prompt_id"]]


class LibraryService:
    """Read, search, change, import and export the prompt library."""

    def __init__(self, app: App, audit: AuditLog) -> None:
        self.app = app
        self.audit = audit

    # Query logic lives in storage/ (sqlite.py, vectors.py, transfer.py); this block orchestrates it.

    @in_thread
    def load_vector_index(self) -> dict[str, Any]:
        """Load (or reuse) the index for the configured embedder: its size, memory and load time."""
        import time

        start = time.perf_counter()
        index = self.app.library.vector_index()
        return {
            "model": index.model,
            "dimensions": index.dimensions,
            "vectors": len(index),
            "bytes": index.nbytes,
            "load_ms": round((time.perf_counter() - start) * 1000, 2),
        }

    def _known_dimensions(self) -> dict[str, set[int]]:
        """The vector lengths a labelled embedding model may have on import: its native size, the configured size
        of the configured model, and the sizes this library already stores for it."""
        from prompt_alchemy.config import DEFAULT_EMBEDDING_MODELS

        known: dict[str, set[int]] = {}
        for model, dims in DEFAULT_EMBEDDING_MODELS.values():
            known.setdefault(model, set()).add(dims)
        gen = self.app.settings.generation
        known.setdefault(gen.embedding_model, set()).add(gen.embedding_dimensions)
        if self.app.library_exists():
            for row in self.app.store.embedding_counts():
                if row["model"] and row["dimensions"]:
                    known.setdefault(row["model"], set()).add(int(row["dimensions"]))
        return known

    def check_writable(self) -> None:
        """Fail before any provider call or embedding when the library cannot be written (read-only, newer)."""
        from prompt_alchemy.errors import StorageError

        if self.app.library_exists() and self.app.store.write_refusal:
            raise StorageError(self.app.store.write_refusal)

    @in_thread
    def resolve_id(self, id_or_prefix: str) -> str:
        """The full id of the prompt named by `id_or_prefix` (see `lookup_id`)."""
        return self.lookup_id(id_or_prefix)

    @in_thread
    def get_prompt(self, id_or_prefix: str) -> Prompt:
        return self.lookup_prompt(id_or_prefix)

    def lookup_id(self, id_or_prefix: str) -> str:
        """The full id of the prompt named by `id_or_prefix`: its full id, a label (which points at one version), or
        a unique prefix of its id (like git's short hashes), in that order."""
        prefix = (id_or_prefix or "").strip()
        if not prefix:
            raise InputError("no prompt id given")
        check_text("prompt id", prefix)
        if "@" in prefix:
            return self._resolve_reference(prefix)
        rows = self.app.store.resolve_prefix(prefix, limit=_MAX_CANDIDATES + 1)
        if rows and rows[0]["id"] == prefix:
            return prefix
        if LABEL_NAME.match(prefix) and not _ID_LIKE.match(prefix):
            named = self.app.store.resolve_name(prefix)
            if named is not None:
                return named
            owners = self.app.store.label_owners(prefix)
            if len(owners) > 1:
                raise InputError(
                    f"the label '{prefix}' is on several prompt names ({', '.join(owners[:5])}); "
                    f"say which: {owners[0]}@{prefix}"
                )
            if owners:
                labelled = self.app.store.get_label(prefix, owners[0])
                if labelled is not None:
                    return labelled
        if len(prefix) < _MIN_PREFIX:
            raise InputError(f"prompt id prefix '{prefix}' is too short; give at least {_MIN_PREFIX} characters")
        if not rows:
            if _ID_LIKE.match(prefix):
                raise NotFoundError(f"no prompt with id '{prefix}' (see 'prompt-alchemy list')")
            raise NotFoundError(
                f"no prompt with id '{prefix}', nor a name or label of that name (see "
                f"'prompt-alchemy list' and 'prompt-alchemy label list')"
            )
        if len(rows) > 1:
            shown = "; ".join(
                f"{r['id']} ({r['phase'] or 'no phase'}: {(r['title'] or '')[:30]})" for r in rows[:_MAX_CANDIDATES]
            )
            more = " ..." if len(rows) > _MAX_CANDIDATES else ""
            raise NotFoundError(f"prompt id prefix '{prefix}' is ambiguous; candidates: {shown}{more}")
        return rows[0]["id"]

    def _resolve_reference(self, ref: str) -> str:
        """The id named by `NAME@LABEL`, `NAME@VERSION` or `NAME@latest`."""
        name, _, selector = ref.partition("@")
        self._prompt_name(name)
        if not selector:
            raise InputError(f"'{ref}' names no label or version after '@' (NAME@production, NAME@3)")
        if selector.isdigit():
            found = self.app.store.resolve_name(name, int(selector))
        elif selector == LATEST:
            found = self.app.store.resolve_name(name)
        else:
            found = self.app.store.get_label(self._label_name(selector), name)
        if found is not None:
            return found
        versions = self.app.store.name_versions(name)
        if not versions:
            raise NotFoundError(
                f"no prompt named '{name}' (see 'prompt-alchemy label list' or save one with "
                f"'prompt-alchemy save {name}')"
            )
        if selector.isdigit():
            raise NotFoundError(f"'{name}' has no version {selector} (it has versions 1-{versions[-1]['version']})")
        labels = sorted(row["name"] for row in self.app.store.list_labels(name))
        raise NotFoundError(
            f"'{name}' has no label '{selector}' (its labels: {', '.join(labels) or 'none'}; "
            f"'{name}@latest' is its newest version)"
        )

    def lookup_prompt(self, id_or_prefix: str) -> Prompt:
        prompt = self.app.store.get_prompt(self.lookup_id(id_or_prefix))
        if prompt is None:
            raise NotFoundError(f"no prompt with id '{id_or_prefix}'")
        return prompt

    # ------------------------------------------------------------------ using a prompt: its variables filled

    @in_thread
    def render_prompt(
        self,
        id_or_label: str,
        values: Mapping[str, str] | None = None,
        *,
        raw: bool = False,
        missing_hint: str = "",
        strict: bool = True,
    ) -> RenderedPrompt:
        """The prompt named by an id, prefix or label with its ``{name}`` / ``{{name}}`` variables filled from
        `values`. Every variable needs a value (MissingVariablesError names each missing one); with `strict`, a
        value for a name the prompt does not use is bad input too. `raw` returns the template unfilled."""
        from prompt_alchemy.ranking.features import fill_variables, variable_names

        prompt = self.lookup_prompt(id_or_label)
        names = variable_names(prompt.content)
        values = dict(values or {})
        labels = self.app.store.labels_for([prompt.id]).get(prompt.id, [])
        named = self.app.store.names_for([prompt.id]).get(prompt.id)
        prompt_name, version = named if named else (None, None)
        if raw:
            return RenderedPrompt(prompt, prompt.content, names, {}, labels, prompt_name, version)
        unknown = [k for k in values if k not in names]
        if strict and unknown:
            known = f"its variables are: {', '.join(names)}" if names else "it has no variables"
            raise InputError(
                f"prompt {prompt.id[:8]} has no variable{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(unknown)}; {known}"
            )
        missing = [n for n in names if n not in values]
        if missing:
            raise MissingVariablesError(missing, missing_hint)
        for name, value in values.items():
            check_length(f"the value of {name}", value, self.app.settings.generation.max_idea_length * 10)
        return RenderedPrompt(
            prompt,
            fill_variables(prompt.content, values),
            names,
            {k: v for k, v in values.items() if k in names},
            labels,
            prompt_name,
            version,
        )

    async def use_prompt(
        self, id_or_label: str, values: Mapping[str, str] | None = None, *, raw: bool = False, missing_hint: str = ""
    ) -> RenderedPrompt:
        """A prompt rendered for use (`prompt-alchemy use`, MCP `prompts/get`): `render_prompt`, then one more use
        counted on the prompt (its usage_count and last_used_at). A render that fails counts nothing."""
        rendered = await self.render_prompt(id_or_label, values, raw=raw, missing_hint=missing_hint)
        await asyncio.to_thread(self._count_use, rendered.prompt.id)
        return rendered

    def _count_use(self, prompt_id: str) -> None:
        """Count a use; a library this process may not write (read-only, newer schema) or a failed write leaves the
        count as it was and the use goes on."""
        from prompt_alchemy.errors import StorageError
        from prompt_alchemy.models import utcnow

        if self.app.store.write_refusal:
            _log.debug("use of %s not counted: %s", prompt_id, self.app.store.write_refusal)
            return
        try:
            self.app.store.record_use(prompt_id, utcnow())
        except StorageError as exc:
            _log.warning("use of %s not counted: %s", prompt_id[:8], exc)

    # ------------------------------------------------------------------ names and labels

    def _label_name(self, name: str) -> str:
        name = (name or "").strip()
        if not LABEL_NAME.match(name):
            raise InputError(
                f"invalid label '{name[:80]}': use 1-64 letters, digits, '.', '_' or '-', starting " f"with a letter"
            )
        if _ID_LIKE.match(name):
            raise InputError(
                f"invalid label '{name}': it could be read as a prompt id prefix; use a name with a "
                f"letter after 'f' (production, staging, v2-draft)"
            )
        if name == LATEST:
            raise InputError("'latest' is implicit (the newest version of a name); it cannot be set or removed")
        return name

    def _prompt_name(self, name: str) -> str:
        name = (name or "").strip()
        if not LABEL_NAME.match(name) or _ID_LIKE.match(name):
            raise InputError(
                f"invalid prompt name '{name[:80]}': use 1-64 letters, digits, '.', '_' or '-', "
                f"starting with a letter, not readable as an id prefix (movie-critic, summarizer)"
            )
        return name

    def _check_protected(self, label: str, source: str, force: bool, project: str | None = None) -> None:
        """Refuse to move a protected label of `project` (None: the caller's) unless the caller may: a caller of a
        project (a key, a signed-in person over REST, MCP or the team server's viewer) when their role there is
        admin or owner; the local user (CLI, the local viewer) with `force`; over a key-less server, nobody."""
        if label not in self.app.store.protected_labels(project):
            return
        caller = principal.get()
        if caller is not None:  # a key or a signed-in person of a project: their role there decides
            if role_at_least(caller.role, "admin"):
                return
            raise ForbiddenError(
                f"the label '{label}' is protected; only an admin or owner of the project '{caller.project_id}' "
                f"may move it (you are a {caller.role})"
            )
        if source in _LOCAL_SOURCES:
            if force:
                return
            raise ForbiddenError(f"the label '{label}' is protected; moving it needs --force")
        actor = self.audit.actor()
        keys = {k["name"]: k["scope"] for k in self.app.store.list_api_keys()}
        if keys.get(actor) != "admin":
            raise ForbiddenError(f"the label '{label}' is protected; only an admin key may move it")

    def _label_target(self, ref: str, version: int | None) -> str:
        """The id a label is set on: `ref` a name (with `version`, else its latest), or any prompt reference."""
        ref = (ref or "").strip()
        if "@" not in ref and LABEL_NAME.match(ref) and not _ID_LIKE.match(ref):
            found = self.app.store.resolve_name(ref, version)
            if found is not None:
                return found
            if version is not None and self.app.store.resolve_name(ref) is not None:
                return self.lookup_id(f"{ref}@{version}")  # names the versions it has
        if version is not None:
            if "@" in ref or self.app.store.resolve_prefix(ref, limit=1):
                raise InputError("a VERSION goes with a prompt name (label set NAME LABEL VERSION), not an id")
            raise NotFoundError(f"no prompt named '{ref}' (save one with 'prompt-alchemy save {ref}')")
        return self.lookup_id(ref)

    def _version_of(self, prompt_id: str | None) -> int | None:
        if prompt_id is None:
            return None
        named = self.app.store.names_for([prompt_id]).get(prompt_id)
        return named[1] if named else None

    # Deletes, label changes and imports commit their audit rows in the write's own transaction (an AuditNote
    # handed to the store): of many concurrent deletes each has its row, and a killed import leaves no written row
    # without one. Their decorators record only failures.

    @audited("label.set", targets=_prompt_target, failures=False)
    @in_thread
    def set_label(
        self, prompt_id: str, name: str, *, version: int | None = None, source: str = "cli", force: bool = False
    ) -> dict[str, Any]:
        """Point the label `name` of a prompt name at one version: `prompt_id` is the name (with `version`, else
        its latest) or any prompt reference (an unnamed prompt is named first, from its title, idea or text).
        Labels of other names never move. The move is recorded in the label's history and the audit log, in the
        move's transaction. Returns {name, prompt_name, version, prompt_id, previous_id, previous_version,
        changed}."""
        from prompt_alchemy.models import utcnow

        name = self._label_name(name)
        full = self._label_target(prompt_id, version)
        target = self.app.store.get_prompt(full)  # the label is the prompt's project's, wherever the caller works
        self._check_protected(name, source, force, target.project_id if target is not None else None)
        self.check_writable()
        previous = self.app.store.set_label(
            name,
            full,
            utcnow(),
            actor=self.audit.actor(),
            source=source,
            audit=self.audit.note("label.set", f"label={name} source={source}"),
        )
        owner, at = self.app.store.names_for([full])[full]
        moved = previous if previous != full else None
        return {
            "name": name,
            "prompt_name": owner,
            "version": at,
            "prompt_id": full,
            "previous_id": moved,
            "previous_version": self._version_of(moved),
            "changed": previous != full,
        }

    def _label_owner(self, name: str, prompt_name: str | None) -> str:
        if prompt_name:
            return self._prompt_name(prompt_name)
        owners = self.app.store.label_owners(name)
        if len(owners) > 1:
            raise InputError(
                f"the label '{name}' is on several prompt names ({', '.join(owners[:5])}); say which: "
                f"label rm {owners[0]} {name}"
            )
        if not owners:
            raise NotFoundError(f"no label named '{name[:80]}' (see 'prompt-alchemy label list')")
        return owners[0]

    @audited("label.remove", failures=False)
    @in_thread
    def remove_label(
        self, name: str, *, prompt_name: str | None = None, source: str = "cli", force: bool = False
    ) -> dict[str, Any]:
        """Remove the label `name` of `prompt_name` (None: of the only name that has it); the version it pointed at
        is kept and the removal is recorded."""
        from prompt_alchemy.models import utcnow

        name = check_text("label", (name or "").strip()) or ""
        owner = self._label_owner(name, prompt_name)
        self._check_protected(name, source, force)
        self.check_writable()
        previous = self.app.store.remove_label(
            name,
            utcnow(),
            actor=self.audit.actor(),
            source=source,
            prompt_name=owner,
            audit=self.audit.note("label.remove", f"label={name[:80]} " f"name={owner} source={source}"),
        )
        if previous is None:
            raise NotFoundError(f"'{owner}' has no label '{name[:80]}' (see 'prompt-alchemy label list')")
        return {"name": name, "prompt_name": owner, "prompt_id": previous}

    @audited("label.protect", failures=False)
    @in_thread
    def protect_label(self, name: str, protected: bool = True) -> dict[str, Any]:
        """Protect a label for every prompt name (or lift the protection): a protected label moves only with
        --force locally, or with an admin key over REST and MCP."""
        from prompt_alchemy.models import utcnow

        name = self._label_name(name)
        self.check_writable()
        changed = self.app.store.protect_label(
            name,
            protected,
            utcnow(),
            audit=self.audit.note("label.protect", f"label={name} protected={str(protected).lower()}"),
        )
        return {"name": name, "protected": protected, "changed": changed}

    @in_thread
    def protected_labels(self) -> list[str]:
        return self.app.store.protected_labels() if self.app.library_exists() else []

    @in_thread
    def list_labels(self, prompt_name: str | None = None) -> list[dict[str, Any]]:
        """Every label with the version it points at (prompt_name, name, prompt_id, version, protected,
        updated_at, title, phase, content)."""
        if not self.app.library_exists():
            return []
        labels = self.app.store.list_labels(self._prompt_name(prompt_name) if prompt_name else None)
        prompts = self.app.store.get_prompts([row["prompt_id"] for row in labels])
        out = []
        for row in labels:
            p = prompts.get(row["prompt_id"])
            out.append(
                {
                    **row,
                    "title": p.title if p else None,
                    "phase": p.phase.value if p and p.phase else None,
                    "content": p.content if p else None,
                }
            )
        return out

    @in_thread
    def label_history(
        self, name: str | None = None, limit: int = 100, *, prompt_name: str | None = None
    ) -> list[dict[str, Any]]:
        """Every change of one label (or of all; of one prompt name), newest first."""
        check_page(limit)
        if not self.app.library_exists():
            return []
        return self.app.store.label_history(
            check_text("label", name.strip()) if name else None,
            limit,
            prompt_name=check_text("name", prompt_name.strip()) if prompt_name else None,
        )

    @in_thread
    def label_target(self, name: str) -> str | None:
        """The id a name, `NAME@LABEL`, `NAME@VERSION` or a label on one name only points at, or None."""
        try:
            return self.lookup_id(name) if (name or "").strip() and not _ID_LIKE.match(name) else None
        except (InputError, NotFoundError):
            return None

    # ------------------------------------------------------------------ named prompts: versions

    async def save_version(
        self, name: str, text: str, *, title: str | None = None, tags: list[str] | None = None, source: str = "cli"
    ) -> dict[str, Any]:
        """Store hand-written `text` as the next version of `name` (version 1 of a new name), linked to the previous
        version as an edit and embedded when the embedder is available; audited in the write's transaction."""
        from prompt_alchemy.models import content_hash, utcnow

        name = self._prompt_name(name)
        check_text("content", text)
        content = (text or "").strip()
        if not content:
            raise InputError("the prompt text is empty")
        check_length("the prompt text", content, self.app.settings.generation.max_idea_length * 10)
        check_text("title", title)
        self.check_writable()
        content = mask_secrets(content)
        previous_id = await asyncio.to_thread(self.app.store.resolve_name, name)
        now = utcnow()
        prompt = Prompt(
            content=content,
            content_hash=content_hash(content),
            title=(title or "").strip() or name,
            tags=list(dict.fromkeys(t.strip() for t in tags or [] if t.strip())),
            source_type="manual",
            parent_id=previous_id,
            enhancement_method="edit" if previous_id else None,
            created_at=now,
            updated_at=now,
        )
        await self._embed(prompt)
        version = await asyncio.to_thread(
            self.app.store.save_version, prompt, name, audit=self.audit.note("save", f"name={name} source={source}")
        )
        return {"name": name, "version": version, "prompt_id": prompt.id, "previous_id": previous_id}

    async def _embed(self, prompt: Prompt) -> None:
        embedder = self.app.embedder
        reason = embedder.unavailable_reason()
        if reason is None:
            prompt.set_embedding((await self.app.library.embed_texts([prompt.content]))[0], embedder)
        else:
            _log.warning("the new version is not embedded: %s", reason)
            prompt.set_embedding(None, embedder)

    @in_thread
    def name_versions(self, name: str) -> dict[str, Any]:
        """A name's versions (oldest first, each with its labels) and its labels."""
        name = self._prompt_name(name)
        versions = self.app.store.name_versions(name) if self.app.library_exists() else []
        if not versions:
            raise NotFoundError(f"no prompt named '{name}' (save one with 'prompt-alchemy save {name}')")
        labels = self.app.store.labels_for([v["prompt_id"] for v in versions])
        return {
            "name": name,
            "latest": versions[-1]["version"],
            "versions": [{**v, "labels": labels.get(v["prompt_id"], [])} for v in versions],
            "labels": self.app.store.list_labels(name),
        }

    @in_thread
    def list_names(self) -> list[dict[str, Any]]:
        return self.app.store.list_names() if self.app.library_exists() else []

    @in_thread
    def names_for(self, ids: list[str]) -> dict[str, tuple[str, int]]:
        """The (name, version) of each of `ids` that has a name."""
        return self.app.store.names_for(list(ids)) if ids and self.app.library_exists() else {}

    @in_thread
    def get_prompts(self, ids: list[str]) -> dict[str, Prompt]:
        """The stored prompts of `ids` by id (unknown ids are left out)."""
        return self.app.store.get_prompts(list(ids)) if ids else {}

    @in_thread
    def labels_for(self, ids: list[str]) -> dict[str, list[str]]:
        """The labels pointing at each of `ids` (those that have any)."""
        return self.app.store.labels_for(list(ids)) if ids else {}

    @in_thread
    def get_context(self, prompt_id: str) -> list[ContextItem]:
        return self.app.store.get_context(self.lookup_id(prompt_id))

    @in_thread
    def lineage(self, prompt_id: str) -> dict[str, list[Prompt]]:
        """Ancestors (root first) and descendants (breadth first) of a prompt."""
        full = self.lookup_id(prompt_id)
        return {"ancestors": self.app.store.ancestors(full), "descendants": self.app.store.descendants(full)}

    @in_thread
    def list_prompts(self, filters: SearchFilters | None = None, limit: int = 20, offset: int = 0) -> list[Prompt]:
        """The library, most recent first, `limit` at a time from `offset`."""
        check_page(limit, offset)
        return self.app.store.list_prompts(filters=filters, limit=limit, offset=offset)

    @in_thread
    def count_prompts(self, filters: SearchFilters | None = None) -> int:
        return self.app.store.count_matching(filters)

    @in_thread
    def embedding_mismatch(self) -> str | None:
        """Why a search by meaning finds nothing when the library's vectors come from another embedder than the
        configured one (they are never mixed), and what to run; None when the embedder's own vectors are there
        or the library holds none."""
        if not self.app.library_exists():
            return None
        embedder = self.app.embedder
        counts = [r for r in self.app.store.embedding_counts() if r["model"]]
        if not counts or any(r["model"] == embedder.model and r["dimensions"] == embedder.dimensions for r in counts):
            return None
        other = ", ".join(
            f"{r['prompts']} with {r['provider'] or '?'}/{r['model']} ({r['dimensions']}-d)" for r in counts
        )
        return (
            f"the library's prompts are embedded by another model ({other}), the embedder is now "
            f"{embedder.provider}/{embedder.model} ({embedder.dimensions}-d), and the two are never mixed: "
            f"run 'prompt-alchemy reembed' to embed them with it"
        )

    async def search(
        self, query: str, *, mode: str = "hybrid", filters: SearchFilters | None = None, limit: int = 10
    ) -> list[SearchResult]:
        """Find prompts by words, by meaning or both fused (see :meth:`Library.search`), after checking the
        request."""
        import time

        from prompt_alchemy import telemetry

        query = (query or "").strip()
        if not query:
            raise InputError("the search query is empty")
        if mode not in SEARCH_MODES:
            raise InputError(f"unknown search mode '{mode}'; use one of: {', '.join(SEARCH_MODES)}")
        check_page(limit)
        check_length("the search query", query, self.app.settings.generation.max_idea_length)
        check_text("search query", query)
        started = time.perf_counter()
        with telemetry.span("search", **{"prompt_alchemy.search.mode": mode}):
            results = await self.app.library.search(query, mode, filters or SearchFilters(), limit)
        telemetry.observe_search(mode, time.perf_counter() - started)
        return results

    @audited("update", targets=_prompt_target, written=_updated)
    async def update_prompt(
        self, prompt_id: str, *, content: str | None = None, tags: list[str] | None = None, notes: str | None = None
    ) -> Prompt:
        """A new version linked to the old one by parent_id (the old one is kept), re-embedded."""
        from prompt_alchemy.models import content_hash, new_id, utcnow

        if content is None and tags is None and notes is None:
            raise InputError("nothing to update; give new content, tags or notes")
        check_text("content", content)
        check_text("notes", notes)
        for tag in tags or []:
            check_text("tags", tag)
        if content is not None:
            content = content.strip()
            if not content:
                raise InputError("the new content is empty")
            check_length("the content", content, self.app.settings.generation.max_idea_length)
        old = await self.get_prompt(prompt_id)
        self.check_writable()
        new_content = old.content if content is None else mask_secrets(content)
        clean_tags = old.tags if tags is None else list(dict.fromkeys(t.strip() for t in tags if t.strip()))
        now = utcnow()
        new = old.model_copy(
            update={
                "id": new_id(),
                "content": new_content,
                "content_hash": content_hash(new_content),
                "tags": clean_tags,
                "notes": old.notes if notes is None else (notes.strip() or None),
                "parent_id": old.id,
                "enhancement_method": "edit",
                "created_at": now,
                "updated_at": now,
                "usage_count": 0,
                "generation_count": 0,
                "last_used_at": None,
                "input_tokens": 0,
                "output_tokens": 0,
                "actual_tokens": 0,
                "cost_usd": 0.0,
                "latency_ms": 0.0,
                "score": old.score if new_content == old.content else None,
            }
        )
        embedder = self.app.embedder
        current = old.embedding_model == embedder.model and old.embedding_dim == embedder.dimensions
        if new_content != old.content or not current:
            reason = embedder.unavailable_reason()
            if reason is None:
                new.set_embedding((await self.app.library.embed_texts([new_content]))[0], embedder)
            else:
                _log.warning("the new version is not embedded: %s", reason)
                new.set_embedding(None, embedder)
        named = await asyncio.to_thread(self.app.store.names_for, [old.id])
        if old.id in named:  # an edit of a named prompt is the name's next version
            await asyncio.to_thread(self.app.store.save_version, new, named[old.id][0])
        else:
            await asyncio.to_thread(self.app.store.save_session, [new])
        return new

    @in_thread
    def history(self, prompt_id: str) -> list[Prompt]:
        """Every version of a prompt, oldest first: the original and each edit made from it."""
        root = self.lookup_prompt(prompt_id)
        for _ in range(_MAX_DEPTH):
            if root.enhancement_method != "edit" or not root.parent_id:
                break
            parent = self.app.store.get_prompt(root.parent_id)
            if parent is None:
                break
            root = parent
        return [root] + self.app.store.descendants(root.id, edits_only=True)

    @audited("delete", targets=_prompt_target)
    @in_thread
    def delete_prompt(self, prompt_id: str) -> None:
        """Delete a prompt with its vector, context, metrics and feedback rows; its children are relinked to its
        parent and keep working. The audit row commits with the delete. A prompt that another request (or another
        server) deleted in the meantime is not found: of concurrent deletes, one succeeds."""
        full = self.lookup_id(prompt_id)
        if not self.app.store.delete_prompts([full], audit=self.audit.note("delete")):
            raise NotFoundError(f"no prompt with id '{full}' (it was deleted)")

    @audited("import")
    async def import_prompts(
        self, path: str | Path, fmt: str | None = None, progress: Callable[[int, int], None] | None = None
    ) -> ImportReport:
        """Import JSON, JSONL or CSV (including the awesome-chatgpt-prompts layout). Malformed rows are reported
        by line and skipped; duplicates by content hash are skipped and counted; valid rows are embedded (unless
        they carry vectors, or say `"embedding": null` as exports do) and written in batches, one transaction
        per batch, each with its audit row naming the ids it wrote (so that a killed import leaves no row without
        one). Labels the rows carry are set afterwards, each move audited as a label move; a last audit row sums
        the import up, with the labels it moved."""
        import time

        started = time.perf_counter()
        report, rows, fresh, remap, rejected = await asyncio.to_thread(self._plan_import, path, fmt)
        embedder = self.app.embedder
        reason = embedder.unavailable_reason()
        if reason is not None and any(r.embed for r in fresh):
            report.warnings.append(f"imported without embeddings: {reason}")
        else:
            report.embedding_model = embedder.model
        total = len(fresh)
        if progress:
            progress(0, total)
        batches = [fresh[start : start + _IMPORT_BATCH] for start in range(0, total, _IMPORT_BATCH)]
        todos = [[r.prompt for r in batch if r.embed] if reason is None else [] for batch in batches]

        def embedding(i: int) -> asyncio.Task | None:
            if i >= len(batches) or not todos[i]:
                return None
            return asyncio.ensure_future(self.app.library.embed_texts([p.content for p in todos[i]]))

        pending = embedding(0)
        try:
            for i, batch in enumerate(batches):
                if pending is not None:
                    vectors = await pending
                    for prompt, vector in zip(todos[i], vectors):
                        prompt.set_embedding(vector, embedder)
                    report.embedded += len(todos[i])
                pending = embedding(i + 1)  # the next batch embeds while this one is written
                contexts = {r.prompt.id: r.context for r in batch if r.context}
                # the content check runs again inside the write transaction: another process may have imported
                # the same rows since this one looked
                note = self.audit.note("import", f"batch {i + 1}/{len(batches)} format={report.format}")
                inserted, duplicates, clashes = await asyncio.to_thread(
                    functools.partial(
                        self.app.store.insert_new_prompts, [r.prompt for r in batch], contexts, remap, audit=note
                    )
                )
                report.imported += len(inserted)
                report.duplicates += len(duplicates)
                for r in batch:
                    if r.prompt.id in clashes:
                        rejected.add(r.prompt.id)
                        report.errors.append(f"{r.where}: id {r.prompt.id} already exists with different content")
                        report.failed += 1
                if progress:
                    progress(report.imported, total)
        finally:
            if pending is not None and not pending.done():
                pending.cancel()
        kept = [r for r in rows if r.prompt.id not in rejected]
        await asyncio.to_thread(self._import_names, kept, remap, report)
        await asyncio.to_thread(self._import_ratings, kept, remap)
        moved = await asyncio.to_thread(self._import_labels, kept, remap, report)
        await asyncio.to_thread(self._audit_import, report, moved)
        report.wall_ms = round((time.perf_counter() - started) * 1000, 1)
        return report

    def _audit_import(self, report: ImportReport, moved: list[str]) -> None:
        """The import's closing audit row: its counts and the labels it set or moved (each also has a label.set
        row of its own). Its batches' rows, naming the ids written, are committed already."""
        from prompt_alchemy.models import utcnow

        note = self.audit.note(
            "import",
            f"done imported={report.imported} duplicates={report.duplicates} "
            f"failed={report.failed} format={report.format} "
            f"labels={','.join(dict.fromkeys(moved)) or '-'}",
        )
        self.app.store.append_audit(
            actor=note.actor, action=note.action, targets=[], outcome="ok", detail=note.detail, when=utcnow()
        )

    def _plan_import(
        self, path: str | Path, fmt: str | None
    ) -> tuple[ImportReport, list, list, dict[str, str], set[str]]:
        """Read and check the file: (the report so far, every valid row, the rows to write with parents first,
        the ids of rows whose content the library holds already mapped to the stored ids, the ids not written)."""
        from prompt_alchemy.storage.transfer import read_prompt_file

        self.check_writable()
        fmt, rows, errors, seen = read_prompt_file(path, fmt, dimensions=self._known_dimensions())
        report = ImportReport(path=str(path), format=fmt, rows=seen, errors=errors, failed=len(errors))
        first_seen: dict[str, str] = {}
        unique_rows = []
        for row in rows:  # an id given twice in one file is an error, not a silent drop
            if row.prompt.id in first_seen:
                report.errors.append(
                    f"{row.where}: id {row.prompt.id} is already used by " f"{first_seen[row.prompt.id]} of this file"
                )
                report.failed += 1
                continue
            first_seen[row.prompt.id] = row.where
            unique_rows.append(row)
        rows = unique_rows
        mask_prompt_secrets([r.prompt for r in rows])
        by_hash = self.app.store.ids_by_hash() if self.app.library_exists() else {}
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
        taken = self.app.store.existing_ids(r.prompt.id for r in fresh)
        rejected = set(taken)  # rows not written: their labels are not applied either
        if taken:
            for row in [r for r in fresh if r.prompt.id in taken]:
                report.errors.append(f"{row.where}: id {row.prompt.id} already exists with different content")
                report.failed += 1
            fresh = [r for r in fresh if r.prompt.id not in taken]
        fresh = self._parents_first(fresh, remap, report)
        return report, rows, fresh, remap, rejected

    def _import_names(self, rows: list, remap: dict[str, str], report: ImportReport) -> None:
        """Give each stored row its name and version from the file, in version order (before its labels, which
        belong to the name). A version the library holds already for another prompt becomes the name's next
        version, with a warning; a prompt that has a name here keeps it."""
        named = sorted((r for r in rows if r.name), key=lambda r: (r.name, r.version or 0))
        stored = self.app.store.existing_ids([remap.get(r.prompt.id, r.prompt.id) for r in named])
        for row in named:
            target = remap.get(row.prompt.id, row.prompt.id)
            if target not in stored:
                continue
            if not LABEL_NAME.match(row.name) or _ID_LIKE.match(row.name):
                report.warnings.append(
                    f"{row.where}: name '{row.name[:80]}' is not a valid prompt name; " f"imported without it"
                )
                continue
            got = self.app.store.assign_name(target, row.name, version=row.version)
            if got is not None and got[0] == row.name and row.version is not None and got[1] != row.version:
                report.warnings.append(
                    f"{row.where}: {row.name}@{row.version} is another prompt here; imported " f"as {row.name}@{got[1]}"
                )

    def _import_ratings(self, rows: list, remap: dict[str, str]) -> int:
        """Store the ratings the rows carry on the row's prompt (or the stored copy of its content); a rating
        already here (same id) is not stored twice. Returns how many were stored."""
        stored = 0
        for row in rows:
            target = remap.get(row.prompt.id, row.prompt.id)
            if not row.ratings or not self.app.store.existing_ids([target]):
                continue
            have = {f.id for f in self.app.store.list_feedback(prompt_id=target, limit=100_000)}
            fresh = [f.model_copy(update={"prompt_id": target}) for f in row.ratings if f.id not in have]
            if fresh:
                self.app.store.insert_feedback(fresh)
                stored += len(fresh)
        return stored

    def _import_labels(self, rows: list, remap: dict[str, str], report: ImportReport) -> list[str]:
        """Point each label a row carries at the row's prompt (or the stored copy of its content); a label that
        points elsewhere here is moved, and the move recorded (history and audit) like any other. Returns the
        names of the labels set or moved."""
        from prompt_alchemy.models import utcnow

        moved: list[str] = []
        stored = self.app.store.existing_ids([remap.get(r.prompt.id, r.prompt.id) for r in rows if r.labels])
        for row in rows:
            target = remap.get(row.prompt.id, row.prompt.id)
            for name in row.labels:
                if target not in stored:
                    continue
                if not LABEL_NAME.match(name) or _ID_LIKE.match(name):
                    report.warnings.append(f"{row.where}: label '{name[:80]}' is not a valid label name; skipped")
                    continue
                previous = self.app.store.set_label(
                    name,
                    target,
                    utcnow(),
                    actor=self.audit.actor(),
                    source="import",
                    audit=self.audit.note("label.set", f"label={name} source=import"),
                )
                if previous not in (None, target):
                    report.warnings.append(f"{row.where}: label '{name}' moved from {previous} to {target}")
                if previous != target:
                    report.labels += 1
                    moved.append(name)
        return moved

    def _parents_first(self, rows: list, remap: dict[str, str], report: ImportReport) -> list:
        """Order rows so that every parent is written before its children; a parent found neither in the file
        nor in the library is dropped from the row (with a warning), and cycles are rejected."""
        by_id = {r.prompt.id: r for r in rows}
        for r in rows:
            parent = r.prompt.parent_id
            if parent is not None and parent in remap:
                r.prompt.parent_id = parent = remap[parent]
            if parent is not None and parent not in by_id and parent not in self.app.store.existing_ids([parent]):
                report.warnings.append(
                    f"{r.where}: parent {parent} is not in the file or the library; " f"imported without it"
                )
                r.prompt.parent_id = None
        ordered: list = []
        state: dict[str, str] = {}
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

    @in_thread
    def export_prompts(
        self,
        path: str | Path | IO[str],
        fmt: str | None = None,
        filters: SearchFilters | None = None,
        force: bool = False,
    ) -> int:
        """Write the matching prompts (oldest first) as JSONL, JSON, Markdown or text to a file (never over an
        existing one unless `force`; written beside it and renamed into place) or an open stream."""

        from prompt_alchemy.storage.transfer import (
            EXPORT_FORMATS,
            PromptWriter,
            normalize_format,
        )

        if not isinstance(path, (str, Path)):  # an open stream
            return self._write_export(
                path, normalize_format(fmt, None, EXPORT_FORMATS, "export"), filters, PromptWriter
            )
        chosen = normalize_format(fmt, path, EXPORT_FORMATS, "export")
        target = guard_output_path(self.app.loaded, path, force=force, what="export file")
        return write_text_atomically(
            target, lambda fh: self._write_export(fh, chosen, filters, PromptWriter), what="export file"
        )

    def _ratings_of(self, ids: list[str]) -> dict[str, list[Feedback]]:
        """The ratings of each of `ids` that has any, oldest first."""
        rated = self.app.store.average_ratings(ids)
        return {
            i: sorted(
                self.app.store.list_feedback(prompt_id=i, kind="rating", limit=rated[i][1] + 10),
                key=lambda f: (f.created_at, f.id),
            )
            for i in ids
            if i in rated
        }

    def _write_export(self, stream: IO[str], fmt: str, filters: SearchFilters | None, writer_cls) -> int:
        from prompt_alchemy.storage.transfer import Extras

        page: list[Prompt] = []
        with writer_cls(stream, fmt) as writer:

            def flush() -> None:
                ids = [p.id for p in page]
                full = fmt in ("json", "jsonl")
                contexts = self.app.store.contexts_for(ids) if full else {}
                labels = self.app.store.labels_for(ids)
                names = self.app.store.names_for(ids)
                ratings = self._ratings_of(ids) if fmt != "text" else {}
                for p in page:
                    writer.write(
                        p,
                        Extras(
                            context=contexts.get(p.id),
                            labels=labels.get(p.id),
                            named=names.get(p.id),
                            ratings=ratings.get(p.id),
                        ),
                    )
                page.clear()

            for prompt in self.app.store.iter_prompts(filters):
                page.append(prompt)
                if len(page) >= 500:
                    flush()
            flush()
        return writer.count

    @in_thread
    def metrics_report(self, since: Any = None, phase: str | None = None, provider: str | None = None) -> dict:
        """What the tool has done: prompts by phase, provider, model, persona and day; tokens and cost; per-phase
        generation latency p50/p95; provider latency and error rates; database size."""
        from prompt_alchemy.models import Phase, parse_when

        try:
            when = parse_when(since)
            phase_name = Phase.parse(phase).value if phase else None
        except ValueError as exc:
            raise InputError(str(exc)) from None
        report = self.app.store.metrics_summary(since=when, phase=phase_name, provider=provider)
        report["filters"] = {"since": when.isoformat() if when else None, "phase": phase_name, "provider": provider}
        report["database"] = {"path": str(self.app.store.path), **self.app.store.file_sizes()}
        return report

    @in_thread
    def library_version(self) -> int:
        """A number that changes when the library changes: with every commit from any connection when the store
        can tell (SQLite), else with other processes' commits. What a server polls to tell its clients."""
        generation = getattr(self.app.store, "generation", None)  # not in the Store protocol: SQLite only
        return int(generation()) if callable(generation) else self.app.store.data_version()

    @in_thread
    def top_prompts(self, limit: int = 20) -> list[Prompt]:
        """The best prompts first: by average feedback rating where rated, then by ranking score."""
        return self.app.store.top_prompts(limit)
