"""The engine: one lifecycle core that a backtest drives per minute and Live per tick.

``lifecycle.StrategyCore`` is the state machine of SEMANTICS.md 2 (idle ->
scheduled -> active -> idle); ``signal_rules`` validates what a strategy
returns (``level_problems`` is the one Python copy of the rule on a signal's
numbers). A backtest (``backtest_run.BacktestRun``) walks a frame's ticks in
one of four lanes, chosen in ``BacktestRun.steps``:

| lane | module | when it runs | what it emits | held to the event lane by |
| --- | --- | --- | --- | --- |
| event | ``event_walk.walk_events`` | the strategy has only ``get_signal`` (or ``form="event"``); always in Live | every event | (the reference) |
| vector | ``vector_walk.walk_vector`` | ``get_signals`` given, and a listener, risk rules, callbacks or scheduled entries need every event (or ``batch_lane=False``) | every event | tests/unit/test_vector_form.py (all 53 grid variants) |
| batch | ``batch_walk.walk_batch`` | ``get_signals`` given and nobody listens: trade to trade, market entries only | closed signals (or, with ``stats_only``, the columns statistics need) | tests/unit/test_vector_form.py, tests/unit/test_walk_invariants.py |
| batch in C | ``batch_kernel`` (``_batch_kernel.c``) | a stats-only batch run (every sweep variant on a worker) where the extension is built and ``BTFARM_NATIVE`` is on | the statistics columns | tests/unit/test_batch_kernel.py (float for float) |

``BacktestRun.lane`` says which one ran. ``fast_forward`` scans an open or
scheduled signal's candles with numpy, ``walk_grid`` maps ticks to candles
and throttle buckets once per candle set, ``intents`` turns a ``get_signals``
result into checked arrays, ``pnl`` is SEMANTICS 3 and 9.

Managing a position (SEMANTICS 9): when the strategy or a listener registers
a position hook, the event and vector lanes settle an open position with
``position_walk`` (candle by candle, running ``position_hook.PositionHook``,
whose commits apply the rules of ``position.Position``) instead of the numpy
scan; such a run never takes the batch lane. Its oracle is
tests/support/position_reference.py. A backtest's hooked candles walk in C
(``hook_loop``, ``_hook_loop.c``: the checks and the ``on_active_ping`` call,
back in Python only where a commit or an event is due; held to the Python
walk by tests/unit/test_hook_loop.py), and a plan-only position in the
compiled plan loop (``batch_kernel.plan_position``; tests/unit/test_single_plan_lane.py).
"""
