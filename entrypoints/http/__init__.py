"""The HTTP decision service (FastAPI): decisions, online features, models, governance,
health and metrics. ``create_app`` builds the application from assembled services."""

from .app import create_app
from .assemble import build_serving_services
from .services import ServingServices
from .settings import ServeSettings, load_serve_settings

__all__ = [
    "ServeSettings",
    "ServingServices",
    "build_serving_services",
    "create_app",
    "load_serve_settings",
]
