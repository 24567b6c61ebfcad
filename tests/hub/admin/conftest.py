from tests.hub.credits.fixtures import db, fast_settings

__all__ = ["db", "fast_settings"]
