"""The ASGI entry point for uvicorn (`api.asgi:app`), configured from the environment."""

from api.app import create_app
from api.banner import with_banner
from api.logs import configure_logging
from api.settings import Settings

settings = Settings.from_env()
# Here too, not only in `kizuna serve`: `uvicorn api.asgi:app` (the bench, a process
# manager) must log the same way; this replaces whatever uvicorn set up before the import.
configure_logging(settings.log_level, settings.log_format, production=settings.production)
app = with_banner(create_app(settings), settings)
