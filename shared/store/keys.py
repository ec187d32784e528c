"""Every Redis key btfarm uses, built in one place.

Keeping the key strings here (one function per kind) means a reader can see
the whole Redis layout at a glance, a rename happens in one spot, and a test
can check that every key carries the ``btfarm:`` prefix, so a shared Redis
(a Celery broker, another app) is never trampled on.

Each function's docstring says the Redis type, who writes the key, who reads
it, and its TTL. Parts supplied by users (symbols, names, ids) are escaped so
that ``:`` inside them cannot make two different keys collide
(``BTC/USDT:USDT`` is a real perpetual-swap symbol).
"""

from __future__ import annotations

from ..errors import UsageError, did_you_mean

PREFIX = "btfarm:"
MODES = ("backtest", "live", "walker", "portfolio")  # the execution classes of SEMANTICS section 7

STOP_FLAG_TTL_SECONDS = 86_400  # a stop nobody consumed is forgotten after a day
WALKER_RESULT_TTL_SECONDS = 30 * 86_400  # sweep results kept a month for resume and reports
WALKER_LEASE_SECONDS = (
    5  # a sweep whose orchestrator stopped renewing its lease this long is orphaned
)


def _part(value: object, what: str) -> str:
    """One user-supplied key part, escaped so ':' cannot split it."""
    text = str(value)
    if not text.strip():
        raise UsageError(f"{what} must be a non-empty string to build a Redis key, got {value!r}")
    return text.replace("%", "%25").replace(":", "%3A")


def check_mode(mode: str) -> str:
    """``mode`` itself when it is one of ``MODES``; else a ValueError naming them."""
    if mode not in MODES:
        raise UsageError(
            f"mode {mode!r} is not one of {', '.join(MODES)}." + did_you_mean(str(mode), MODES)
        )
    return mode


def stop_flag(mode: str, symbol: str, name: str) -> str:
    """STRING "1": a cooperative stop request for one run.

    Writer: ``stop_flags.request_stop`` (``Backtest.stop``, ``Live.stop``,
    ``Walker.stop``, the CLI); cleared by the run when it starts and ends.
    Reader: ``stop_flags.is_stop_requested`` / ``StopPoller`` in the running
    loop and in worker tasks (a chunk's turn script reads it before each variant).
    TTL: ``STOP_FLAG_TTL_SECONDS``, so a flag nobody consumed does not stop a
    run started much later.
    """
    return f"{PREFIX}stop:{check_mode(mode)}:{_part(symbol, 'symbol')}:{_part(name, 'name')}"


def instance_status(mode: str, symbol: str, name: str) -> str:
    """HASH: the status of one instance (id, symbol, name, mode, status,
    progress, pid, host, updated_at and any extra fields).

    Writer: ``run_status.set_status`` from the running instance.
    Reader: ``run_status.list_status`` (``Backtest.list``, ``btfarm list``).
    TTL: none; removed by ``run_status.delete_status``.
    """
    return f"{PREFIX}status:{check_mode(mode)}:{_part(symbol, 'symbol')}:{_part(name, 'name')}"


def instance_index() -> str:
    """SET of ``instance_status`` keys, so listing needs no ``SCAN``.

    Writer: ``run_status.set_status`` (add), ``run_status.delete_status`` and
    ``list_status`` (remove keys whose hash is gone).
    Reader: ``run_status.list_status``.
    TTL: none.
    """
    return f"{PREFIX}status-index"


def live_signal(symbol: str, strategy: str) -> str:
    """STRING (JSON): the persisted state of one live ``symbol:strategy``: the
    engine snapshot (its active or scheduled signal, if any) and the outbox
    (the event that state produced, until it is in ``live_events``).

    Writer: ``Live`` (``store.live_state``), before it emits the signal's event
    (SEMANTICS 6); a close or cancel rewrites it without the signal.
    Reader: ``Live`` on start, to restore and monitor it (never re-open).
    TTL: none: it must survive any crash until the signal closes.
    """
    return f"{PREFIX}live:signal:{_part(symbol, 'symbol')}:{_part(strategy, 'strategy')}"


def live_events(symbol: str, strategy: str) -> str:
    """LIST of JSON records: the lifecycle events (scheduled, opened, closed,
    cancelled) of one live ``symbol:strategy``, appended once each, oldest first.

    Writer: ``Live`` right after persisting the state that produced the event
    (``store.live_state``); on start it appends the one event a crash may have
    left undelivered (the state's outbox), unless the list already has it.
    Reader: ``Live.get_data`` / ``get_report``, and ``Live`` on start.
    TTL: none: it is the durable history of the live run.
    """
    return f"{PREFIX}live:events:{_part(symbol, 'symbol')}:{_part(strategy, 'strategy')}"


