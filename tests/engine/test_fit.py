"""A prompt fits its idea: what the idea says is kept as the user said it, and nothing the pattern adds contradicts it
(a length, a style, a form, a role that knows "a small inventory app"). Ideas written for this test, not from the
development set or the pattern files."""

from __future__ import annotations

import asyncio

import pytest

from prompt_alchemy.engine.details import extract_details
from prompt_alchemy.engine.patterns import PatternChoice, load_patterns
from prompt_alchemy.engine.spec import imperative_task, pattern_spec, says_its_verb
from prompt_alchemy.engine.structured import STRATEGY_NAMES, assemble


def _chosen(idea: str) -> str:
    """The pattern the real chooser picks, with the real local embedder."""
    from prompt_alchemy.embeddings.local import LocalEmbedder
    from prompt_alchemy.engine.patterns import choose_pattern

    return asyncio.run(choose_pattern(idea, LocalEmbedder(), None)).pattern.name


def _prompts(idea: str, pattern: str) -> list[str]:
    choice = PatternChoice(load_patterns()[pattern], 0.5, 0.1, False, pattern)
    spec = pattern_spec(choice, extract_details(idea))
    return [assemble(spec, variant, None) for variant in range(len(STRATEGY_NAMES))]


def test_a_rule_joined_to_an_action_is_two_rules_said_to_the_assistant() -> None:
    details = extract_details(
        "a ski resort concierge bot that never sells lift passes itself and sends guests to the ticket office"
    )
    assert details.rules == ("Never sell lift passes yourself.", "Send guests to the ticket office.")
    assert details.persona == "a ski resort concierge bot"


def test_a_persona_with_its_rule_in_one_clause_keeps_both() -> None:
    details = extract_details("a returns assistant for an online lamp shop that never promises refunds")
    assert details.persona == "a returns assistant for an online lamp shop"
    assert details.brief_rules == ("Never promise refunds.",)


def test_a_past_tense_never_describes_data_and_is_no_rule() -> None:
    details = extract_details("MySQL query: customers who ordered twice but never reviewed a product")
    assert details.rules == ()
    assert "never reviewed a product" in details.request


def test_what_a_bots_name_says_it_is_for_becomes_its_task() -> None:
    for text in _prompts("a system prompt for a vet clinic's appointment assistant", "support-bot"):
        assert "appointment questions" in text, text
        assert "orders, products, accounts" not in text, text


def test_a_bot_for_peoples_questions_answers_them_and_hands_over_to_a_team() -> None:
    for text in _prompts("bot for our drivers' questions about the fuel card rules", "internal-helpdesk-bot"):
        assert "Answer the drivers' questions about the fuel card rules" in text, text
        assert "'s questions" not in text.replace("the drivers' questions", ""), text


@pytest.mark.parametrize(
    "idea, pattern, absent",
    [
        (
            "midjourney prompt of a fox asleep in a library during a thunderstorm, watercolor style",
            "image-midjourney",
            ["golden-hour", "digital illustration", "concept art", "painterly"],
        ),
        (
            "stable diffusion prompt for a neon noodle bar at night, with a negative prompt",
            "image-stable-diffusion",
            ["with a negative prompt", "soft natural lighting", "studio lighting"],
        ),
    ],
)
def test_an_image_prompt_adds_no_aspect_the_idea_already_states(idea: str, pattern: str, absent: list[str]) -> None:
    for text in _prompts(idea, pattern):
        for phrase in absent:
            assert phrase not in text, (phrase, text)


def test_a_comparison_of_databases_is_judged_by_a_database_architect() -> None:
    for text in _prompts("compare SQLite and DynamoDB for a tiny recipe app and recommend one", "compare-decide"):
        assert "a database architect" in text or "analyst" in text, text
        assert "who knows a tiny recipe app" not in text, text


def test_a_poem_states_only_the_form_asked_and_asks_to_choose_one_when_none_is() -> None:
    for text in _prompts("write a limerick about my cat knocking over plants", "poem"):
        assert "limerick: 5 lines rhyming AABBA" in text, text
        assert "haiku" not in text and "sonnet" not in text and "No form is given" not in text, text
    texts = _prompts("a poem for my sister's wedding", "poem")
    assert any("No form is given" in text for text in texts)


def test_a_database_table_is_no_request_for_a_markdown_table() -> None:
    for text in _prompts("write SQL that lists each store's best-selling item from the sales table", "sql-query"):
        assert "Markdown table" not in text, text


