"""The Celery side of the farm: what ``celery -A btfarm.workers worker`` loads.

    from btfarm.workers import app        # the Celery app (tasks registered)

Everything else here is internal: the chunk task, the per-process candle
cache, the start-up that imports the user's strategy modules.
"""

from .app import app

__all__ = ["app"]
