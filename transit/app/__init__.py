"""The aiohttp application: shared services, components, health, metrics and start-up."""

from transit.app.services import SERVICES, Services, get_services

__all__ = ["SERVICES", "Services", "get_services"]