def walker_run(run_id: str) -> str:
    """HASH: one walker sweep: what resume needs to finish it (walker name,
    symbol, exchange, frame, metric, chunk size, the variants as JSON), its
    state (running | done | stopped | interrupted), the attempt number (1, then
    +1 per resume), total, tested, started_at.

    Writer: the orchestrator's walker when a sweep starts, is resumed and ends.
    Reader: ``Walker.resume`` / ``btfarm walker resume RUN_ID``, reports; the chunk
    task reads ``spec`` once per sweep to build the variants a chunk names by index
    (workers/plan_variants.py).
    TTL: ``WALKER_RESULT_TTL_SECONDS``, refreshed by each write.
    """
    return f"{PREFIX}walker:{_part(run_id, 'run_id')}:run"


def search_run(run_id: str) -> str:
    """STRING: the outer run of a walker's search, which has no sweep plan (each batch of
    trials is a sweep of its own), as JSON: walker name, symbol and Optuna study, so a
    resume of its id can say how a search goes on (its walker run again).

    Writer: the orchestrator's search when it starts. Reader: ``Walker.resume``'s refusal.
    TTL: ``WALKER_RESULT_TTL_SECONDS``.
    """
    return f"{PREFIX}search:{_part(run_id, 'run_id')}:run"


def search_journal(study: str) -> str:
    """LIST of JSON lines: the Optuna journal of one search's study (its every ask, tell
    and attribute, oldest first), replayed to resume the search. Never a snapshot: Optuna's
    own Redis backend would unpickle one, so nothing here is pickled or unpickled.

    Writer: the orchestrator's search (orchestrator/searches/journal.py, RPUSH per write).
    Reader: the same, when the walker runs again (LRANGE; each line parsed as JSON).
    TTL: ``WALKER_RESULT_TTL_SECONDS``, refreshed by each write (like the sweeps of its batches).
    """
    return f"{PREFIX}search-journal:{_part(study, 'study')}"


def walker_results(run_id: str) -> str:
    """LIST of result blocks of a sweep: each the results of a batch of variants a worker
    ran together, as one compressed columnar block (shared/result_block.py), stored as
    it came (shared/store/result_blocks.py). A million results take a few tens of MB.

    Writer: the ``btfarm.backtest_chunk`` turn script (a block none of whose variants is
    collected) and the orchestrator's collect step (the rest), each with
    ``walker_collected`` in one script (a variant is in a block exactly when its bit is set).
    Reader: the orchestrator's collect step (from where it stopped), resume (skip
    variants already done), export and reports.
    TTL: ``WALKER_RESULT_TTL_SECONDS``.
    """
    return f"{PREFIX}walker:{_part(run_id, 'run_id')}:results"


def walker_collected(run_id: str) -> str:
    """STRING bitmap by variant index: bit i is set once variant i's result is stored
    in ``walker_results`` (a million variants: 125 KB).

    Writer: whoever stores a block in ``walker_results``: the ``btfarm.backtest_chunk``
    turn script or the orchestrator's collect step (shared/store/result_blocks.py).
    Reader: the same (a variant already collected is skipped, a late copy of its record
    dropped, each variant stored once).
    TTL: ``WALKER_RESULT_TTL_SECONDS``.
    """
    return f"{PREFIX}walker:{_part(run_id, 'run_id')}:collected"


def walker_lease(run_id: str) -> str:
    """STRING (attempt number): held while an orchestrator collects the sweep.

    Writer: the orchestrator, renewed about every second while it collects,
    deleted when the sweep ends.
    Reader: the ``btfarm.backtest_chunk`` task before each variant: a chunk
    whose attempt does not hold the lease (its orchestrator died, or a resume
    superseded it) stops without running or reporting anything, so a crashed
    sweep stops costing CPU and a resume never races its own leftovers.
    TTL: ``WALKER_LEASE_SECONDS``.
    """
    return f"{PREFIX}walker:{_part(run_id, 'run_id')}:lease"


def walker_owner(walker_name: str, symbol: str) -> str:
    """STRING (run id): the sweep collecting this walker on this symbol now, on any host.

    Writer: the orchestrator, SET NX when a sweep (or a resume) starts, renewed with
    ``walker_lease``, deleted when the sweep ends.
    Reader: the same, before it starts: a second orchestrator on the same walker and
    symbol is refused with this run id instead of running it twice.
    TTL: ``WALKER_LEASE_SECONDS`` (a dead orchestrator frees it within that).
    """
    return f"{PREFIX}walker-owner:{_part(walker_name, 'walker_name')}:{_part(symbol, 'symbol')}"


