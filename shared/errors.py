"""Every exception btfarm raises, grouped by what a handler should do.

    BtfarmError
     ├── ConfigError            stop: the setup is wrong, nothing can run
     │    ├── SchemaError           a schema given to add_* is malformed (also a ValueError)
     │    ├── NotRegisteredError    a name used before it was registered
     │    ├── SettingsError         a BTFARM_* variable is unknown or invalid
     │    ├── UsageError            an argument of a call is wrong (also a ValueError)
     │    ├── NotFoundError         no such run here or in Redis (also a LookupError)
     │    └── AlreadyRunningError   the instance runs with other settings (also a RuntimeError)
     ├── InputError             reject that one thing, keep the run or sweep going
     │    ├── CandleDataError       an exchange returned bad candles
     │    ├── SignalError           get_signal returned something unusable
     │    ├── StrategyError         get_signal raised
     │    ├── PersistenceError      a persisted file is corrupt or truncated
     │    ├── ReportError           a report column or dump path is wrong
     │    ├── DataCoverageError     a frame asks for candles the exchange does not have
     │    └── ChunkFailed           every variant of a sweep chunk failed (its task's FAILURE)
     └── TransientError         retry with backoff
          ├── StoreUnavailable      Redis did not answer
          └── StoreFull             Redis refused a write: out of memory (maxmemory)

Messages name the thing, show the value and say the fix; causes are chained
with ``raise ... from``. No other exception type is raised on purpose from
btfarm's packages (tests/unit/test_error_tree.py walks them); the few
built-in raises a protocol requires (pydantic validators, ``json`` defaults,
abstract methods) are marked ``# protocol:`` where they are.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class BtfarmError(Exception):
    """Base of every error btfarm raises on purpose."""


class ConfigError(BtfarmError):
    """The setup is wrong: stop before doing any work."""


class SchemaError(ConfigError, ValueError):
    """A schema passed to an ``add_*`` function is malformed; a ValueError so that
    pydantic validators may raise it too."""


class NotRegisteredError(ConfigError):
    """A schema name was used before it was registered."""


class SettingsError(ConfigError):
    """A ``BTFARM_*`` environment variable or a ``set_config`` key is wrong."""


class UsageError(ConfigError, ValueError):
    """A btfarm function was called with an argument it cannot take."""


class NotFoundError(ConfigError, LookupError):
    """The run asked for is not in this process (or the sweep not in Redis)."""


class AlreadyRunningError(ConfigError, RuntimeError):
    """The instance is running already, with other settings than this call gives."""


class InputError(BtfarmError):
    """One input is bad: reject it and keep the rest of the work going."""


class CandleDataError(InputError):
    """An exchange returned candles that cannot be used."""


class SignalError(InputError):
    """A strategy returned a signal that breaks the validation rules."""


class StrategyError(InputError):
    """A strategy's own code raised; the original is chained as the cause."""


class PersistenceError(InputError):
    """Persisted state is corrupt or truncated; it is left untouched."""


class ReportError(InputError):
    """A report column or dump path is wrong."""


class DataCoverageError(InputError):
    """A frame reaches past the exchange's candles, or there are none: never invented."""


class ChunkFailed(InputError):
    """Every variant of one chunk failed; each is reported with its own reason."""


class TransientError(BtfarmError):
    """A passing fault: retry with backoff."""


class StoreUnavailable(TransientError):
    """The Redis state store did not answer."""


class StoreFull(TransientError):
    """Redis refused a write because it reached ``maxmemory`` (noeviction)."""


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """A ' Did you mean ...?' suffix listing close matches, or ''."""
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
    if not close:
        return ""
    return " Did you mean " + " or ".join(f'"{c}"' for c in close) + "?"
