"""btfarm.shared: the pure core, usable without any server.

What other tiers (and users who want the engine alone) import: the schemas
and registry, candles and exchanges, the engine's one-variant run, the
statistics. Nothing here imports Celery or the orchestrator.
"""

from . import errors  # the exception tree (btfarm.orchestrator re-exports its classes)
from .candles import Candles, CandleWindow, to_candles
from .engine.backtest_run import BacktestRun, load_frame_candles
from .engine_config import EngineConfig, get_config, reset_config, set_config
from .results import ClosedResult, PnL, to_model
from .schemas import (
    ExchangeSchema,
    FrameSchema,
    PortfolioSweep,
    RiskSchema,
    SizingSchema,
    StrategySchema,
    Sweep,
    WalkerSchema,
    portfolio_sweep,
    sweep,
)
from .stats import BacktestStatistics, LiveStatistics, compute_live_statistics, compute_statistics
from .trade_signal import SignalDto, SignalRow

__version__ = "0.1.0"

__all__ = [
    "errors",
    "BacktestRun",
    "BacktestStatistics",
    "CandleWindow",
    "Candles",
    "ClosedResult",
    "EngineConfig",
    "ExchangeSchema",
    "FrameSchema",
    "LiveStatistics",
    "PnL",
    "PortfolioSweep",
    "RiskSchema",
    "SignalDto",
    "SignalRow",
    "SizingSchema",
    "StrategySchema",
    "Sweep",
    "WalkerSchema",
    "compute_live_statistics",
    "compute_statistics",
    "get_config",
    "load_frame_candles",
    "portfolio_sweep",
    "reset_config",
    "set_config",
    "sweep",
    "to_candles",
    "to_model",
]
