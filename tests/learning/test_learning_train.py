"""Training on a simulated user's ratings: the ranker learns their hidden preference, only a better model is
adopted, every version is stored, and bad input changes nothing."""

from __future__ import annotations

import asyncio
import json

import pytest
from learning_testkit import (
    HELD_N,
    TRAIN_N,
    integrity_error,
    library_rows,
    make_service,
    ranker_accuracy,
    rate_all,
    sim_db,  # noqa: F401  (fixtures)
    sim_home,  # noqa: F401
    sim_pg,  # noqa: F401
    sim_prompts,
    store_prompts,
)
from testkit import parse_json

from prompt_alchemy.errors import InputError

pytestmark = pytest.mark.usefixtures("backend")


def _models(home) -> list[dict]:
    return library_rows(home, "SELECT * FROM models ORDER BY version")


def test_training_learns_the_hidden_preference(sim_home, cli, capsys):
    train, held = sim_prompts()
    service = make_service()
    before = ranker_accuracy(service, held)
    assert service.ranker.learned is None
    report = asyncio.run(service.train())
    asyncio.run(service.aclose())

    assert report.adopted and report.version == 1 and not report.dry_run
    assert report.ratings == TRAIN_N and report.feedback_rows == TRAIN_N
    assert report.train_pairs > 1000 and report.validation_pairs > 100
    assert report.candidate_accuracy > report.current_accuracy == report.baseline_accuracy
    assert report.params["seed"] == 0 and report.params["learning_rate"] == 0.1

    fresh = make_service()  # a new process state: the adopted model is loaded from the database
    assert fresh.ranker.learned is not None and fresh.ranker.learned.version == 1
    after = ranker_accuracy(fresh, held)
    asyncio.run(fresh.aclose())
    with capsys.disabled():
        print(
            f"\nheld-out pairwise accuracy of the ranker on {HELD_N} unrated prompts: before {before:.3f}, "
            f"after {after:.3f} (validation: {report.current_accuracy:.3f} -> {report.candidate_accuracy:.3f})"
        )
    assert after >= 0.8
    assert after >= before + 0.08

    rows = _models(sim_home)
    assert len(rows) == 1 and rows[0]["active"] == 1 and rows[0]["status"] == "adopted"
    assert rows[0]["training_size"] == TRAIN_N
    weights = json.loads(rows[0]["weights"])
    assert set(weights) == set(json.loads(rows[0]["feature_names"]))
    assert json.loads(rows[0]["metrics"])["validation_accuracy"] == report.candidate_accuracy

    status = parse_json(cli("learning", "status", "--output", "json"))
    assert status["active"]["version"] == 1 and status["active"]["training_size"] == TRAIN_N
    top = [f["feature"] for f in status["active"]["top_features"]]
    assert top[0] == "output_format"
    assert any(f.startswith("words>=") or f == "log_words" for f in top[:3])
    first = status["active"]["top_features"][0]
    assert first["direction"] == "higher" and first["avg_rating_with"] > first["avg_rating_without"]
    text = cli("learning", "status")
    assert text.returncode == 0
    assert "active model: v1" in text.stdout and "output_format: specifies the output format" in text.stdout


def test_the_ranker_sees_the_features_training_saw(sim_home):
    """Training and ranking compute a prompt's features the same way: the learned component the ranker gives a
    prompt is the trained model's score of that prompt's training-time features."""
    from prompt_alchemy.ranking.learning import learning_features

    service = make_service()
    asyncio.run(service.train())
    train, _ = sim_prompts()
    stored = service.store.get_prompts([p.id for p in train[:20]])
    contexts = asyncio.run(service.learning.stored_feature_contexts(list(stored.values())))
    model = service.ranker.learned
    seen = set()
    for p in train[:20]:
        score = service.ranker.score(p.content, contexts[p.id])
        learned = next(c for c in score.components if c.name == "learned")
        assert learned.value == pytest.approx(model.score(learning_features(p.content, contexts[p.id])), abs=1e-4)
        seen.add(round(learned.value, 2))
    assert len(seen) > 2  # the model tells prompts apart
    asyncio.run(service.aclose())


