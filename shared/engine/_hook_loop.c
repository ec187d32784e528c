/* The candles of an open position whose hook is a Python callback, walked in C: hook_loop.py
 * says when and why.
 *
 * walk(ts, extreme, vwap, k, limit, long, frame_end, expires, pending_close, entry, sl, tp,
 *      slip, fee, peak_price, peak, fall_price, fall, breakeven_seen, breakeven_percent, position,
 *      profit_levels, loss_levels, quiet_breakeven, quiet_profit, quiet_loss, ping, symbol,
 *      signal, backtest, last_u, last_when, one_minute, make_when, ctx, hook, queue, events,
 *      listened, raised)
 *   -> (code, k, close_price, peak_price, peak, fall_price, fall, last_u, last_when)
 *
 * For candles k .. limit-1, in position_hook.PositionHook.walk's order: the candle's checks
 * (frame end, a user's close, the lifetime, the stop loss, the take profit), the peak and fall,
 * then the strategy's on_active_ping (``ping``, None for none) with the context and the hook
 * pointed at the candle. The walk stops and returns to Python:
 *   CLOSE_*      at the candle that closes the position (close_price: its price);
 *   AFTER_PING   after candle k's ping, when the rest of that candle's hook has something to
 *                do in Python: a commit was applied (``queue`` not empty: the signal changed,
 *                its events are due), or breakeven or a new level is reached and someone hears
 *                it; Python runs the rest of candle k (PositionHook.after_ping) and calls again;
 *   LISTENED     before candle k, when the topics listened to changed (a listener added or
 *                removed in a hook counts from the next candle: Python decides again);
 *   DONE         when candles k .. limit-1 all stayed open.
 * Breakeven or a level that nobody hears (quiet_*: no listener of its event, no callback of it)
 * is only marked, here: ``position.breakeven_seen`` set, the levels appended to ``profit_levels``
 * or ``loss_levels`` (Position.new_levels' rule: the fired levels are always the first ones).
 * Everything else about a candle (the events, the callbacks, the commits' rules) stays in
 * Python, where the rules have one copy; a candle on which nothing is heard never leaves C.
 * A ping that raises an Exception is handed to ``raised`` (StrategyCore.callback_raised's rule)
 * and the walk goes on; a BaseException ends the walk with it.
 *
 * Built with -ffp-contract=off: the peak and fall round as position_hook.py's Python does.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>

#define MINUTE_MS 60000LL
#define N_LEVELS 10

enum { DONE, CLOSE_FRAME_END, CLOSE_USER, CLOSE_EXPIRED, CLOSE_STOP_LOSS, CLOSE_TAKE_PROFIT, AFTER_PING, LISTENED };

static const double LEVELS[N_LEVELS] = {10, 20, 30, 40, 50, 60, 70, 80, 90, 100}; /* position.LEVELS */

static PyObject *s_when_ms, *s_cursor, *s_i, *s_u, *s_price, *s_listened, *s_breakeven_seen;

/* True when candle ``price`` may newly reach a level of the side whose full distance is ``total``
 * (PositionHook.after_ping's level test, the same operations) */
static int level_due(Py_ssize_t fired, double total, double price, double entry) {
    return fired < N_LEVELS && (total <= 0 || fabs(price - entry) / total * 100 >= LEVELS[fired]);
}

/* Appends to ``fired`` the levels ``price`` reaches for the first time (PositionHook._side's
 * percent, Position.new_levels' levels); 0 on error. */
static int mark_levels(PyObject *fired, double total, double price, double entry) {
    double percent = 100.0;
    if (total > 0) {
        percent = fabs(price - entry) / total * 100;
        if (percent < 0.0) percent = 0.0;
        else if (percent > 100.0) percent = 100.0;
    }
    for (Py_ssize_t n = PyList_GET_SIZE(fired); n < N_LEVELS && percent >= LEVELS[n]; n++) {
        PyObject *level = PyLong_FromLong((long)LEVELS[n]);
        if (level == NULL || PyList_Append(fired, level) < 0) {
            Py_XDECREF(level);
            return 0;
        }
        Py_DECREF(level);
    }
    return 1;
}

/* Points the context and the hook at candle i opening at u with VWAP price; 0 on error. */
static int point_at(PyObject *ctx, PyObject *hook, PyObject *i_obj, PyObject *u_obj, PyObject *price_obj) {
    return PyObject_SetAttr(ctx, s_when_ms, u_obj) == 0 && PyObject_SetAttr(ctx, s_cursor, i_obj) == 0 &&
           PyObject_SetAttr(hook, s_i, i_obj) == 0 && PyObject_SetAttr(hook, s_u, u_obj) == 0 &&
           PyObject_SetAttr(hook, s_price, price_obj) == 0;
}

