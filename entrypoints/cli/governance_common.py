"""Shared parts of the governance, audit and model-card commands: the container for a
database, the acting person, times, evidence files and exit codes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
import yaml
from pydantic import BaseModel, ValidationError
from rich.markup import escape
from sqlalchemy import create_engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from twinbank.adapters.governance import InvalidRoleDirectory
from twinbank.core.audit import WeakPseudonymisationKey
from twinbank.core.governance import Actor, GovernanceRefusal, Role

from ..containers import ApplicationContainer, MissingRoleDirectory, build_container
from ..governance_settings import MissingPseudonymisationKey
from .composition import describe_settings_error
from .console import errors, fail_bad_input

REFUSED = 3
"""Exit code of an action that the governance rules refuse (nothing was recorded)."""

VERIFICATION_FAILED = 4
"""Exit code of an audit verification that found a broken chain or archive."""

Model = TypeVar("Model", bound=BaseModel)

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="SQLAlchemy URL of the inventory and audit trail; by default the governance "
        "settings' database (TWINBANK_GOVERNANCE_SQLITE_PATH, or PostgreSQL in the local "
        "and production profiles).",
    ),
]
UserOption = Annotated[str, typer.Option("--user", help="Who is acting.")]
RoleOption = Annotated[Role, typer.Option("--role", help="The role the person acts in.")]


def open_container(database: str | None, must_exist: bool = False) -> ApplicationContainer:
    """Build the container; configuration errors exit with code 2.

    A ``--database`` that is not a URL exits with code 2. With ``must_exist`` (commands
    that only read the trail), so does a missing SQLite file or an unreachable server.
    A mistyped name is then not read as an empty, intact trail.
    """
    if database is not None:
        _check_database(database, must_exist)
    try:
        container = build_container(governance_url=database)
        container.governance.roles()
    except (
        MissingPseudonymisationKey,
        MissingRoleDirectory,
        InvalidRoleDirectory,
        WeakPseudonymisationKey,
    ) as error:
        fail_bad_input(str(error))
    except ValidationError as error:
        fail_bad_input(describe_settings_error(error))
    return container


def _check_database(database: str, must_exist: bool) -> None:
    try:
        url = make_url(database)
    except ArgumentError:
        fail_bad_input(
            f"--database {database!r} is not a SQLAlchemy URL; write it as "
            "sqlite:///path/to/file.db or postgresql://user@host:port/database"
        )
    if not must_exist:
        return
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        if not Path(url.database).is_file():
            fail_bad_input(f"--database {database}: the file {url.database} does not exist")
        return
    engine = create_engine(url)
    try:
        with engine.connect():
            pass
    except OperationalError as error:
        fail_bad_input(f"--database {database}: cannot connect ({error.orig})")
    finally:
        engine.dispose()


def actor(user: str, role: Role) -> Actor:
    if not user.strip():
        fail_bad_input("--user is empty; name the person who acts")
    return Actor(user.strip(), role)


def refuse(error: GovernanceRefusal) -> NoReturn:
    """Print a governance refusal to stderr and exit with code 3."""
    errors.print(f"[bold red]refused:[/bold red] {escape(str(error))}", highlight=False)
    raise typer.Exit(REFUSED)


def require_role(container: ApplicationContainer, person: Actor) -> None:
    """Exit with code 3 unless the directory grants the person the role (read-only commands)."""
    if not container.governance.roles().holds(person.user, person.role):
        errors.print(
            f"[bold red]refused:[/bold red] {escape(person.user)!r} does not hold the role "
            f"{person.role.value!r} in the role directory",
            highlight=False,
        )
        raise typer.Exit(REFUSED)


def load_document(path: Path, kind: type[Model], what: str) -> Model:
    """Read a YAML or JSON file into a pydantic model; bad input exits with code 2."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        fail_bad_input(f"{path}: cannot read the {what} ({error.strerror})")
    try:
        document = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        fail_bad_input(f"{path}: the {what} is not valid JSON or YAML ({error})")
    try:
        return kind.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        location = ".".join(str(part) for part in first["loc"]) or "(top level)"
        fail_bad_input(
            f"{path}: {what} field {location}: {first['msg']} (got {first.get('input')!r})"
        )


def parse_time(text: str, option: str) -> int:
    """Parse an ISO 8601 time (UTC when it has no offset) into nanoseconds."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail_bad_input(f"{option} {text!r}: not an ISO 8601 time such as 2025-03-01T12:00:00Z")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1_000


def format_time(time_ns: int | None) -> str:
    if time_ns is None:
        return "–"
    moment = datetime.fromtimestamp(time_ns / 1e9, tz=UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")
