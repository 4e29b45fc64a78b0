"""Feature registry adapters: definition files and the SQL registry store."""

from .files import HANDBOOK_REGISTRY, load_registry
from .sql_store import SqlRegistryStore

__all__ = ["HANDBOOK_REGISTRY", "SqlRegistryStore", "load_registry"]
