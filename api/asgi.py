"""The ASGI entry point for uvicorn (`api.asgi:app`), configured from the environment."""

from api.app import create_app
from api.banner import with_banner
from api.settings import Settings

settings = Settings.from_env()
app = with_banner(create_app(settings), settings)
