"""render: publishes comparison pages, tool pages, indexes and the weekly issue.

``create_app()`` wires the service (no I/O): its settings, the site and publisher, the bus
handlers writing the read model, the HTTP routes and the re-render loop.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from faststream.nats import NatsRouter

from verdicts.contracts import PagePublished
from verdicts.platform.service import Runtime, ServiceSpec
from verdicts.platform.settings import PlatformSettings, load_settings, platform_settings
from verdicts.render import newsletter, store, worker
from verdicts.render.api import build_router
from verdicts.render.config import RenderSettings
from verdicts.render.handlers import READ_MODEL, register
from verdicts.render.newsletter import Newsletter
from verdicts.render.pages import Site
from verdicts.render.publisher import DirectoryPublisher
from verdicts.render.read_model import ReadModel
from verdicts.render.subscribers import build_subscriber_router

NAME = "render"


def create_app(platform: PlatformSettings | None = None) -> ServiceSpec:
    settings = load_settings(RenderSettings)
    platform = platform or platform_settings()
    publisher = DirectoryPublisher(settings.site_dir or platform.home / "site")
    site = Site(platform.site_url or f"http://{platform.host}:{platform.port}", settings.gap_flag_points)
    mail = Newsletter(settings, site.base_url)
    router = NatsRouter()
    register(router, platform)
    router.publisher(PagePublished.SUBJECT, schema=PagePublished, title="PagePublished")

    async def attach_read_model(runtime: Runtime) -> None:
        runtime.broker.context.set_global(READ_MODEL, ReadModel(runtime.pool, settings.rivals))

    async def configure_mail(runtime: Runtime) -> None:
        mail.configure(runtime.settings.home)

    return ServiceSpec(
        name=NAME,
        schema=store.SCHEMA,
        router=router,
        route_handlers=[build_router(site, publisher, settings), build_subscriber_router(site, mail)],
        migrations=Path(__file__).parent / "migrations",
        on_startup=[attach_read_model, configure_mail],
        background=[
            partial(worker.run, site=site, publisher=publisher, interval_s=settings.interval_s),
            partial(newsletter.run, newsletter=mail),
        ],
    )
