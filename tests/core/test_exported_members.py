"""The public API is deliberate: exactly the names in __all__, each importable and defined where it claims."""

from __future__ import annotations

import subprocess
import sys

import prompt_alchemy


def test_all_exports_are_importable_and_documented():
    for name in prompt_alchemy.__all__:
        member = getattr(prompt_alchemy, name)
        assert member is not None
        if name != "__version__":
            assert getattr(member, "__module__", "").startswith("prompt_alchemy."), name
            assert (member.__doc__ or "").strip(), f"{name} has no docstring"


def test_the_exported_set_is_deliberate():
    assert set(prompt_alchemy.__all__) == {
        "__version__",
        "AlchemyService",
        "App",
        "Settings",
        "load_settings",
        "Phase",
        "Prompt",
        "PromptRequest",
        "GenerationResult",
        "PromptScore",
        "SearchFilters",
        "SearchResult",
        "Feedback",
        "Persona",
        "AlchemyError",
        "InputError",
        "ConfigError",
        "NotFoundError",
        "ProviderError",
        "ProviderUnavailableError",
        "CostLimitError",
        "GenerationError",
    }


def test_importing_the_package_stays_cheap():
    code = "import sys, prompt_alchemy; print(sorted(m for m in sys.modules if m.startswith('prompt_alchemy')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['prompt_alchemy']"
