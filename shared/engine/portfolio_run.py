"""One run of one portfolio: look its names up, load its members' candles, walk them in
lockstep (portfolio_walk.py), and read the figures.

The unit of work both ``Portfolio`` (in process) and, later, a worker task run:
a run is a pure function of the portfolio schema and ``params`` (with the
registered strategies, risks, exchange and frame it names), so a variant gives
the same figures wherever it runs. ``params`` (JSON) varies a registered
portfolio without registering another:

- ``"members"``: ``{"SYMBOL:strategy_name": {param: value}}``, laid over each
  named member's strategy params; ``"SYMBOL:strategy_name.param": value`` is the
  same, written flat (how a walker's portfolio variant carries it, one key per
  swept param, as a strategy variant's params are);
- ``"max_positions"``: the portfolio risk's ``max_positions`` (the portfolio
  needs a ``risk_name``);
- ``"capital"``: the capital in dollars.

``record()`` is the run's figures as flat JSON, with each member's statistics;
``fingerprint()`` says what produced them (a walker's result carries it).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .. import events
from ..candles import Candles
from ..coverage import Coverage, check_coverage
from ..daily_pnl import daily_record
from ..engine_config import EngineConfig, get_config
from ..errors import CandleDataError, DataCoverageError, UsageError, did_you_mean
from ..fingerprint import btfarm_version, config_hash, fingerprint
from ..frames import frame_bounds, frame_ticks
from ..registry import get_exchange, get_frame, get_risk, get_strategy, get_strategy_risks
from ..risk_book import RiskBook, new_books
from ..schemas import PORTFOLIO_GRID_KEYS, PortfolioSchema, RiskSchema, StrategySchema
from ..settings import get_settings
from ..stats import BacktestStatistics, compute_statistics
from .backtest_run import load_frame_candles
from .intents import compute_intents
from .lifecycle import StrategyCore
from .portfolio_capital import CapitalGate, CapitalLedger
from .portfolio_walk import BookView, Listener, Member, PortfolioWalk

PARAM_KEYS = ("members", *PORTFOLIO_GRID_KEYS)  # and the members' params written flat
# callbacks that run while a signal lives (between the asks): a member with one is walked strictly
LIVING_CALLBACKS = frozenset(
    {
        "on_open",
        "on_close",
        "on_active",
        "on_schedule",
        "on_cancel",
        "on_active_ping",
        "on_partial_profit",
        "on_partial_loss",
        "on_breakeven",
    }
)


class PortfolioRun:
    """A configured portfolio run; iterate ``steps()`` to drive it, or call ``run()``."""

    def __init__(
        self,
        portfolio: PortfolioSchema,
        params: dict[str, Any] | None = None,
        cfg: EngineConfig | None = None,
        listener: Listener | None = None,
        candles: dict[str, Candles] | None = None,
        needed_by: str = "the portfolio run",
    ) -> None:
        self.cfg = cfg or get_config()
        self.params = dict(params or {})
        portfolio, member_params, risk_update = apply_params(portfolio, self.params)
        self.portfolio = portfolio
        name = portfolio.portfolio_name
        where = f'{needed_by}: portfolio "{name}"'
        self.exchange = get_exchange(portfolio.exchange_name, where)
        self.frame = get_frame(portfolio.frame_name, where)
        risk = None
        if portfolio.risk_name:
            risk = get_risk(portfolio.risk_name, where)
            if risk_update:
                risk = risk.model_copy(update=risk_update)
        strategies = [
            get_strategy(m.strategy_name, f"{where}, members[{k}] on {m.symbol}")
            for k, m in enumerate(portfolio.members)
        ]
        member_risks = [
            get_strategy_risks(s, f"{where}, members[{k}]", [risk] if risk else None)
            for k, s in enumerate(strategies)
        ]
        self.candles = self._load(candles or {}, where)
        self.coverage: dict[str, Coverage] = {}
        for k, m in enumerate(portfolio.members):
            if m.symbol not in self.coverage:
                try:
                    self.coverage[m.symbol] = check_coverage(
                        self.candles[m.symbol],
                        self.exchange.exchange_name,
                        m.symbol,
                        self.frame,
                        get_settings().max_gap_minutes,
                    )
                except DataCoverageError as exc:
                    raise DataCoverageError(f"{where}, members[{k}] ({m.key}): {exc}") from exc
        start_ms, end_ms = frame_bounds(self.frame)
        names = list(dict.fromkeys(r.risk_name for risks in member_risks for r in risks))
        self.books = new_books(names, shared=True)
        self.positions = RiskBook(
            name, shared=True
        )  # every member's signals, kept when the capital reads it
        capital = portfolio.capital
        self.ledger = (
            CapitalLedger(capital, float(self.cfg.CC_POSITION_ENTRY_COST), start_ms)
            if capital is not None
            else None
        )
        strict_everywhere = events.any_listened(events.POSITION_TOPICS)
        members = []
        for k, (m, strategy, risks) in enumerate(
            zip(portfolio.members, strategies, member_risks, strict=True)
        ):
            members.append(
                self._member(
                    k,
                    m.symbol,
                    strategy,
                    risks,
                    member_params.get(m.key),
                    start_ms,
                    end_ms,
                    strict_everywhere,
                )
            )
        self.walk = PortfolioWalk(
            members, frame_ticks(self.frame), self.positions, self.ledger, listener
        )

    def _load(self, given: dict[str, Candles], where: str) -> dict[str, Candles]:
        """Each member symbol's candles, loaded once per symbol; a symbol the exchange lacks is an
        error naming the member."""
        loaded: dict[str, Candles] = {}
        for k, m in enumerate(self.portfolio.members):
            if m.symbol in loaded:
                continue
            if m.symbol in given:
                loaded[m.symbol] = given[m.symbol]
                continue
            try:
                loaded[m.symbol] = load_frame_candles(self.exchange, self.frame, m.symbol, self.cfg)
            except (CandleDataError, DataCoverageError) as exc:
                raise type(exc)(
                    f'{where}, members[{k}] ({m.key}): exchange "{self.exchange.exchange_name}" has '
                    f"no candles for {m.symbol} ({exc}); list a symbol the exchange has, or remove "
                    "the member"
                ) from exc
        return loaded

    def _member(
        self,
        k: int,
        symbol: str,
        strategy: StrategySchema,
        risks: list[RiskSchema],
        params: dict[str, Any] | None,
        start_ms: int,
        end_ms: int,
        strict_everywhere: bool,
    ) -> Member:
        candles = self.candles[symbol]
        views: dict[str, RiskBook] = {r.risk_name: BookView(self.books[r.risk_name]) for r in risks}
        merged = {**strategy.params, **params} if params is not None else None
        core = StrategyCore(
            strategy,
            symbol,
            self.exchange.exchange_name,
            self.cfg,
            lambda kind, rec: None,
            frame_name=self.frame.frame_name,
            frame_end_ms=end_ms,
            params=merged,
            risk=risks,
            risk_books=views,
        )
        core.use_candles(candles)
        if self.ledger is not None:  # the capital is checked last, once every risk has passed
            core.risk_gates.append(
                CapitalGate(self.ledger, BookView(self.positions), self.portfolio.portfolio_name)
            )
        intents = None
        if strategy.get_signals is not None:  # (as a backtest's form "auto")
            intents = compute_intents(
                strategy.get_signals,
                candles,
                core.params,
                self.cfg.CC_AVG_PRICE_CANDLES_COUNT,
                f'strategy "{core.name}" on {symbol}',
            )
        strict = strict_everywhere or bool(LIVING_CALLBACKS.intersection(strategy.callbacks))
        books = [self.books[r.risk_name] for r in risks]
        if (
            self.ledger is not None
        ):  # (only the capital's payload reads the book of every member's signals)
            books.append(self.positions)
        return Member(k, core, candles, books, intents, strict)

    # ---- driving ------------------------------------------------------------

    def steps(self, should_stop: Callable[[], bool] | None = None) -> Iterator[int]:
        return self.walk.steps(should_stop)

    def run(self) -> PortfolioRun:
        self.walk.run()
        return self

    @property
    def total_ticks(self) -> int:
        return len(self.walk.ticks)

    @property
    def stopped(self) -> bool:
        return self.walk.stopped

    # ---- figures -------------------------------------------------------------

    @property
    def members(self) -> list[Member]:
        return self.walk.members

    @property
    def closed(self) -> list[dict[str, Any]]:
        """Every member's closed signals, in the order they closed."""
        return self.walk.closed

    def statistics(self) -> BacktestStatistics:
        """SEMANTICS 4 over every member's closed trades (taken in close order)."""
        return compute_statistics(
            self.walk.closed, rejected=sum(m.core.rejected for m in self.members)
        )

    def member_statistics(self, member: Member) -> BacktestStatistics:
        return compute_statistics(member.closed, rejected=member.core.rejected)

    def compounded_return(self) -> float | None:
        """Percent: every closed trade's PnL compounded in close order (None with no trade)."""
        if not self.walk.closed:
            return None
        pnl = np.array([c["pnl"]["pnl_percentage"] for c in self.walk.closed], dtype=float)
        return float((np.prod(1.0 + pnl / 100.0) - 1.0) * 100.0)

    def equity(self) -> dict[str, Any] | None:
        """The capital's equity: the curve (ms, dollars) from the start through every close, the
        final equity, its return and its largest drawdown in percent; None without capital."""
        ledger = self.ledger
        if ledger is None:
            return None
        curve = list(ledger.curve)  # (a copy in one step: a running walk appends to it)
        values = np.array([v for _, v in curve], dtype=float)
        peaks = np.maximum.accumulate(values)
        drawdown = float(np.max((peaks - values) / peaks) * 100.0) if len(values) else 0.0
        return {
            "capital": ledger.capital,
            "final_equity": ledger.equity,
            "free_capital": ledger.free,
            "return_percent": (ledger.equity / ledger.capital - 1.0) * 100.0,
            "max_drawdown_percent": drawdown if math.isfinite(drawdown) else None,
            "curve": [[int(t), float(v)] for t, v in curve],
        }

    def rejections(self) -> list[dict[str, Any]]:
        """Rejections by risk or capital, counted per (member, risk, rejection id), most first."""
        counts = self.walk.rejections_by.copy()  # (a copy in one step: a running walk adds to it)
        rows = [
            {"member": member, "risk_name": risk, "rejection_id": rid, "count": count}
            for (member, risk, rid), count in counts.items()
        ]
        return sorted(
            rows, key=lambda r: (-r["count"], r["member"], r["risk_name"], r["rejection_id"])
        )

    def daily_pnl(self) -> dict[str, Any]:
        """Every member's closed trades' PnL per day of the frame, sparse (daily_pnl.py): what a
        walker's trust figures read of a variant."""
        closed = list(self.walk.closed)
        pnl = np.array([c["pnl"]["pnl_percentage"] for c in closed], dtype=float)
        close_at = np.array([c["close_timestamp"] for c in closed], dtype=np.int64)
        return daily_record(pnl, close_at, *frame_bounds(self.frame))

    def fingerprints(self) -> dict[str, dict[str, Any]]:
        """Each member's fingerprint (fingerprint.py), by member key."""
        return {
            f"{m.core.symbol}:{m.core.strategy.strategy_name}": fingerprint(
                m.core.strategy, m.core.params, m.candles, self.cfg, m.core.name
            )
            for m in self.members
        }

    def fingerprint(self, name: str | None = None) -> dict[str, Any]:
        """What produced the run's figures, as a walker's result carries it (fingerprint.py's
        fields, for the whole portfolio): ``source_hash`` and ``candles_digest`` hash every
        member's; ``members`` has each member's own fingerprint. ``name``: the variant's."""
        members = self.fingerprints()
        digest = hashlib.blake2b(digest_size=16)
        candles = hashlib.blake2b(digest_size=16)
        for key, one in members.items():
            digest.update(f"{key}={one['source_hash']};".encode())
            candles.update(f"{key}={one['candles_digest']};".encode())
        return {
            "btfarm_version": btfarm_version(),
            "strategy_name": name or self.portfolio.portfolio_name,
            "portfolio_name": self.portfolio.portfolio_name,
            "params": json.loads(json.dumps(self.params, sort_keys=True, default=str)),
            "source_hash": digest.hexdigest(),
            "data_start_ms": min(
                (m["data_start_ms"] for m in members.values() if m["data_start_ms"] is not None),
                default=None,
            ),
            "data_end_ms": max(
                (m["data_end_ms"] for m in members.values() if m["data_end_ms"] is not None),
                default=None,
            ),
            "candles": sum(m["candles"] for m in members.values()),
            "candles_digest": candles.hexdigest(),
            "fee_percent": self.cfg.CC_PERCENT_FEE,
            "slippage_percent": self.cfg.CC_PERCENT_SLIPPAGE,
            "config_hash": config_hash(self.cfg),
            "members": members,
        }

    def record(self) -> dict[str, Any]:
        """The run's figures as flat JSON: what a worker task returns for a portfolio variant."""
        walk = self.walk
        equity = self.equity()
        return {
            "portfolio_name": self.portfolio.portfolio_name,
            "params": self.params,
            "stats": self.statistics().model_dump(),
            "compounded_return": self.compounded_return(),
            "equity": {k: v for k, v in equity.items() if k != "curve"} if equity else None,
            "risk_rejections": walk.risk_events,
            "max_open_positions": walk.max_open,
            "max_open_at": walk.max_open_at,
            "members": [
                {
                    "symbol": m.core.symbol,
                    "strategy_name": m.core.name,
                    "stats": self.member_statistics(m).model_dump(),
                    "strict": m.strict,
                    "lane": "vector" if m.intents is not None else "event",
                }
                for m in self.members
            ],
            "daily_pnl": self.daily_pnl(),
            "stopped": walk.stopped,
        }


