"""Load feature pipelines from YAML files or Python modules.

A source is a path ending in ``.yaml`` or ``.yml``, or ``package.module:attribute``
naming a ``FeatureSet``, a registry document (a mapping) or a function that returns
either one.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from twinbank.core.features.definitions import FeatureSet, InvalidFeatureDefinition
from twinbank.core.features.registry import (
    InvalidRegistryDocument,
    feature_set_from_document,
)

HANDBOOK_REGISTRY = Path(__file__).with_name("handbook.yaml")
"""The handbook's 14 features as a registry file."""


def load_registry(source: str | Path) -> FeatureSet:
    """Return the feature set a YAML file or Python attribute declares.

    Raises InvalidFeatureDefinition naming the file, the line, the field and the fix.
    """
    text = str(source)
    if text.endswith((".yaml", ".yml")):
        return _load_yaml(Path(text))
    if ":" in text and not Path(text).exists():
        return _load_python(text)
    raise InvalidFeatureDefinition(
        f"registry source {text!r} is neither a .yaml/.yml file nor package.module:attribute"
    )


def _load_yaml(path: Path) -> FeatureSet:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidFeatureDefinition(f"{path}: cannot read the registry file ({error})") from None
    try:
        document = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as error:
        raise InvalidFeatureDefinition(f"{path}: invalid YAML: {error}") from None
    if not isinstance(document, Mapping):
        raise InvalidFeatureDefinition(
            f"{path}: a registry file is a mapping with pipeline, entities and features"
        )
    try:
        return feature_set_from_document(document, str(path))
    except InvalidRegistryDocument as error:
        lines = [f"line {_line_of(root, loc)}: {message}" for loc, message in error.problems]
        raise InvalidFeatureDefinition(f"{path}:\n  " + "\n  ".join(lines)) from None


def _line_of(node: yaml.Node | None, path: tuple[int | str, ...]) -> int:
    """Return the 1-based line of the deepest node along ``path`` that exists."""
    line = node.start_mark.line + 1 if node is not None else 1
    for step in path:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == step:
                    child = value
                    line = key.start_mark.line + 1
                    break
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value)
        ):
            child = node.value[step]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line


def _load_python(reference: str) -> FeatureSet:
    module_name, _, attribute = reference.partition(":")
    try:
        target: Any = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise InvalidFeatureDefinition(
            f"registry source {reference!r} cannot be imported ({error})"
        ) from None
    if callable(target) and not isinstance(target, FeatureSet):
        target = target()
    if isinstance(target, FeatureSet):
        return target
    if isinstance(target, Mapping):
        return feature_set_from_document(target, reference)
    raise InvalidFeatureDefinition(
        f"registry source {reference!r} is a {type(target).__name__}; "
        "it must be a FeatureSet, a registry document or a function returning one"
    )
