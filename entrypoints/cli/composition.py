"""The composition root as commands open it: configuration errors exit with code 2."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from twinbank.core.audit import WeakPseudonymisationKey

from ..containers import ApplicationContainer, build_container
from ..governance_settings import MissingPseudonymisationKey
from ..settings import PlatformSettings, Profile
from .console import fail_bad_input


def open_application(*args: Any, **kwargs: Any) -> ApplicationContainer:
    """Return ``build_container(*args, **kwargs)``; a missing or weak pseudonymisation key
    or an invalid setting prints its message and exits with code 2."""
    try:
        return build_container(*args, **kwargs)
    except (MissingPseudonymisationKey, WeakPseudonymisationKey) as error:
        fail_bad_input(str(error))
    except ValidationError as error:
        fail_bad_input(describe_settings_error(error))


def platform_settings(profile: Profile | None = None, **overrides: object) -> PlatformSettings:
    """Return the environment's settings (TWINBANK_*) with ``overrides`` and ``profile``
    applied; an invalid one prints its message and exits with code 2."""
    try:
        settings = PlatformSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        fail_bad_input(describe_settings_error(error))
    if profile is not None:
        settings = settings.model_copy(update={"profile": profile})
    return settings


def describe_settings_error(error: ValidationError) -> str:
    """Return every invalid setting with its name, the problem and the value given, on one line."""
    problems = [
        f"{'.'.join(str(part) for part in issue['loc'])}: {issue['msg']} "
        f"(got {issue.get('input')!r})"
        for issue in error.errors()
    ]
    return f"invalid {error.title} (environment variables TWINBANK_...): " + "; ".join(problems)