def test_the_ideas_length_replaces_the_patterns() -> None:
    for text in _prompts("a cover letter for a barista job at a small roastery, under 200 words", "cover-letter"):
        assert "250-400 words" not in text, text
        assert "under 200 words" in text, text


def test_a_variable_named_for_its_material_is_that_material() -> None:
    for text in _prompts("pull the sender, amount and due date out of {bill_text} as JSON", "extract-json"):
        assert "{bill}" not in text, text
        assert "{bill_text}" in text, text


def test_an_age_is_the_audience() -> None:
    assert extract_details("explain how a dishwasher works to a 10-year-old").audience == "a 10-year-old"


@pytest.mark.parametrize(
    "idea, verb, task",
    [
        ("rust script that renames files by date", "Write", "Write a rust script that renames files by date."),
        ("unit tests for our invoice rounding", "Write", "Write unit tests for the user's invoice rounding."),
        ("8-week plan to learn to swim", "", "Create an 8-week plan to learn to swim."),
        ("lyrics for a song about a lost umbrella", "Write", "Write lyrics for a song about a lost umbrella."),
        ("6 names for a bike repair van", "Suggest", "Suggest 6 names for a bike repair van."),
        ("vue vs svelte for a small dashboard", "Compare", "Compare vue vs svelte for a small dashboard."),
        (
            "I want a prompt for reviewing pull requests in our Go service",
            "",
            "Review pull requests in the user's Go service.",
        ),
        ("with numpy find the outliers in {readings}", "", "With numpy, find the outliers in {readings}."),
        ("need 12 test cases for a date parser", "", "Create 12 test cases for a date parser."),
        ("learn to juggle in 3 weeks", "", "Make a plan for the user to learn to juggle in 3 weeks."),
        ("about-me page for my pottery studio", "Write", "Write an about-me page for the user's pottery studio."),
    ],
)
def test_a_task_from_the_users_own_words_is_never_garbled(idea: str, verb: str, task: str) -> None:
    assert imperative_task(idea, verb) == task


def test_an_idea_that_leads_with_its_verb_needs_no_restating() -> None:
    assert says_its_verb("pull the totals out of {report}")
    assert says_its_verb("help me plan a picnic")
    assert not says_its_verb("a haiku about rain")


def test_a_trip_is_planned_over_its_duration_not_over_its_travellers() -> None:
    texts = _prompts("plan a weekend in Lyon for a couple with three dogs", "trip-plan")
    assert all("three dogs:" not in text for text in texts), texts[0]
    assert any("Plan day by day for a weekend" in text for text in texts), texts[0]
    assert any("Plan day by day:" in text for text in _prompts("plan a trip to Porto for my parents", "trip-plan"))


def test_a_listing_follows_only_the_platform_it_names() -> None:
    for text in _prompts("write an Etsy listing for hand-dyed silk scarves", "product-description"):
        assert "Amazon" not in text and "App Store" not in text, text
    assert any("Etsy's format" in text for text in _prompts("an Etsy listing for silk scarves", "product-description"))


def test_a_second_verb_of_the_user_agrees_too() -> None:
    assert imperative_task("I have a list of leads and need a script that dedupes them") == (
        "Help the user with this: The user has a list of leads and needs a script that dedupes them."
    )


def test_the_concise_variant_names_an_input_once_in_its_context() -> None:
    concise = _prompts("turn weekly sales notes into a report for the board", "report-from-notes")[
        STRATEGY_NAMES.index("concise")
    ]
    assert concise.count("{notes}") == 1, concise


def test_the_material_worked_on_is_neither_the_output_form_nor_its_reader() -> None:
    for text in _prompts("a prompt that sorts customer emails into refund, delivery or other", "classify"):
        assert "subject line" not in text and "receives the email" not in text, text


def test_code_roles_name_the_language_not_a_word_of_the_idea() -> None:
    for text in _prompts("debug my Vue component that flickers on every scroll", "code-debug"):
        assert "senior Vue developer" in text, text
        assert "every scroll developer" not in text, text


def test_a_roleplay_partner_is_the_character_it_plays() -> None:
    for text in _prompts(
        "a roleplay partner that plays a strict customs officer so I can practice my German", "roleplay-character"
    ):
        assert "You are a strict customs officer" in text or "a strict customs officer" in text, text


def test_a_coach_for_practising_something_helps_the_user_practise_it() -> None:
    details = extract_details("a coach bot for rehearsing job interview answers in Spanish")
    assert details.purpose == "Help the user with rehearsing job interview answers in Spanish."