static PyObject *walk(PyObject *self, PyObject *args) {
    Py_buffer b_ts = {0}, b_ext = {0}, b_vwap = {0};
    Py_ssize_t k, limit;
    int is_long, pending_close, be_seen, quiet_be, quiet_profit, quiet_loss, backtest;
    double frame_end, expires, entry, sl, tp, slip, fee, peak_p, peak, fall_p, fall, be_pct;
    long long last_u;
    PyObject *pos, *profit_levels, *loss_levels, *ping, *symbol, *signal, *last_when, *one_minute, *make_when, *ctx,
        *hook, *queue, *events, *listened, *raised;
    if (!PyArg_ParseTuple(args, "y*y*y*nnpddpdddddddddpdOO!O!pppOOOpLOOOOOO!O!OO", &b_ts, &b_ext, &b_vwap, &k, &limit,
                          &is_long, &frame_end, &expires, &pending_close, &entry, &sl, &tp, &slip, &fee, &peak_p,
                          &peak, &fall_p, &fall, &be_seen, &be_pct, &pos, &PyList_Type, &profit_levels, &PyList_Type,
                          &loss_levels, &quiet_be, &quiet_profit, &quiet_loss, &ping, &symbol, &signal, &backtest,
                          &last_u, &last_when, &one_minute, &make_when, &ctx, &hook, &PyList_Type, &queue,
                          &PyDict_Type, &events, &listened, &raised))
        return NULL;
    PyObject *result = NULL, *when_kept = NULL;
    const Py_ssize_t m = b_ts.len / 8;
    if (b_ext.len != m * 8 || b_vwap.len != m * 8) {
        PyErr_SetString(PyExc_ValueError, "hook_loop.walk: ts, extreme and vwap differ in length");
        goto done;
    }
    if (k < 0 || limit > m || k > limit) {
        PyErr_SetString(PyExc_ValueError, "hook_loop.walk: the candles k .. limit must lie inside the arrays");
        goto done;
    }
    if (ping == Py_None) ping = NULL;
    const int64_t *ts = b_ts.buf;
    const double *ext = b_ext.buf, *vwap = b_vwap.buf;
    const double sign = is_long ? 1.0 : -1.0;
    Py_INCREF(last_when);
    when_kept = last_when; /* the last ping's when, owned */
    int code = DONE;
    double close_price = 0.0;
    for (; k < limit; k++) {
        const int64_t u = ts[k];
        const double price = vwap[k], x = ext[k];
        /* a listener added or removed in the last candle's hook counts from this candle */
        PyObject *now = PyDict_GetItemWithError(events, s_listened);
        if (now != listened) {
            if (now == NULL && PyErr_Occurred()) goto done;
            code = LISTENED;
            break;
        }
        /* the candle's checks (SEMANTICS 2 and 9) */
        if ((double)u > frame_end) {
            code = CLOSE_FRAME_END, close_price = price;
            break;
        }
        if (pending_close) {
            code = CLOSE_USER, close_price = price;
            break;
        }
        if ((double)u >= expires) {
            code = CLOSE_EXPIRED, close_price = price;
            break;
        }
        if (is_long ? x <= sl : x >= sl) {
            code = CLOSE_STOP_LOSS, close_price = sl;
            break;
        }
        if (is_long ? price >= tp : price <= tp) {
            code = CLOSE_TAKE_PROFIT, close_price = tp;
            break;
        }
        /* the peak and fall (PositionHook.walk's, operation for operation) */
        if (is_long) {
            if (price > entry && price > peak_p) {
                const double opened = entry * (1 + slip), closed = price * (1 - slip);
                const double gain = (closed - opened) / opened * 100 - fee * (1 + closed / opened);
                if (gain > 0) peak_p = price, peak = gain;
            } else if (price < entry && price < fall_p) {
                const double opened = entry * (1 + slip), closed = price * (1 - slip);
                fall_p = price, fall = (closed - opened) / opened * 100 - fee * (1 + closed / opened);
            }
        } else if (price < entry && price < peak_p) {
            const double opened = entry * (1 - slip), closed = price * (1 + slip);
            const double gain = (opened - closed) / opened * 100 - fee * (1 + closed / opened);
            if (gain > 0) peak_p = price, peak = gain;
        } else if (price > entry && price > fall_p) {
            const double opened = entry * (1 - slip), closed = price * (1 + slip);
            fall_p = price, fall = (opened - closed) / opened * 100 - fee * (1 + closed / opened);
        }
        /* the hook: the context and the hook at the candle, then the ping */
        PyObject *i_obj = PyLong_FromSsize_t(k), *u_obj = PyLong_FromLongLong(u), *price_obj = PyFloat_FromDouble(price);
        int ok = i_obj && u_obj && price_obj && point_at(ctx, hook, i_obj, u_obj, price_obj);
        if (ok && ping) {
            /* when: the last ping's plus a minute (a walk over minutes), or made */
            PyObject *when = u - last_u == MINUTE_MS ? PyNumber_Add(when_kept, one_minute)
                                                     : PyObject_CallOneArg(make_when, u_obj);
            if (when == NULL) ok = 0;
            else {
                Py_SETREF(when_kept, when);
                last_u = u;
                PyObject *call[5] = {symbol, signal, price_obj, when, backtest ? Py_True : Py_False};
                PyObject *got = PyObject_Vectorcall(ping, call, 5, NULL);
                if (got != NULL) Py_DECREF(got);
                else if (PyErr_ExceptionMatches(PyExc_Exception)) {
                    /* (StrategyCore._guarded's rule: said on listen_error, and the walk goes on) */
                    PyObject *type, *value, *tb;
                    PyErr_Fetch(&type, &value, &tb);
                    PyErr_NormalizeException(&type, &value, &tb);
                    if (tb != NULL) PyException_SetTraceback(value, tb);
                    PyObject *said = PyObject_CallOneArg(raised, value);
                    Py_XDECREF(type), Py_XDECREF(value), Py_XDECREF(tb);
                    if (said == NULL) ok = 0;
                    else Py_DECREF(said);
                } else ok = 0;
            }
        }
        Py_XDECREF(i_obj), Py_XDECREF(u_obj), Py_XDECREF(price_obj);
        if (!ok) goto done;
        /* the rest of the candle's hook, when it has something to do */
        if (PyList_GET_SIZE(queue) > 0) {
            code = AFTER_PING;
            break;
        }
        if (is_long ? price > entry : price < entry) {
            if (!be_seen && (is_long ? price >= entry * (1 + be_pct / 100) : price <= entry * (1 - be_pct / 100))) {
                if (!quiet_be) {
                    code = AFTER_PING;
                    break;
                }
                if (PyObject_SetAttr(pos, s_breakeven_seen, Py_True) < 0) goto done;
                be_seen = 1;
            }
            const double total = (tp - entry) * sign;
            if (level_due(PyList_GET_SIZE(profit_levels), total, price, entry)) {
                if (!quiet_profit) {
                    code = AFTER_PING;
                    break;
                }
                if (!mark_levels(profit_levels, total, price, entry)) goto done;
            }
        } else if (is_long ? price < entry : price > entry) {
            const double total = (entry - sl) * sign;
            if (level_due(PyList_GET_SIZE(loss_levels), total, price, entry)) {
                if (!quiet_loss) {
                    code = AFTER_PING;
                    break;
                }
                if (!mark_levels(loss_levels, total, price, entry)) goto done;
            }
        }
    }
    result = Py_BuildValue("indddddLO", code, k, close_price, peak_p, peak, fall_p, fall, last_u, when_kept);
done:
    Py_XDECREF(when_kept);
    PyBuffer_Release(&b_ts);
    PyBuffer_Release(&b_ext);
    PyBuffer_Release(&b_vwap);
    return result;
}

static PyMethodDef methods[] = {
    {"walk", walk, METH_VARARGS, "Walk an open position's candles with its Python hook; see hook_loop.py."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_hook_loop", "An open position's hooked candles in C.",
                                    -1, methods};

PyMODINIT_FUNC PyInit__hook_loop(void) {
    s_when_ms = PyUnicode_InternFromString("when_ms");
    s_cursor = PyUnicode_InternFromString("cursor");
    s_i = PyUnicode_InternFromString("i");
    s_u = PyUnicode_InternFromString("u");
    s_price = PyUnicode_InternFromString("price");
    s_listened = PyUnicode_InternFromString("_listened");
    s_breakeven_seen = PyUnicode_InternFromString("breakeven_seen");
    if (!s_when_ms || !s_cursor || !s_i || !s_u || !s_price || !s_listened || !s_breakeven_seen) return NULL;
    return PyModule_Create(&module);
}
