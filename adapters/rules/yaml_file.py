"""Read a rule set from a YAML file, with errors that name the file and the field."""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

from twinbank.core.ensemble import InvalidRules, RuleSet, parse_rule_set


def load_rule_set(path: Path) -> tuple[RuleSet, str]:
    """Return the validated rule set and the SHA-256 of the file; raises InvalidRules."""
    try:
        text = path.read_bytes()
    except OSError as error:
        raise InvalidRules(
            f"{path}: cannot be read ({error.strerror}); name an existing rule file"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise InvalidRules(f"{path}: is not valid YAML: {error}") from None
    return parse_rule_set(data, str(path)), hashlib.sha256(text).hexdigest()