@pytest.mark.parametrize(
    "idea, pattern",
    [
        ("explain the difference between HTTP and HTTPS for a new intern", "explain-topic"),
        ("brainstorm 12 podcast episode ideas for a gardening show", "brainstorm"),
        ("a chatbot that answers employees' questions about the parental leave policy", "internal-helpdesk-bot"),
        ("a prompt that sorts incoming invoices into paid, overdue or disputed", "classify"),
        ("escribe un mensaje a mi vecino para pedirle que baje la música", "email"),
    ],
)
def test_the_kind_of_task_the_idea_asks_for_is_chosen(idea: str, pattern: str) -> None:
    assert _chosen(idea) == pattern


def test_a_translation_is_answered_in_its_target_language() -> None:
    assert extract_details("traduire ce texte en anglais en gardant le ton formel: {text}").target_language == "English"
    assert extract_details("translate our menu into Greek, keep dish names in Spanish").target_language == "Greek"
    assert extract_details("translate our menu into Italian, keep dish names in Spanish").target_language == "Italian"


def test_an_image_models_version_is_not_part_of_the_subject() -> None:
    from prompt_alchemy.engine.details import image_subject

    assert image_subject("Stable Diffusion XL prompt for a red kite over a dune") == "a red kite over a dune"
    assert image_subject("midjourney v6 prompt: a red kite over a dune") == "a red kite over a dune"


def test_a_tutor_of_a_school_subject_is_that_subjects_tutor() -> None:
    assert extract_details("an AI tutor that teaches middle school geometry by asking questions").domain == "geometry"


@pytest.mark.parametrize(
    "idea, pattern",
    [
        ("why does my nginx container restart every minute?", "code-debug"),
        ("why do cats purr?", "explain-topic"),
        ("give me 8 slogan ideas for a bike repair shop", "naming"),
        ("summarize these support tickets into the 3 most common problems: {tickets}", "summarize"),
        ("traduis ce texte en allemand: {text}", "translate"),
    ],
)
def test_the_ideas_own_verb_decides_when_it_is_plain(idea: str, pattern: str) -> None:
    assert _chosen(idea) == pattern


@pytest.mark.parametrize(
    "idea, pattern",
    [
        ("Klassifiziere Support-Tickets nach Dringlichkeit: hoch, mittel, niedrig", "classify"),
        ("our nginx reverse proxy returns 502 after the upgrade", "code-debug"),
        ("explain how a wind turbine works to a school class", "explain-topic"),
        ("an agent that can call our CRM API and Slack to chase unpaid invoices", "agent-with-tools"),
        ("a go cli that counts lines of code per language, with tests", "code-write"),
        ("bio for my website as a legal translator, 80 words", "profile-bio"),
    ],
)
def test_candidates_the_ideas_own_words_rule_out(idea: str, pattern: str) -> None:
    assert _chosen(idea) == pattern


@pytest.mark.parametrize(
    "idea, not_pattern",
    [
        ("plan my move to a new flat with a budget of 3000 euros", "meal-plan"),
        ("write a toast for my sister's graduation party", "brainstorm"),
        ("design a rubric for grading 10th grade lab reports", "grade-rubric"),
        ("write a note to my neighbour about the loud music at night", "song-lyrics"),
    ],
)
def test_a_kind_the_idea_does_not_ask_for_is_not_chosen(idea: str, not_pattern: str) -> None:
    assert _chosen(idea) != not_pattern


def test_a_code_question_without_code_gets_no_invented_input() -> None:
    for text in _prompts("why does my redis container restart every night?", "code-debug"):
        assert "{code}" not in text, text
    assert any("{code}" in text for text in _prompts("find the bug in this function: it loops forever", "code-debug"))


def test_a_section_read_without_its_heading_still_says_what_to_do() -> None:
    concise = _prompts("translate this FAQ into Dutch: {faq}", "translate")[STRATEGY_NAMES.index("concise")]
    assert "Placeholders and variables" not in concise, concise
    for text in _prompts("summarize this podcast transcript in 5 bullet points: {transcript}", "summarize"):
        assert "Length: 5 bullet points" in text or "5 bullet points" in text, text


@pytest.mark.parametrize(
    "idea, pattern",
    [
        ("plan to open a second cafe location: budget, hiring, opening date", "project-plan"),
        ("weekly status report from our Jira export {issues}", "report-from-notes"),
        ("condense this chat log for my manager: {log}", "summarize"),
    ],
)
def test_a_summary_or_a_bot_needs_the_idea_to_ask_for_one(idea: str, pattern: str) -> None:
    assert _chosen(idea) == pattern


