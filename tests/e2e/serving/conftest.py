"""Fixtures of the serving end-to-end tests: a trained model, servers, processes."""

from tests.support.servers import postgres_schema_url, real_redis, redis_prefix
from tests.support.serving import memory_service, model_artifact

__all__ = ["memory_service", "model_artifact", "postgres_schema_url", "real_redis", "redis_prefix"]