def apply_params(
    portfolio: PortfolioSchema, params: dict[str, Any]
) -> tuple[PortfolioSchema, dict[str, dict[str, Any]], dict[str, Any]]:
    """The portfolio with ``params`` applied: (schema, params by member key, risk update).
    Raises UsageError naming the portfolio, the key and the fix."""
    name = portfolio.portfolio_name
    keys = [m.key for m in portfolio.members]
    flat = {key: member_param(key, keys) for key in params if key not in PARAM_KEYS}
    unknown = [key for key, found in flat.items() if found is None]
    if unknown:
        raise UsageError(
            f'portfolio "{name}": params has unknown key {unknown[0]!r}.'
            + did_you_mean(str(unknown[0]), [*PARAM_KEYS, *(f"{k}.PARAM" for k in keys)])
            + f" Its keys are {', '.join(PARAM_KEYS)}, and a member's strategy param written "
            f'"SYMBOL:strategy_name.param"; the members are {", ".join(keys)}'
        )
    members = params.get("members") or {}
    if not isinstance(members, dict) or not all(isinstance(v, dict) for v in members.values()):
        raise UsageError(
            f'portfolio "{name}": params["members"] must map "SYMBOL:strategy_name" to a dict of '
            f"strategy params, got {members!r}"
        )
    for key in members:
        if key not in keys:
            raise UsageError(
                f'portfolio "{name}": params["members"] names {key!r}, not a member.'
                + did_you_mean(str(key), keys)
                + f" The members are {', '.join(keys)}"
            )
    members = {key: dict(values) for key, values in members.items()}
    for key, found in flat.items():
        member, param = found  # type: ignore[misc]
        if param in members.get(member, {}):
            raise UsageError(
                f'portfolio "{name}": params sets {member}\'s {param!r} twice, as {key!r} and in '
                'params["members"]; give it once'
            )
        members.setdefault(member, {})[param] = params[key]
    risk_update: dict[str, Any] = {}
    if "max_positions" in params:
        if not portfolio.risk_name:
            raise UsageError(
                f'portfolio "{name}": params["max_positions"] sets the portfolio risk\'s max_positions, '
                "but the portfolio has no risk_name; give it one (add_portfolio(..., risk_name=...))"
            )
        value = params["max_positions"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UsageError(
                f'portfolio "{name}": params["max_positions"] must be an integer >= 1, got {value!r}'
            )
        risk_update["max_positions"] = value
    if "capital" in params:
        try:
            portfolio = PortfolioSchema.model_validate(
                {**portfolio.model_dump(), "capital": params["capital"]}
            )
        except ValueError as exc:
            raise UsageError(f'portfolio "{name}": params["capital"]: {exc}') from exc
    return portfolio, members, risk_update


def member_param(key: str, members: list[str]) -> tuple[str, str] | None:
    """(member key, param) of a flat ``"SYMBOL:strategy_name.param"``, or None when no member
    starts it (the longest member key that does wins: names may hold dots)."""
    found = [m for m in members if key.startswith(m + ".") and len(key) > len(m) + 1]
    if not found:
        return None
    member = max(found, key=len)
    return member, key[len(member) + 1 :]
