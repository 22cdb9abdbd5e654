"""Property-based fuzzing of the CLI's input surface (ideas, filters, ids, import rows, config values) and of the
MCP tools' arguments. Whatever comes in: exit code 0, 1 or 2; a failure is one line on stderr; never a
traceback or an "unexpected" error; and bad input (exit 2) changes nothing in the library."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safety_kit import library_state, run_inproc

FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SCRIPTED = ("--provider", "scripted", "--count", "1")
# what argv can carry: no NUL; lone surrogates only as surrogateescape'd bytes
ARG = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40) | st.sampled_from(
    [
        "",
        "-",
        "--",
        "0",
        "-1",
        "1e999",
        "nan",
        "99999999d",
        "9999-12-31",
        "0001-01-01",
        "0001-01-01T00:00:00+05:00",
        "10" * 15,
        "../../etc/passwd",
        "/dev/zero",
        "/proc/self/mem",
        "\udcff\udcfe",
        "' OR 1=1 --",
        '"unterminated',
        "NEAR(a b)",
        "*",
    ]
)


@pytest.fixture
def library(home):
    run = run_inproc("generate", "seed idea for fuzzing", *SCRIPTED)
    assert run.code == 0, run.err
    return home


def check(run, home, before: str) -> None:
    assert run.code in (0, 1, 2), (run.code, run.err)
    assert "Traceback" not in run.err and "error: unexpected" not in run.err, run.err
    if run.code != 0:
        lines = run.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), run.err
    if run.code == 2:
        assert library_state(home) == before, run.err


@FUZZ
@given(idea=ARG, persona=ARG, phases=ARG, tags=ARG)
def test_generate_inputs(library, idea, persona, phases, tags):
    before = library_state(library)
    run = run_inproc(
        "generate",
        idea,
        *SCRIPTED,
        "--persona",
        persona or "generic",
        "--phases",
        phases or "idea",
        "--tags",
        tags,
        "--no-save",
    )
    check(run, library, before)


@FUZZ
@given(since=ARG, until=ARG, phase=ARG, tag=ARG, min_rating=ARG, page=ARG, limit=ARG)
def test_list_filters(library, since, until, phase, tag, min_rating, page, limit):
    before = library_state(library)
    args = ["list", "-o", "json"]
    for flag, value in (
        ("--since", since),
        ("--until", until),
        ("--phase", phase),
        ("--tag", tag),
        ("--min-rating", min_rating),
        ("--page", page),
        ("--limit", limit),
    ):
        if value:
            args += [f"{flag}={value}"]
    check(run_inproc(*args), library, before)


@FUZZ
@given(query=ARG, mode=st.sampled_from(["text", "hybrid", "bogus"]), since=ARG)
def test_search_inputs(library, query, mode, since):
    before = library_state(library)
    args = ["search", query, "--mode", mode, "-o", "json"] + ([f"--since={since}"] if since else [])
    check(run_inproc(*args), library, before)


@FUZZ
@given(pid=ARG, command=st.sampled_from(["show", "history", "delete", "rate", "lineage"]), extra=ARG)
def test_ids(library, pid, command, extra):
    before = library_state(library)
    args = {
        "show": ["show", pid],
        "history": ["history", pid],
        "lineage": ["show", pid, "--lineage"],
        "delete": ["delete", pid, "--yes"],
        "rate": ["rate", pid, extra or "3"],
    }[command]
    check(run_inproc(*args), library, before)


JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
FIELDS = st.sampled_from(
    [
        "content",
        "id",
        "title",
        "tags",
        "phase",
        "score",
        "parent_id",
        "embedding",
        "embedding_model",
        "embedding_dim",
        "context",
        "created_at",
        "temperature",
        "prompt",
        "act",
        "source_type",
        "variant",
        "max_tokens",
    ]
)


@FUZZ
@given(
    rows=st.lists(st.dictionaries(FIELDS, JSON_VALUE, max_size=6), max_size=5),
    raw=st.lists(st.sampled_from(['{"content": NaN}', "[1, 2]", "{", '{"content": "\\ud800"}', "null"]), max_size=2),
)
def test_import_rows(library, tmp_path_factory, rows, raw):
    path = tmp_path_factory.mktemp("rows") / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "\n".join(raw), encoding="utf-8")
    before = library_state(library)
    run = run_inproc("import", str(path), "-o", "json")
    assert run.code in (0, 1, 2) and "Traceback" not in run.err and "error: unexpected" not in run.err, run.err
    if run.code == 0:
        report = json.loads(run.out)
        assert report["imported"] + report["duplicates"] + report["failed"] <= max(report["rows"], 0) + report["failed"]
        for line in run_inproc("export", "-", "-f", "jsonl").out.splitlines():
            json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} exported"))
    else:
        check(run, library, before)


@FUZZ
@given(
    section=st.sampled_from(["generation", "storage", "server", "learning", "gateway", "providers", "phases"]),
    key=st.sampled_from(
        [
            "default_count",
            "max_backups",
            "allowed_hosts",
            "examples_dir",
            "schedule",
            "cache_ttl_seconds",
            "max_idea_length",
            "bogus",
        ]
    ),
    value=JSON_VALUE,
)
def test_config_values(library, section, key, value):
    import yaml

    (library / "config.yaml").write_text(yaml.safe_dump({section: {key: value}}), encoding="utf-8")
    before = library_state(library)
    try:
        check(run_inproc("list", "-o", "json"), library, before)
        check(run_inproc("config", "validate"), library, before)
    finally:
        (library / "config.yaml").unlink()


# ------------------------------------------------------------------ MCP tool arguments

TOOL_ARGS = st.one_of(
    st.builds(
        lambda q, m, f: ("search_prompts", {"query": q, "mode": m, "filters": f}),
        ARG,
        st.sampled_from(["text", "hybrid", "x"]),
        st.one_of(
            st.none(),
            st.dictionaries(
                st.sampled_from(["since", "until", "phase", "tags", "min_rating", "provider", "bogus"]),
                JSON_VALUE,
                max_size=3,
            ),
        ),
    ),
    st.builds(lambda i: ("get_prompt", {"id": i}), ARG),
    st.builds(lambda i, s: ("rate_prompt", {"id": i, "score": s}), ARG, JSON_VALUE),
    st.builds(lambda i, c: ("update_prompt", {"id": i, "content": c}), ARG, JSON_VALUE),
    st.builds(lambda i: ("delete_prompt", {"id": i}), ARG),
    st.builds(lambda s: ("get_metrics", {"since": s}), JSON_VALUE),
    st.builds(
        lambda e, f: ("optimize_prompt", {"task": "t", "prompt": "p", "examples": e, "examples_file": f}),
        JSON_VALUE,
        st.one_of(st.none(), ARG),
    ),
)


@FUZZ
@given(calls=st.lists(TOOL_ARGS, min_size=1, max_size=4))
def test_mcp_tool_arguments(library, calls):
    from mcp import Client

    from prompt_alchemy.mcp.server import build_server
    from prompt_alchemy.services import AlchemyService

    service = AlchemyService.from_environment(
        overrides={f"phases.{p}.provider": "scripted" for p in ("prima-materia", "solutio", "coagulatio")}
    )

    async def go() -> None:
        try:
            await calls_on(service)
        finally:
            await service.aclose()

    async def calls_on(service) -> None:
        async with Client(build_server(service)) as client:
            for name, arguments in calls:
                before = library_state(library)
                result = await client.call_tool(name, arguments)
                text = "\n".join(getattr(b, "text", "") for b in result.content)
                assert "Traceback" not in text
                if result.is_error:
                    assert text.strip(), (name, arguments)
                    assert library_state(library) == before, (name, arguments, text)

    asyncio.run(go())
