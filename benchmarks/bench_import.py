"""Import of the 848-prompt awesome-chatgpt-prompts CSV with local embeddings, then search quality on our query set.

Runs `service.import_prompts` on src/prompt_alchemy/data/awesome-chatgpt-prompts.csv in a temporary PROMPT_ALCHEMY_HOME
(target: under 10 s), then recall@5 of semantic, hybrid and text search over tests/data/library_queries.json
(target: semantic at least 0.85). Also reports what dominates the import: the embedder's token load (tokens per
prompt after truncation) and its throughput, and the import time without embedding (rows carrying
`"embedding": null`) as the same-run baseline for everything but the model. Prints one JSON object.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CSV_PATH = ROOT / "src" / "prompt_alchemy" / "data" / "awesome-chatgpt-prompts.csv"
QUERIES = json.loads((ROOT / "tests" / "data" / "library_queries.json").read_text(encoding="utf-8"))["queries"]


async def _recall(service) -> dict[str, float]:
    out = {}
    for mode in ("semantic", "hybrid", "text"):
        hits = 0
        for q in QUERIES:
            results = await service.search(q["query"], mode=mode, limit=5)
            hits += bool({r.prompt.title for r in results} & set(q["expected"]))
        out[mode] = round(hits / len(QUERIES), 3)
    return out


def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="bench-import-"))
    from prompt_alchemy.services import AlchemyService

    # baseline: the same rows without embeddings (parse, dedup, FTS triggers, transactions)
    with CSV_PATH.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    plain = base / "plain.jsonl"
    plain.write_text(
        "".join(
            json.dumps({"content": r["prompt"], "title": r["act"], "tags": [r["act"]], "embedding": None}) + "\n"
            for r in rows
        ),
        encoding="utf-8",
    )
    (base / "plain").mkdir()
    service = AlchemyService.from_environment(env={"PROMPT_ALCHEMY_HOME": str(base / "plain")})
    start = time.perf_counter()
    plain_report = asyncio.run(service.import_prompts(plain))
    plain_s = time.perf_counter() - start
    asyncio.run(service.aclose())

    (base / "full").mkdir()
    service = AlchemyService.from_environment(env={"PROMPT_ALCHEMY_HOME": str(base / "full")})
    embedder = service.embedder
    if embedder.unavailable_reason():
        raise SystemExit(f"the local embedder is needed: {embedder.unavailable_reason()}")
    embedder.embed_sync(["warm up"])  # model load (0.5 s) is reported separately from the import
    start = time.perf_counter()
    report = asyncio.run(service.import_prompts(CSV_PATH))
    import_s = time.perf_counter() - start

    from prompt_alchemy.embeddings import local

    _, tokenizer = embedder._load()
    tokens = [sum(e.attention_mask) for e in tokenizer.encode_batch([r["prompt"] for r in rows])]  # truncated
    recall = asyncio.run(_recall(service))
    asyncio.run(service.aclose())
    shutil.rmtree(base, ignore_errors=True)
    print(
        json.dumps(
            {
                "benchmark": "library_import",
                "rows": report.rows,
                "imported": report.imported,
                "duplicates": report.duplicates,
                "embedded": report.embedded,
                "embedding_model": report.embedding_model,
                "import_s": round(import_s, 2),
                "target_import_s": 10,
                "import_without_embeddings_s": round(plain_s, 3),
                "imported_without_embeddings": plain_report.imported,
                "embedding_texts_per_s": round(report.embedded / max(import_s - plain_s, 1e-9), 1),
                "embedder_max_tokens": local.MAX_TOKENS,
                "mean_tokens_per_prompt": round(sum(tokens) / len(tokens), 1),
                "recall_at_5": recall,
                "queries": len(QUERIES),
                "target_semantic_recall_at_5": 0.85,
                "load_average": os.getloadavg()[0],
            }
        )
    )


if __name__ == "__main__":
    main()