def walker_executions(run_id: str) -> str:
    """STRING of one unsigned byte per variant index (BITFIELD u8, saturating at 255):
    how many times a worker claimed it to run (shared/store/variant_marks.py); a variant
    claimed in a batch counts when the batch is claimed.

    Writer: the ``btfarm.backtest_chunk`` task (BITFIELD INCRBY as it claims each variant).
    Reader: tests and diagnostics (a resumed sweep must not recompute
    finished variants; a redelivered chunk skips variants already collected).
    TTL: ``WALKER_RESULT_TTL_SECONDS``.
    """
    return f"{PREFIX}walker:{_part(run_id, 'run_id')}:executions"


def walker_claims(run_id: str, attempt: int) -> str:
    """STRING of one u32 per variant index (BITFIELD): 1 + the ``chunk_id`` of the chunk
    that took it in one attempt of a sweep, 0 while none did (shared/store/variant_marks.py).

    Writer: the ``btfarm.backtest_chunk`` task, just before it runs a variant
    (its turn script, workers/turn_script.py, HGETs the owner and HSETs itself
    when there is none, atomically): a chunk that finished its own variants
    steals from another chunk's end, and the first to claim a variant runs it.
    Reader: the same script (a variant claimed by another chunk is skipped)
    and the orchestrator's chunk watch (a dead chunk owes what it claimed).
    TTL: ``WALKER_RESULT_TTL_SECONDS``.
    """
    return f"{PREFIX}walker:{_part(run_id, 'run_id')}:claims:{int(attempt)}"


def chunk_task(task_id: str) -> str:
    """HASH: the delivery record of one chunk task: ``deliveries`` (count),
    ``running`` (the index of the variant in progress, when a batch holds one), ``batch`` (the
    indices of a batch of several in progress), ``crashes:{variant index}`` (how often
    a worker process died while running that variant alone).

    Writer: the ``btfarm.backtest_chunk`` task at start (HINCRBY deliveries)
    and between batches (workers/turn_script.py).
    Reader: the same task when it is redelivered: a variant that killed its
    worker more than ``BTFARM_TASK_MAX_RETRIES`` times is reported failed
    instead of being run again (a crash loop ends).
    TTL: ``WALKER_RESULT_TTL_SECONDS``.
    """
    return f"{PREFIX}task:{_part(task_id, 'task_id')}"


def walker_inbox(run_id: str) -> str:
    """LIST of result blocks of one sweep (shared/result_block.py, binary) that the chunk
    task could not store itself (some of their variants collected already, or "stopped"
    rows), in the order workers finish them.

    Writer: the ``btfarm.backtest_chunk`` task (RPUSH, in the turn script), refreshing the TTL.
    Reader: the orchestrator's collect step (LPOP after a ring: results arrive as they
    finish, with no polling); a redelivered task may push a variant twice,
    and collect keeps the first (``walker_collected``).
    TTL: ``WALKER_RESULT_TTL_SECONDS``.
    """
    return f"{PREFIX}walker:{_part(run_id, 'run_id')}:inbox"


def walker_doorbell(run_id: str) -> str:
    """LIST of "1": rings that wake a sweep's orchestrator to drain its inbox.

    Writer: ``btfarm.backtest_chunk`` (RPUSH, at most every
    ``tasks.RING_SECONDS`` and when its chunk ends; the blocks themselves
    are already in ``walker_inbox``).
    Reader: the sweep's orchestrator (BLPOP, then DEL before each drain).
    TTL: ``WALKER_RESULT_TTL_SECONDS``, refreshed on each ring.
    """
    return f"{PREFIX}walker:{_part(run_id, 'run_id')}:doorbell"


def schedule_last_run(walker_name: str, symbol: str) -> str:
    """STRING (JSON): the ranking of the last scheduled run of one walker on one
    symbol (its report path, time, and every strategy's rank and metric).

    Writer: the scheduled walker task, after each run.
    Reader: the next scheduled run of the same walker and symbol, for the
    comparison report (rank changes, metric deltas).
    TTL: none: the previous run may be a month old.
    """
    return f"{PREFIX}schedule:last:{_part(walker_name, 'walker_name')}:{_part(symbol, 'symbol')}"