def test_dry_run_reports_and_stores_nothing(sim_home, cli):
    report = parse_json(cli("train", "--dry-run", "--output", "json"))
    assert report["dry_run"] and report["better"] and not report["adopted"] and not report["stored"]
    assert report["version"] is None and report["candidate_accuracy"] > report["current_accuracy"]
    assert _models(sim_home) == []
    status = parse_json(cli("learning", "status", "--output", "json"))
    assert status["active"] is None and status["last_attempt"] is None
    text = cli("train", "--dry-run")
    assert text.returncode == 0 and "dry run" in text.stdout and "output_format" in text.stdout


def test_training_is_deterministic(sim_home):
    service = make_service()
    a = asyncio.run(service.train(dry_run=True))
    b = asyncio.run(service.train(dry_run=True))
    asyncio.run(service.aclose())
    assert a.top_features == b.top_features and a.candidate_accuracy == b.candidate_accuracy
    assert a.train_loss == b.train_loss


def test_a_worse_model_is_not_adopted(sim_home):
    service = make_service()
    first = asyncio.run(service.train())
    asyncio.run(service.aclose())
    assert first.adopted

    # An undertrained candidate (tiny learning rate, one pass) ranks the validation pairs worse than v1.
    weak = make_service(**{"learning.learning_rate": 1e-6, "learning.epochs": 1})
    assert weak.ranker.learned.version == 1
    second = asyncio.run(weak.train())
    assert not second.adopted and not second.better and second.version == 2
    assert second.current_version == 1 and second.candidate_accuracy < second.current_accuracy
    assert "not adopted" in second.reason
    assert weak.ranker.learned.version == 1
    asyncio.run(weak.aclose())

    rows = _models(sim_home)
    assert [(r["version"], r["status"], r["active"]) for r in rows] == [(1, "adopted", 1), (2, "rejected", 0)]
    assert make_service().ranker.learned.version == 1


def test_a_failure_while_storing_leaves_the_previous_model_active(sim_home):
    service = make_service()
    asyncio.run(service.train())
    v1 = service.store.active_model()
    clash = v1.model_copy(update={"version": 0, "active": True, "status": "adopted"})  # same id: the insert fails
    with pytest.raises(integrity_error()):
        service.store.save_model(clash)
    assert service.store.active_model().id == v1.id
    assert [m.version for m in service.store.list_models()] == [1]
    asyncio.run(service.aclose())


def test_too_little_feedback_is_bad_input_and_changes_nothing(home, cli):
    train, _ = sim_prompts()
    service = make_service()
    store_prompts(service, train[:30])
    rate_all(service, train[:5])
    with pytest.raises(InputError, match=r"at least 20 ratings or choices .* there are 5"):
        asyncio.run(service.train())
    asyncio.run(service.aclose())
    before = _models(home)
    proc = cli("train")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "at least 20" in proc.stderr and "there are 5" in proc.stderr
    assert _models(home) == [] and before == []
    status = parse_json(cli("learning", "status", "--output", "json"))
    assert status["feedback"]["ratings"] == 5 and status["feedback"]["needed"] == 20
    assert status["last_attempt"] is None


def test_feedback_without_preferences_is_bad_input(home):
    train, _ = sim_prompts()
    service = make_service()
    store_prompts(service, train[:40])
    for p in train[:40]:
        asyncio.run(service.rate(p.id, 3))  # all equal: nothing to learn from
    with pytest.raises(InputError, match="no preference pairs"):
        asyncio.run(service.train())
    assert _models(home) == []
    asyncio.run(service.aclose())


def test_disabled_learning_refuses_to_train_and_ranks_without_a_model(sim_home):
    service = make_service()
    asyncio.run(service.train())
    asyncio.run(service.aclose())
    off = make_service(**{"learning.enabled": False})
    assert off.ranker.learned is None
    with pytest.raises(InputError, match="learning is disabled"):
        asyncio.run(off.train())
    asyncio.run(off.aclose())
