"""Role directories: who holds which governance role."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from twinbank.core.governance import Role


class InvalidRoleDirectory(ValueError):
    """A role file that cannot be read; the message names the file, the field and the fix."""


class ClaimedRoles:
    """Accepts every claimed role. For embedded and local runs without an identity
    provider; the production profile requires a role file instead."""

    def holds(self, user: str, role: Role) -> bool:
        return True


class RoleGrants(BaseModel):
    """The role file: ``users`` maps each person to the roles they hold."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    users: dict[str, tuple[Role, ...]]


class FileRoleDirectory:
    """Roles granted in a YAML file, read once::

    users:
      alice: [developer]
      bob: [validator, model_risk_manager]
    """

    def __init__(self, grants: RoleGrants) -> None:
        self._grants = {user: frozenset(roles) for user, roles in grants.users.items()}

    @classmethod
    def from_file(cls, path: Path) -> FileRoleDirectory:
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise InvalidRoleDirectory(f"{path}: cannot read the role file ({error})") from error
        except yaml.YAMLError as error:
            raise InvalidRoleDirectory(f"{path}: not valid YAML ({error})") from error
        try:
            return cls(RoleGrants.model_validate(document))
        except ValidationError as error:
            first = error.errors()[0]
            location = ".".join(str(part) for part in first["loc"])
            raise InvalidRoleDirectory(
                f"{path}: field {location!r}: {first['msg']} (got {first.get('input')!r}); "
                f"roles are {', '.join(role.value for role in Role)}"
            ) from error

    def holds(self, user: str, role: Role) -> bool:
        return role in self._grants.get(user, frozenset())
