"""Rule sets read from YAML files."""

from .yaml_file import load_rule_set

__all__ = ["load_rule_set"]
