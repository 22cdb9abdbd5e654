"""The error hierarchy. Every error a user can cause or meet maps to one line and one exit code."""

from __future__ import annotations


class AlchemyError(Exception):
    """Base class: a runtime failure (exit code 1)."""

    exit_code = 1


class InputError(AlchemyError):
    """Bad usage or bad input (exit code 2). Raised before any provider call or database write."""

    exit_code = 2


class ConfigError(InputError):
    """The configuration file or environment is malformed or invalid."""


class ConflictError(InputError):
    """The request clashes with what exists (an active API key of the same name): exit code 2, HTTP 409."""


class ForbiddenError(InputError):
    """The caller may not do this (moving a protected label without the right): exit code 2, HTTP 403."""


class MissingVariablesError(InputError):
    """A prompt was filled without a value for each of its template variables; `missing` names every one."""

    def __init__(self, missing: list[str], hint: str = "") -> None:
        super().__init__(f"missing value{'s' if len(missing) > 1 else ''} for " f"{', '.join(missing)}{hint}")
        self.missing = missing


class NotFoundError(AlchemyError):
    """An ID or name that does not exist (exit code 1, like `git show` of an unknown object)."""


class StorageError(AlchemyError):
    """The library database cannot be used as asked (damaged, read-only, written by a newer version): exit 1."""


class ProviderError(AlchemyError):
    """A provider failed. `retryable` says whether the registry may retry or fail over."""

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(f"provider '{provider}': {message}")
        self.provider = provider
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status


class ProviderUnavailableError(ProviderError):
    """The provider cannot be used here (missing key, missing optional package, missing model file): a setup
    problem the user must fix, so it exits 2 like bad input."""

    exit_code = 2


class CostLimitError(AlchemyError):
    """A run's estimated or actual cost exceeds the user's limit (--max-cost); nothing from the run was saved."""


class GenerationError(AlchemyError):
    """A generation run failed in a named phase; nothing from the run was saved."""

    def __init__(self, phase: str, provider: str, cause: Exception) -> None:
        super().__init__(f"phase '{phase}' failed with provider '{provider}': {cause}; nothing was saved")
        self.phase = phase
        self.provider = provider
        self.cause = cause
