"""`completion/complete`: suggestions for the arguments a client is filling in, from the library.

- `ref/resource` `prompt://{prompt_id}`: prompt ids (prefix match) and labels.
- `ref/prompt` (a published prompt): its arguments are its template variables; nothing is stored about the values
  used before, so these complete to nothing (the argument must still be one of the prompt's).
- `ref/tool` (an extension: the protocol's references are prompts and resource templates only; a client that
  knows it can complete tool arguments): `id`-like arguments complete to prompt ids and labels, `tags` to the
  library's tags, `target_model`/`model` to the models in the library, and any argument whose schema lists its
  values (persona, phase, provider, mode, ...) to those values.

Every match is a case-insensitive prefix match; at most 100 values, with `total` and `hasMore`. An unknown prompt,
resource template, tool or argument is invalid params (-32602).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import mcp_types as types
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel, ConfigDict, ValidationError

from prompt_alchemy.errors import AlchemyError

if TYPE_CHECKING:
    from prompt_alchemy.services import AlchemyService

MAX_VALUES = 100  # the protocol's limit per answer
SCAN_LIMIT = 1000  # the most recent prompts read for ids, tags and models
ID_ARGUMENTS = frozenset({"id", "prompt_id", "parent_id", "a", "b", "a_id", "b_id"})
MODEL_ARGUMENTS = frozenset({"model", "target_model"})
TAG_ARGUMENTS = frozenset({"tag", "tags"})
RESOURCE_TEMPLATE = "prompt://{prompt_id}"


class ToolReference(BaseModel):
    """A reference to a tool (an extension of the protocol's prompt and resource-template references)."""

    model_config = ConfigDict(extra="allow")
    type: Literal["ref/tool"]
    name: str


class CompleteParams(types.CompleteRequestParams):
    ref: types.ResourceTemplateReference | types.PromptReference | ToolReference  # type: ignore[assignment]


def _invalid(message: str) -> MCPError:
    return MCPError(types.INVALID_PARAMS, message[:300])


def _matches(candidates: list[str], prefix: str) -> types.Completion:
    low = prefix.lower()
    values = list(dict.fromkeys(c for c in candidates if c and c.lower().startswith(low)))
    return types.Completion(values=values[:MAX_VALUES], total=len(values), has_more=len(values) > MAX_VALUES)


class Completer:
    """Answers `completion/complete` for one server; the library's vocabulary is read once per library version."""

    def __init__(self, server: Any, service: AlchemyService) -> None:
        self.server = server
        self.service = service
        self._vocabulary: tuple[int, dict[str, list[str]]] | None = None

    async def __call__(self, ctx: Any, params: CompleteParams) -> types.CompleteResult:
        ref, argument = params.ref, params.argument
        if isinstance(ref, types.ResourceTemplateReference):
            completion = await self._resource(ref.uri, argument)
        elif isinstance(ref, types.PromptReference):
            completion = await self._prompt(ref.name, argument)
        else:
            completion = await self._tool(ref.name, argument)
        return types.CompleteResult(completion=completion)

    async def _resource(self, uri: str, argument: types.CompletionArgument) -> types.Completion:
        if uri != RESOURCE_TEMPLATE:
            raise _invalid(f"Unknown resource template: {uri[:120]}; this server has {RESOURCE_TEMPLATE}")
        if argument.name != "prompt_id":
            raise _invalid(f"Unknown argument {argument.name[:60]!r} of {RESOURCE_TEMPLATE}; it has: prompt_id")
        return await self._ids(argument.value)

    async def _prompt(self, name: str, argument: types.CompletionArgument) -> types.Completion:
        from prompt_alchemy.mcp.prompts import _find

        fixed = self.server._prompt_manager.get_prompt(name)
        if fixed is not None:
            names = [a.name for a in fixed.arguments or ()]
        else:
            try:
                found = await _find(self.service, name)
            except AlchemyError:
                found = None
            if found is None:
                raise _invalid(f"Unknown prompt: {name[:80]}; list the prompts again (the top prompts change)")
            from prompt_alchemy.ranking.features import variable_names

            names = list(variable_names(found[0].content))
        if argument.name not in names:
            raise _invalid(
                f"Unknown argument {argument.name[:60]!r} of prompt {name[:80]}; it takes: "
                f"{', '.join(names) or 'no arguments'}"
            )
        return types.Completion(values=[], total=0, has_more=False)

    async def _tool(self, name: str, argument: types.CompletionArgument) -> types.Completion:
        tool = self.server._tool_manager.get_tool(name)
        if tool is None:
            raise _invalid(f"Unknown tool: {name[:80]}")
        properties = (tool.parameters or {}).get("properties", {})
        if argument.name not in properties:
            raise _invalid(
                f"Unknown argument {argument.name[:60]!r} of {name}; it takes: " f"{', '.join(sorted(properties))}"
            )
        if argument.name in ID_ARGUMENTS:
            return await self._ids(argument.value)
        if argument.name in TAG_ARGUMENTS or argument.name in MODEL_ARGUMENTS:
            vocabulary = await self.vocabulary()
            kind = "tags" if argument.name in TAG_ARGUMENTS else "models"
            return _matches(vocabulary[kind], argument.value)
        return _matches(_enum_values(properties[argument.name]), argument.value)

    async def _ids(self, prefix: str) -> types.Completion:
        vocabulary = await self.vocabulary()
        candidates = vocabulary["labels"] + vocabulary["ids"]
        completion = _matches(candidates, prefix)
        if not completion.values and len(prefix) >= 4:  # an older prompt than the ones read: ask the library
            try:
                full = await self.service.resolve_id(prefix)
            except AlchemyError:
                return completion
            return types.Completion(values=[full], total=1, has_more=False)
        return completion

    async def vocabulary(self) -> dict[str, list[str]]:
        """Labels, recent prompt ids, tags and models of the library (cached until the library changes)."""
        version = await self.service.library_version()
        if self._vocabulary is not None and self._vocabulary[0] == version:
            return self._vocabulary[1]
        words = await self._read_vocabulary()
        self._vocabulary = (version, words)
        return words

    async def _read_vocabulary(self) -> dict[str, list[str]]:
        prompts = await self.service.list_prompts(limit=SCAN_LIMIT)
        tags: dict[str, None] = {}
        models: dict[str, None] = {}
        for p in prompts:
            tags.update(dict.fromkeys(p.tags))
            if p.model:
                models[p.model] = None
        try:
            labels = sorted(str(row["name"]) for row in await self.service.list_labels())
        except AlchemyError:
            labels = []
        return {"ids": [p.id for p in prompts], "labels": labels, "tags": sorted(tags), "models": sorted(models)}


def _enum_values(schema: dict[str, Any]) -> list[str]:
    """The string values a JSON schema allows (through anyOf/oneOf and array items)."""
    values: list[str] = [str(v) for v in schema.get("enum", ()) if isinstance(v, str)]
    if isinstance(schema.get("const"), str):
        values.append(schema["const"])
    for key in ("anyOf", "oneOf"):
        for option in schema.get(key, ()):
            values.extend(_enum_values(option))
    if isinstance(schema.get("items"), dict):
        values.extend(_enum_values(schema["items"]))
    return values


def install(server: Any, service: AlchemyService) -> Completer:
    """Serve `completion/complete` on `server` (an MCPServer)."""
    completer = Completer(server, service)
    server._lowlevel_server.add_request_handler("completion/complete", CompleteParams, completer)

    async def tool_references(ctx: Any, call_next: Any) -> Any:
        """The SDK checks a spec method's params against the spec before any handler runs, which refuses a
        `ref/tool` reference; this middleware answers those requests itself."""
        params = ctx.params
        ref = params.get("ref") if isinstance(params, dict) else None
        if ctx.method != "completion/complete" or not isinstance(ref, dict) or ref.get("type") != "ref/tool":
            return await call_next(ctx)
        try:
            typed = CompleteParams.model_validate(params, by_name=False)
        except ValidationError as exc:
            raise _invalid(f"Invalid params: {exc.errors()[0].get('msg')}") from None
        return await completer(ctx, typed)

    server.middleware.append(tool_references)
    return completer
