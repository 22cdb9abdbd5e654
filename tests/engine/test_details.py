"""The idea's details, extracted by rules on hand-written ideas: numbers with units, the user's must / never /
only clauses as instructions, named entities, audience, language, inputs, labels, fields and context facts."""

from __future__ import annotations

from prompt_alchemy.engine.details import (
    as_instruction,
    detect_language,
    extract_details,
    gloss,
    numbers_with_units,
)
from prompt_alchemy.models import ContextItem


def test_numbers_keep_their_units_and_qualifiers():
    assert numbers_with_units("suggest 12 slogans for a gym, under 8 words each") == ["12 slogans", "under 8 words"]
    assert numbers_with_units("a 4-week strength plan, $300 budget, 3 sessions a week") == [
        "4-week",
        "$300",
        "3 sessions",
    ]
    assert numbers_with_units("a wallpaper in 9:16 of a fox") == ["9:16"]
    assert numbers_with_units("a history of jazz since 1950") == []  # a year is not a limit
    assert numbers_with_units("plan a day out for two kids") == ["two kids"]
    assert extract_details("a 6-week plan to learn basic Spanish").count == "6 weeks"  # the {count} slot reads well


def test_rule_clauses_become_instructions_in_the_users_words():
    details = extract_details(
        "a system prompt for a florist's order bot; it must never take payments in the chat "
        "and must hand any wedding order over $2,000 to the owner"
    )
    assert details.rules == ("Never take payments in the chat.", "Hand any wedding order over $2,000 to the owner.")
    assert details.request == "a system prompt for a florist's order bot"
    assert details.domain == "a florist"
    assert as_instruction("the bot should not mention competitors") == "Do not mention competitors."
    assert as_instruction("it can only recommend products in stock") == "Only recommend products in stock."
    assert as_instruction("I only have 15 minutes a day") == "The user only has 15 minutes a day."
    assert extract_details("dinner ideas for tonight. I don't eat pork").rules == ("The user doesn't eat pork.",)


def test_entities_audience_and_purpose():
    details = extract_details(
        "a chatbot that answers nurses' questions about the night-shift rota at " "St Mary's Hospital in Leeds"
    )
    assert "Leeds" in details.entities and "St Mary" in " ".join(details.entities)
    assert details.audience == "nurses"
    assert details.purpose == "Answer nurses' questions about the night-shift rota at St Mary's Hospital in Leeds."
    tutor = extract_details("a chemistry tutor bot that helps teenagers balance equations")
    assert tutor.audience == "teenagers" and tutor.domain == "chemistry"


def test_language_is_detected_for_the_supported_languages_and_glossed_for_choosing():
    assert detect_language("escribe un poema sobre el mar para mi madre") == "es"
    assert detect_language("erstelle einen Trainingsplan für einen Halbmarathon in 8 Wochen") == "de"
    assert detect_language("écris une lettre de motivation pour un poste de comptable") == "fr"
    assert detect_language("scrivi una ricetta per la pasta con le sarde") == "it"
    assert detect_language("escreva um e-mail para o meu chefe sobre as férias") == "pt"
    assert detect_language("schrijf een verhaal over een draak voor mijn zoon") == "nl"
    assert detect_language("write a poem about the sea for my mother") is None
    assert "poem" in gloss("escribe un poema sobre el mar")
    spanish = extract_details("escribe un poema sobre el mar para mi madre")
    assert spanish.language_name == "Spanish" and spanish.request == "escribe un poema sobre el mar para mi madre"


def test_inputs_labels_and_fields_are_named_for_what_they_are():
    tickets = extract_details("sort incoming support tickets into refund, bug or how-to")
    assert tickets.inputs[0] == "tickets" and tickets.labels == ("refund", "bug", "how-to")
    invoices = extract_details("extract the supplier, due date and total amount from scanned invoices")
    assert invoices.fields == ("supplier", "due date", "total amount") and invoices.inputs == ("invoices",)
    assert extract_details("write a haiku about snow").inputs == ()  # nothing invented
    assert extract_details("fix the bug in {code}").variables == ("code",)


def test_context_file_facts_are_kept_and_rated_examples_are_not():
    items = [
        ContextItem(
            source="notes.md", content="# Project\nWritten in Go on the Zorblax framework.\n" "- Dates are in ISO 8601"
        ),
        ContextItem(source="library", content="ROLE:\nYou are a poet.", context_type="example"),
    ]
    details = extract_details("write unit tests for our date parser", items)
    assert details.facts == ("Project.", "Written in Go on the Zorblax framework.", "Dates are in ISO 8601.")