def test_a_short_request_in_another_language_is_told_by_its_verb() -> None:
    from prompt_alchemy.engine.details import detect_language

    assert detect_language("Klassifiziere Bewertungen nach Stimmung: positiv, negativ") == "de"
    assert detect_language("write a plan for the day") is None


def test_an_image_prompt_needs_the_idea_to_ask_for_an_image() -> None:
    assert not _chosen("un prompt pour que l'IA me réponde toujours en vers").startswith("image-")
    assert _chosen("Stable-Diffusion-Prompt für eine Burg im Nebel, Ölgemälde-Stil") == "image-stable-diffusion"


def test_a_bug_report_is_debugged_and_an_analysis_has_no_deliverables_reader() -> None:
    assert _chosen("my SQLAlchemy query is returning duplicate users, here is the code: {code}") == "code-debug"
    for text in _prompts("should we host our small blog on Ghost or WordPress?", "compare-decide"):
        assert "blog's readers" not in text, text


def test_an_image_ideas_own_negative_prompt_is_in_the_negative_prompt() -> None:
    text = _prompts(
        "stable diffusion prompt: a foggy harbour at dawn, negative prompt for boats and birds",
        "image-stable-diffusion",
    )[0]
    assert "negative prompt for" not in text.split("\n")[0].lower(), text
    assert "boats" in text.split("Negative prompt:")[1] and "birds" in text.split("Negative prompt:")[1], text


def test_a_character_keeps_what_it_knows() -> None:
    for text in _prompts(
        "play a lighthouse keeper named Ewan who knows the legend of the drowned bell, for my D&D group",
        "roleplay-character",
    ):
        assert "drowned bell" in text, text


@pytest.mark.parametrize(
    "idea, not_pattern",
    [
        ("a prompt that turns call recordings' transcripts into action items with owners", "assistant-system-prompt"),
        ("help me write a retirement speech for my boss, warm, 4 minutes", "story"),
        ("help me write a retirement speech for my boss, warm, 4 minutes", "summarize"),
        ("help me write a retirement speech for my boss, warm, 4 minutes", "email"),
        ("help me write a retirement speech for my boss, warm, 4 minutes", "rewrite-tone"),
    ],
)
def test_a_kind_needs_the_idea_to_name_it(idea: str, not_pattern: str) -> None:
    assert _chosen(idea) != not_pattern


def test_a_number_of_subject_lines_is_a_list_of_options() -> None:
    assert _chosen("generate 8 subject lines for a spring sale newsletter") == "brainstorm"


@pytest.mark.parametrize(
    "idea, not_pattern",
    [
        ("write a job description for a data engineer at a logistics company", "cover-letter"),
        ("a chatbot for a museum that helps students find the right exhibition", "tutor"),
        ("write a launch announcement for our new AI budgeting app", "assistant-system-prompt"),
        ("create a lesson plan on photosynthesis for 6th graders", "grade-rubric"),
        ("draft a polite reminder to a tenant about the rent due on Friday", "report-from-notes"),
    ],
)
def test_a_kind_needs_the_idea_to_ask_for_it_too(idea: str, not_pattern: str) -> None:
    assert _chosen(idea) != not_pattern


def test_act_as_names_the_persona() -> None:
    for text in _prompts("a prompt that makes ChatGPT act as a patient Latin teacher", "assistant-system-prompt"):
        assert "You are a patient Latin teacher" in text, text


@pytest.mark.parametrize(
    "idea, pattern",
    [
        ("write a tweet thread about the benefits of learning to cook", "social-post"),
        ("design a database schema for a dog grooming booking system", "sql-query"),
    ],
)
def test_a_thread_is_a_social_post_and_a_schema_is_sql(idea: str, pattern: str) -> None:
    assert _chosen(idea) == pattern


def test_a_role_slot_takes_a_field_not_a_phrase() -> None:
    for text in _prompts("write a blog post about the benefits of remote work", "blog-article"):
        assert "an experienced the" not in text and "a the benefits" not in text, text


def test_a_number_of_ideas_for_posts_is_a_list_of_ideas_not_one_post() -> None:
    assert _chosen("generate 15 tweet ideas for a bakery's anniversary") == "brainstorm"
    for text in _prompts("generate 15 tweet ideas for a bakery's anniversary", "brainstorm"):
        assert "A single post" not in text, text
