"""What differs between the SQL of the two stores, in one place: each store has a Dialect, and the shared
repositories (prompts, feedback, cache, access, labels) write their statements once with `?` placeholders and ask
the dialect for the few words that differ. No statement is rewritten beyond its placeholders."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Dialect:
    name: str
    #: The literal for an always-true condition (PostgreSQL has no integer truth).
    true: str
    #: A condition matching one tag (a `?` parameter) in the JSON `tags` column of the prompts aliased {a}.
    tag_clause: str
    #: The column giving the insertion order of `prompt_context` rows.
    insertion_order: str
    #: The null-safe inequality operator.
    distinct_from: str
    #: The driver's placeholder for one parameter ("?" for sqlite3, "%s" for psycopg).
    placeholder: str

    def statement(self, sql: str) -> str:
        """`sql`, written with `?` placeholders, in this driver's placeholder style."""
        return sql if self.placeholder == "?" else _percent_style(sql)


@lru_cache(maxsize=1024)
def _percent_style(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")


SQLITE = Dialect(
    name="sqlite",
    true="1",
    tag_clause="EXISTS (SELECT 1 FROM json_each({a}.tags) AS t WHERE lower(t.value) = lower(?))",
    insertion_order="rowid",
    distinct_from="IS NOT",
    placeholder="?",
)

POSTGRES = Dialect(
    name="postgresql",
    true="TRUE",
    tag_clause=(
        "EXISTS (SELECT 1 FROM jsonb_array_elements_text({a}.tags::jsonb) AS t(value) "
        "WHERE lower(t.value) = lower(?))"
    ),
    insertion_order="seq",
    distinct_from="IS DISTINCT FROM",
    placeholder="%s",
)