def walker_timing(walker_name: str, symbol: str) -> str:
    """STRING (float seconds): the mean run time of one variant in the last
    finished run of a walker on a symbol, measured on the workers.

    Writer: ``Walker`` at the end of a run with finished variants.
    Reader: ``Walker`` before the next run, to size chunks on the measured
    cost when it is below the static estimate (fan-out keeps Celery's task
    overhead under 3 %).
    TTL: ``WALKER_RESULT_TTL_SECONDS``.
    """
    return f"{PREFIX}walker-timing:{_part(walker_name, 'walker_name')}:{_part(symbol, 'symbol')}"


def schedule_lock(entry: str) -> str:
    """STRING (owner token): a lock so one schedule entry runs once at a time,
    even with two beat processes.

    Writer: the scheduled task (SET NX PX), released by its holder.
    Reader: the same task in other processes (fails to take it and skips).
    TTL: the lock's lease, set by the holder (the entry's expected run time).
    """
    return f"{PREFIX}lock:schedule:{_part(entry, 'entry')}"


def embedded_clients() -> str:
    """SET of ``"{pid}:{create_time}"`` of processes using the embedded server.

    Writer: ``embedded_redis.EmbeddedServer`` (add on join, remove on close, and
    prune members whose process is gone).
    Reader: the same, to decide whether the last user is leaving and the
    server must be stopped.
    TTL: none; the set lives and dies with the embedded server.
    """
    return f"{PREFIX}embedded:clients"


def worker_heartbeats() -> str:
    """ZSET: member = a worker's node name (``celery@host``), score = the Unix
    time in ms until which its last heartbeat holds.

    Writer: each ``celery worker`` main process (workers/heartbeat.py), every
    few seconds; it removes itself on a clean shutdown.
    Reader: ``Walker`` (sweeps/fanout.live_slots), to cut a sweep into as many equal
    chunks as there are pool processes to run them, and, while a farm sweep collects,
    its worker watch (sweeps/worker_watch.py), to end a sweep no live worker can run;
    entries past their score are pruned by the reader.
    TTL: none on the key; each member lapses by its score.
    """
    return f"{PREFIX}workers:heartbeat"


def worker_slots() -> str:
    """HASH: a worker's node name -> its pool size (processes that run tasks).

    Writer: with ``worker_heartbeats``, by the same worker.
    Reader: ``Walker``, for the members of ``worker_heartbeats`` still alive.
    TTL: none; fields of lapsed workers are pruned by the reader.
    """
    return f"{PREFIX}workers:slots"


def worker_refusals(node: str) -> str:
    """HASH: the sweeps one worker refuses to run because its code differs from their
    orchestrator's: field ``RUN_ID/ATTEMPT``, value the reason (``variant_run.CODE_MISMATCH``...).

    Writer: the ``btfarm.backtest_chunk`` task of that worker, when it hands a chunk back
    unrun (shared/store/worker_registry.py ``refuse``); the worker deletes the key when it
    starts and on a clean shutdown (a restarted worker may run other code).
    Reader: the sweep's orchestrator (orchestrator/sweeps/worker_watch.py): when every live worker
    refuses a sweep, it ends as interrupted naming the reason.
    TTL: ``worker_registry.WORKER_RECORD_TTL_SECONDS`` (a day), refreshed by each refusal.
    """
    return f"{PREFIX}workers:refusals:{_part(node, 'node')}"


def worker_start_failures() -> str:
    """HASH: a worker's node name -> JSON ``{"error", "imports", "at_ms"}``: why it exited
    before it was ready (a user module that does not import, say); ``at_ms`` in Redis' clock.

    Writer: a ``celery worker`` main process that fails at start (workers/startup.py),
    just before it exits; the same node removes its field once it starts well.
    Reader: a sweep's orchestrator with no live worker (orchestrator/sweeps/worker_watch.py),
    which shows the error instead of waiting in silence. Read as JSON, never executed.
    TTL: ``worker_registry.WORKER_RECORD_TTL_SECONDS`` (a day) on the key, refreshed by each write; readers show
    only failures of the last ``worker_registry.START_FAILURE_SHOWN_SECONDS``.
    """
    return f"{PREFIX}workers:start-failures"


# ---- the reporting classes' live logs (orchestrator/reporting) ----------------

REPORT_LOG_MAX_ROWS = (
    250  # entries a reporting log keeps, the newest (backtest-kit's CC_MAX_*_MARKDOWN_ROWS)
)
REPORT_LOG_TTL_SECONDS = 30 * 86_400  # a reporting log nobody wrote to for a month is forgotten


