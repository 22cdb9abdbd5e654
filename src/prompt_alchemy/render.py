"""Plain-text renderings of service results, shared by the CLI and the MCP tools (one wording for both)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def feature_lines(features: Sequence[dict[str, Any]]) -> list[str]:
    """The learned model's top features (``ranking.learning.top_features``) as readable lines."""
    if not features:
        return []
    lines = ["features that matter most (what goes with high ratings):"]
    for f in features:
        extra = ""
        if "avg_rating_with" in f:
            extra = f" (average rating {f['avg_rating_with']:.2f} with, {f['avg_rating_without']:.2f} without)"
        lines.append(
            f"  {'+' if f['direction'] == 'higher' else '-'} {f['feature']}: {f['description']}, "
            f"weight {f['weight']:+.2f}{extra}"
        )
    return lines


def pattern_lines(report: Any) -> list[str]:
    """A :class:`~prompt_alchemy.ranking.patterns.PatternReport` as readable lines."""
    lines = []
    if report.rated_prompts:
        lines.append(
            f"{report.rated_prompts} rated prompts ({report.ratings} ratings), mean {report.mean_rating:.2f}, "
            f"{report.high_share:.0%} rated 4 or more"
            + (f"; half-life {report.half_life_days:g} days" if report.half_life_days else "")
        )
    lines.append(report.message)

    def row(p: Any) -> str:
        lo, hi = p.difference_ci
        slo, shi = p.high_share_ci
        return (
            f"  {p.characteristic} ({p.description}): {p.prompts_with} prompts, mean {p.mean_with:.2f} vs "
            f"{p.mean_without:.2f} without ({p.difference:+.2f}, 95% CI {lo:+.2f} to {hi:+.2f}); "
            f"{p.high_share:.0%} rated 4+ (95% CI {slo:.0%}-{shi:.0%})"
        )

    for title, rows in (("goes with high ratings:", report.high), ("goes with low ratings:", report.low)):
        if rows:
            lines.append(title)
            lines += [row(p) for p in rows]
    if report.thin:
        lines.append("too few rated prompts to judge: " + ", ".join(report.thin))
    return lines


def learning_status_lines(data: dict[str, Any], train_hint: str) -> list[str]:
    """AlchemyService.learning_status() as readable lines; `train_hint` says how to train from where it is read."""
    schedule = f"nightly at {data['schedule']} (next {data['next_run']})" if data["next_run"] else "not scheduled"
    fb = data["feedback"]
    lines = [
        f"learning: {'enabled' if data['enabled'] else 'disabled'} · {schedule}",
        f"feedback: {fb['ratings']} ratings of {fb['rated_prompts']} prompts, {fb['choices']} choices in "
        f"{fb['choice_sessions']} sessions (training needs {fb['needed']})",
    ]
    active = data["active"]
    if active is None:
        lines.append(f"active model: none; the ranker uses the rubric alone ({train_hint})")
    else:
        m = active["metrics"]
        lines.append(
            f"active model: v{active['version']} ({active['kind']}, {active['trigger']}, "
            f"{active['created_at'][:16]}) trained on {active['training_size']} ratings and choices; "
            f"validation pairwise accuracy {m.get('validation_accuracy', 0):.3f} vs "
            f"{m.get('current_accuracy', 0):.3f} before it"
        )
        if m.get("trust") is not None and "learned_weights" in m:
            lines.append(
                f"re-weighting: trust {m['trust']:.2f} (evidence {m.get('evidence', 0):.2f} × confidence "
                f"{m.get('confidence', 0):.2f}); the rubric's weights with this model:"
            )
            for w in m["learned_weights"][:8]:
                lines.append(f"  {w['name']}: {w['default']:g} (default) → {w['weight']:g} (learned)")
        lines += feature_lines(active["top_features"])
    if data["versions"]:
        lines.append(
            "versions: "
            + ", ".join(
                f"v{v['version']} {v['status']}{' (active)' if v['active'] else ''} "
                f"{v['metrics'].get('validation_accuracy', 0):.3f}"
                for v in data["versions"]
            )
        )
    last = data["last_attempt"]
    if last:
        lines.append(f"last training: {last['at'][:16]} · {last['detail']}")
    return lines
