"""Checking a signal against a risk (SEMANTICS 1), as backtest-kit's ClientRisk reads it.

A validation is a function of the payload, or ``{"validate": fn, "note": str}``
(the note documents it). What it returns decides:

- None, False or "" -> the signal passes this validation;
- a non-empty string -> rejected, with that string as the note;
- a dict ``{"id", "note"}`` -> rejected with that id and note (a missing
  note reads "Validation rejected the signal", backtest-kit's words);
- a raise -> rejected, with the exception's message as the note;
- anything else (True, 1, a list ...) -> refused: a ``SchemaError`` naming the
  risk, the validation and the value, saying what to return. (backtest-kit
  would let such a signal pass; old btfarm read True as "allowed" and any
  string as a pass, so an answer of another type is a bug to fix, not a
  vote to guess.)

The rule given as data, ``max_positions``, is checked before the functions:
while that many positions of this risk are open, a signal is rejected (id
"max_positions"). The first rejection wins. ``StrategyCore`` (engine/
lifecycle.py) runs the gates, emits the rejection and gives the throttle
bucket back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import SchemaError
from .risk_book import RiskBook
from .schemas import RiskSchema

DICT_NOTE = "Validation rejected the signal"  # backtest-kit's note for a dict without one
ANSWER_KEYS = ("id", "note")
# backtest-kit's IRiskCheckArgs: what on_rejected / on_allowed get (the payload without the book)
CHECK_ARGS = (
    "symbol",
    "current_signal",
    "strategy_name",
    "exchange_name",
    "risk_name",
    "frame_name",
    "current_price",
    "timestamp",
)
WHAT_TO_RETURN = (
    'a validation returns None, False or "" to let the signal pass, and a non-empty string '
    '(the note) or {"id": ..., "note": ...} to reject it (raising rejects too)'
)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a risk refused a signal: ``id`` (None unless the validation gave one), ``note``, and
    which validation said so (``by``: e.g. ``validations[1] (max_two)`` or ``max_positions``)."""

    id: Any
    note: str
    by: str


@dataclass(frozen=True, slots=True)
class Validation:
    fn: Callable[[dict[str, Any]], Any]
    note: str | None
    label: str  # how errors name it: validations[k] (its function's name)


def validations_of(risk: RiskSchema) -> list[Validation]:
    """A risk's validations, each as (function, note, label); the schema checked their shape."""
    found = []
    for k, item in enumerate(risk.validations):
        fn, note = (item["validate"], item.get("note")) if isinstance(item, dict) else (item, None)
        name = getattr(fn, "__name__", "")
        label = f"validations[{k}]" + (f" ({name})" if name and name != "<lambda>" else "")
        found.append(Validation(fn, note, label))
    return found


def read_answer(
    answer: Any, risk_name: str, label: str, who: Callable[[], str]
) -> Rejection | None:
    """What a validation's ``answer`` means: None (passes) or the rejection; ``who`` names the
    signal being checked, for the refusal of an answer of an unknown type."""
    if answer is None or answer is False or (isinstance(answer, str) and answer == ""):
        return None
    if isinstance(answer, str):
        return Rejection(None, answer, label)
    if isinstance(answer, dict):
        unknown = [key for key in answer if key not in ANSWER_KEYS]
        if not unknown:
            note = answer.get("note")
            return Rejection(answer.get("id") or None, str(note) if note else DICT_NOTE, label)
        raise SchemaError(
            f'risk "{risk_name}": {label} returned a dict with unknown key {unknown[0]!r} '
            f"({answer!r}) for {who()}; {WHAT_TO_RETURN}"
        )
    raise SchemaError(
        f'risk "{risk_name}": {label} returned {answer!r} ({type(answer).__name__}) for {who()}; '
        f"{WHAT_TO_RETURN}"
    )


class RiskGate:
    """One risk as a strategy's core checks it: the schema, its validations, and the book of the
    run's open positions that it reads (and the core writes)."""

    __slots__ = ("risk", "name", "book", "validations", "callbacks", "max_positions")

    def __init__(self, risk: RiskSchema, book: RiskBook) -> None:
        self.risk = risk
        self.name = risk.risk_name
        self.book = book
        self.validations = validations_of(risk)
        self.callbacks = risk.callbacks
        self.max_positions = risk.max_positions

    @property
    def in_python(self) -> bool:
        """True when a check needs Python per signal: a validation or a callback to run, or a
        book other cores write (a position limit can bite). A gate of data alone over its own
        book never rejects a flat strategy (max_positions >= 1), so the compiled lane may skip it."""
        return bool(self.validations or self.callbacks or self.book.shared)

    def payload(self, base: dict[str, Any]) -> dict[str, Any]:
        """The payload of ``base`` (symbol, names, price, time, the candidate signal) for this risk."""
        return {
            **base,
            "risk_name": self.name,
            "active_position_count": len(self.book),
            "active_positions": self.book.positions(),
        }

    def check(self, payload: dict[str, Any], who: Callable[[], str]) -> Rejection | None:
        """The first rejection of ``payload`` (max_positions, then each validation in order), or None."""
        if (
            self.max_positions is not None
            and payload["active_position_count"] >= self.max_positions
        ):
            return Rejection(
                "max_positions",
                f"{payload['active_position_count']} positions open, "
                f"max_positions is {self.max_positions}",
                "max_positions",
            )
        for validation in self.validations:
            try:
                answer = validation.fn(payload)
            except Exception as exc:  # user code: a raise is a rejection with its message
                return Rejection(None, str(exc) or type(exc).__name__, validation.label)
            rejection = read_answer(answer, self.name, validation.label, who)
            if rejection is not None:
                return rejection
        return None


def check_args(payload: dict[str, Any]) -> dict[str, Any]:
    """What the risk's callbacks get (backtest-kit's IRiskCheckArgs): the payload without the book."""
    return {key: payload[key] for key in CHECK_ARGS}


def risk_names(strategy: Any) -> list[str]:
    """The risks a strategy names, in the order they are checked: ``risk_name`` first, then
    ``risk_list`` (a name given twice is checked once), as backtest-kit merges them."""
    names = [strategy.risk_name] if getattr(strategy, "risk_name", None) else []
    for name in getattr(strategy, "risk_list", None) or ():
        if name not in names:
            names.append(name)
    return names