def report_risk(symbol: str, strategy: str) -> str:
    """LIST of JSON records: the risk rejections of one live ``symbol:strategy``, oldest
    first, at most ``REPORT_LOG_MAX_ROWS`` (the newest).

    Writer: ``Risk``'s listener (orchestrator/reporting/risk_rejections.py) in the process
    running ``Live``, once ``Risk.enable()`` was called there (RPUSH, LTRIM, EXPIRE).
    Reader: ``Risk.get_data(..., backtest=False)`` / ``get_report`` / ``dump``, any process.
    TTL: ``REPORT_LOG_TTL_SECONDS``, refreshed by each write.
    """
    return f"{PREFIX}report:risk:{_part(symbol, 'symbol')}:{_part(strategy, 'strategy')}"


def report_schedule(symbol: str, strategy: str) -> str:
    """LIST of JSON records: the scheduled, opened (from a schedule) and cancelled limit
    entries of one live ``symbol:strategy``, oldest first, at most ``REPORT_LOG_MAX_ROWS``.

    Writer: ``Schedule``'s listener (orchestrator/reporting/scheduled_entries.py) in the
    process running ``Live``, once ``Schedule.enable()`` was called there (RPUSH, LTRIM, EXPIRE).
    Reader: ``Schedule.get_data(..., backtest=False)`` / ``get_report`` / ``dump``, any process.
    TTL: ``REPORT_LOG_TTL_SECONDS``, refreshed by each write.
    """
    return f"{PREFIX}report:schedule:{_part(symbol, 'symbol')}:{_part(strategy, 'strategy')}"


def report_heat(strategy: str, symbol: str) -> str:
    """LIST of JSON records: the closed trades of one live ``symbol:strategy`` (PnL, open
    and close times, peak and fall), oldest first, at most ``REPORT_LOG_MAX_ROWS``.

    Writer: ``Heat``'s listener (orchestrator/reporting/heat.py) in the process running
    ``Live``, once ``Heat.enable()`` was called there (RPUSH, LTRIM, EXPIRE), with
    ``report_heat_symbols``.
    Reader: ``Heat.get_data(..., backtest=False)`` / ``get_report`` / ``dump``, any process.
    TTL: ``REPORT_LOG_TTL_SECONDS``, refreshed by each write.
    """
    return f"{PREFIX}report:heat:{_part(strategy, 'strategy')}:{_part(symbol, 'symbol')}"


def report_heat_symbols(strategy: str) -> str:
    """SET of the symbols that have a ``report_heat`` log of one live strategy, so a
    reader finds them without ``SCAN``.

    Writer: ``Heat``'s listener, with each ``report_heat`` write (SADD, EXPIRE).
    Reader: ``Heat.get_data(..., backtest=False)`` (a member whose log has lapsed is skipped).
    TTL: ``REPORT_LOG_TTL_SECONDS``, refreshed by each write.
    """
    return f"{PREFIX}report:heat-symbols:{_part(strategy, 'strategy')}"


def report_partial(symbol: str, strategy: str) -> str:
    """LIST of JSON records: the partial closes (profit and loss) of the positions of one live
    ``symbol:strategy``, oldest first, at most ``REPORT_LOG_MAX_ROWS``.

    Writer: ``Partial``'s listener (orchestrator/reporting/partial_closes.py) in the process
    running ``Live``, once ``Partial.enable()`` was called there (RPUSH, LTRIM, EXPIRE).
    Reader: ``Partial.get_data(..., backtest=False)`` / ``get_report`` / ``dump``, any process.
    TTL: ``REPORT_LOG_TTL_SECONDS``, refreshed by each write.
    """
    return f"{PREFIX}report:partial:{_part(symbol, 'symbol')}:{_part(strategy, 'strategy')}"


def report_performance(symbol: str, strategy: str) -> str:
    """LIST of JSON records: the timed steps (each tick, each get_signal call) of one live
    ``symbol:strategy``, oldest first, at most ``REPORT_LOG_MAX_ROWS``.

    Writer: ``Performance``'s probe (orchestrator/reporting/performance.py) in the process
    running ``Live``, once ``Performance.enable()`` was called there: a tick's records in one
    pipeline after the tick (RPUSH, LTRIM, EXPIRE).
    Reader: ``Performance.get_data(..., backtest=False)`` / ``get_report`` / ``dump``, any process.
    TTL: ``REPORT_LOG_TTL_SECONDS``, refreshed by each write.
    """
    return f"{PREFIX}report:performance:{_part(symbol, 'symbol')}:{_part(strategy, 'strategy')}"
