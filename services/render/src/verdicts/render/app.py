"""render: publishes comparison pages, tool pages, indexes and the weekly issue."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from faststream.nats import NatsRouter

from verdicts.contracts import PagePublished
from verdicts.platform.service import ServiceSpec
from verdicts.platform.settings import PlatformSettings, load_settings, platform_settings
from verdicts.render import worker
from verdicts.render.api import build_routes
from verdicts.render.config import RenderSettings
from verdicts.render.handlers import register
from verdicts.render.pages import Site
from verdicts.render.publisher import DirectoryPublisher

NAME = "render"
SCHEMA = "render"


def create_app(platform: PlatformSettings | None = None) -> ServiceSpec:
    settings = load_settings(RenderSettings)
    platform = platform or platform_settings()
    publisher = DirectoryPublisher(settings.site_dir or platform.home / "site")
    site = Site(settings.base_url or f"http://{platform.host}:{platform.port}", settings.gap_flag_points)
    router = NatsRouter()
    register(router, platform, settings.rivals)
    router.publisher(PagePublished.SUBJECT, schema=PagePublished, title="PagePublished")
    return ServiceSpec(
        name=NAME,
        schema=SCHEMA,
        router=router,
        route_handlers=build_routes(site, publisher),
        migrations=Path(__file__).parent / "migrations",
        background=[partial(worker.run, site=site, publisher=publisher, interval_s=settings.interval_s)],
    )
