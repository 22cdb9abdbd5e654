"""Nothing lost across processes: parallel imports store each content once, a file's duplicate ids are errors,
malformed numbers and vectors are refused, and a running service's vector index follows other processes' writes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from safety_kit import count_prompts, library_state, run_inproc
from testkit import ROOT


def test_parallel_imports_of_the_same_file_store_each_prompt_once(home, tmp_path):
    rows = [
        {"content": f"Parallel import prompt number {i}: explain topic {i} clearly.", "embedding": None}
        for i in range(600)
    ]
    path = tmp_path / "same.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cmd = [sys.executable, "-m", "prompt_alchemy", "import", str(path), "-o", "json"]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT) for _ in range(3)
    ]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        reports.append(json.loads(out))
    assert count_prompts(home) == 600
    assert sum(r["imported"] for r in reports) == 600
    assert sum(r["duplicates"] for r in reports) == 1200


def test_duplicate_ids_in_one_file_are_errors_with_line_numbers(home, tmp_path):
    path = tmp_path / "dup.jsonl"
    path.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {"id": "same-id-1", "content": "first prompt"},
                {"id": "other-id", "content": "second prompt"},
                {"id": "same-id-1", "content": "third prompt, same id"},
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    run = run_inproc("import", str(path), "-o", "json")
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert (report["imported"], report["duplicates"], report["failed"]) == (2, 0, 1)
    assert any("line 3" in e and "same-id-1" in e and "line 1" in e for e in report["errors"]), report["errors"]
    assert "error: line 3" in run.err


@pytest.mark.parametrize(
    "row, fragment",
    [
        ('{"content": "a", "score": NaN}', "NaN"),
        ('{"content": "a", "score": Infinity}', "Infinity"),
        ('{"content": "a", "embedding": [0.1, NaN], "embedding_model": "m"}', "NaN"),
        ('{"content": "a", "embedding": [1e400, 0.2], "embedding_model": "m"}', "embedding"),
        ('{"content": "a", "embedding": [0.1, 0.2], "embedding_model": "all-MiniLM-L6-v2"}', "384"),
    ],
)
def test_import_refuses_non_finite_numbers_and_mislabelled_vectors(home, tmp_path, row, fragment):
    path = tmp_path / "bad.jsonl"
    path.write_text(row + "\n", encoding="utf-8")
    run = run_inproc("import", str(path), "-o", "json")
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert report["imported"] == 0 and report["failed"] == 1
    assert fragment in report["errors"][0], report["errors"]


def test_csv_without_content_column_is_bad_input(home, tmp_path):
    path = tmp_path / "nocontent.csv"
    path.write_text("title,tags\nhello,a\n", encoding="utf-8")
    before = library_state(home)
    run = run_inproc("import", str(path))
    assert run.code == 2 and run.err.count("\n") == 1 and "content" in run.err
    assert library_state(home) == before


def test_csv_fields_of_200kb_import(home, tmp_path):
    big = "Write the report. " * 12_000  # ~216 KB in one field
    path = tmp_path / "big.csv"
    path.write_text('content,title\n"' + big + '",big\n', encoding="utf-8")
    run = run_inproc("import", str(path), "-o", "json")
    assert run.code == 0, run.err
    assert json.loads(run.out)["imported"] == 1


def test_exports_stay_valid_json_after_import(home, tmp_path):
    path = tmp_path / "ok.jsonl"
    path.write_text('{"content": "fine", "score": 0.5}\n{"content": "bad", "score": NaN}\n', encoding="utf-8")
    assert run_inproc("import", str(path)).code == 0
    exported = run_inproc("export", "-", "-f", "jsonl").out
    for line in exported.splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} in an export"))


async def test_running_service_semantic_search_sees_other_processes_writes(service, home, tmp_path):
    if service.embedder.unavailable_reason() is not None:
        pytest.skip(f"no local embedder: {service.embedder.unavailable_reason()}")
    seed = tmp_path / "seed.jsonl"
    seed.write_text(
        json.dumps({"content": "Bake sourdough bread with a long cold fermentation."}) + "\n", encoding="utf-8"
    )
    await service.import_prompts(seed)
    first = await service.search("bread baking", mode="semantic", limit=5)
    assert len(first) == 1
    other = tmp_path / "other.jsonl"
    other.write_text(
        json.dumps({"content": "Tune a PostgreSQL query planner for large joins."}) + "\n", encoding="utf-8"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "prompt_alchemy", "import", str(other)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    hits = await service.search("database query tuning", mode="semantic", limit=5)
    assert [h.prompt.content for h in hits][0].startswith("Tune a PostgreSQL"), hits
    target = hits[0].prompt.id
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "prompt_alchemy",
            "update",
            target,
            "--content",
            "Plan a garden with tomatoes, basil and peppers.",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    hits = await service.search("vegetable gardening", mode="semantic", limit=1)
    assert hits[0].prompt.content.startswith("Plan a garden")
