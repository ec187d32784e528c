/* The stats-only batch lane in C: batch_kernel.py says why and how it is used.
 *
 * settle(i, stop_i, last_bucket, bucket, offered, cursor, ticks, calls,
 *        position, take_profit, stop_loss, expiry, has_expiry, vwap, low, high,
 *        ts, contiguous, uniform, frame_end_ms, max_life, min_tp, min_sl,
 *        max_sl, slip, fee, out_pnl, out_pending, out_close, count,
 *        out_peak, out_fall, out_rejected, rejected)
 *   -> (next_tick, last_bucket, count, rejected)
 *
 * out_peak / out_fall: each trade's peak and fall PnL (batch_walk._closed_record's
 * rules); out_rejected: the tick index of each refused signal, as far as it has room
 * (``rejected`` counts them all).
 *
 * A statement-for-statement copy of batch_walk.walk_batch's columns loop.
 * Arrays arrive C-contiguous with the dtypes batch_kernel.py gives them
 * (int64, bool, int8, float64); lengths are checked here, so a wrong call
 * raises ValueError instead of reading out of bounds. Built with
 * -ffp-contract=off: a fused multiply-add would round the PnL differently
 * from Python's.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>

#define MINUTE_MS 60000LL
#define N_BUFFERS 19

static Py_ssize_t search_right(const int64_t *a, Py_ssize_t n, int64_t v) {
    Py_ssize_t lo = 0, hi = n;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (a[mid] <= v) lo = mid + 1; else hi = mid;
    }
    return lo;
}

static Py_ssize_t search_left(const int64_t *a, Py_ssize_t n, int64_t v) {
    Py_ssize_t lo = 0, hi = n;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (a[mid] < v) lo = mid + 1; else hi = mid;
    }
    return lo;
}

/* pnl_percentage, operation for operation */
static double pnl_of(int is_long, double entry, double price, double s, double fee) {
    double opened, closed, gross;
    if (is_long) {
        opened = entry * (1 + s);
        closed = price * (1 - s);
        gross = (closed - opened) / opened * 100;
    } else {
        opened = entry * (1 - s);
        closed = price * (1 + s);
        gross = (opened - closed) / opened * 100;
    }
    return gross - fee * (1 + closed / opened);
}

/* signal_rules.level_problems, as a yes or no */
static int valid_signal(int is_long, double entry, double tp, double sl, double met, long long max_life,
                        double min_tp, double min_sl, double max_sl) {
    double tp_dist, sl_dist;
    if (!(isfinite(tp) && tp > 0 && isfinite(sl) && sl > 0)) return 0;
    if (!(isfinite(met) && met == floor(met) && 0 < met && met <= (double)max_life)) return 0;
    if (is_long) {
        if (!(tp > entry && entry > sl)) return 0;
        tp_dist = (tp - entry) / entry * 100;
        sl_dist = (entry - sl) / entry * 100;
    } else {
        if (!(tp < entry && entry < sl)) return 0;
        tp_dist = (entry - tp) / entry * 100;
        sl_dist = (sl - entry) / entry * 100;
    }
    return tp_dist >= min_tp && min_sl <= sl_dist && sl_dist <= max_sl;
}

static PyObject *settle(PyObject *self, PyObject *args) {
    Py_ssize_t i, stop_i, count, rejected;
    long long last_bucket, frame_end_ms, max_life;
    int has_expiry, contiguous, uniform;
    double min_tp, min_sl, max_sl, slip, fee;
    Py_buffer b[N_BUFFERS];
    memset(b, 0, sizeof(b));
    /* b: 0 bucket, 1 offered, 2 cursor, 3 ticks, 4 calls, 5 position, 6 take_profit, 7 stop_loss,
          8 expiry, 9 vwap, 10 low, 11 high, 12 ts, 13 out_pnl, 14 out_pending, 15 out_close,
          16 out_peak, 17 out_fall, 18 out_rejected */
    if (!PyArg_ParseTuple(args, "nnLy*y*y*y*y*y*y*y*y*py*y*y*y*ppLLdddddw*w*w*nw*w*w*n", &i, &stop_i,
                          &last_bucket, &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &b[6], &b[7], &b[8],
                          &has_expiry, &b[9], &b[10], &b[11], &b[12], &contiguous, &uniform, &frame_end_ms,
                          &max_life, &min_tp, &min_sl, &max_sl, &slip, &fee, &b[13], &b[14], &b[15], &count,
                          &b[16], &b[17], &b[18], &rejected))
        return NULL;

    const int64_t *bucket = b[0].buf, *cursor = b[2].buf, *ticks = b[3].buf, *calls = b[4].buf, *ts = b[12].buf;
    const uint8_t *offered = b[1].buf;
    const int8_t *position = b[5].buf;
    const double *take_profit = b[6].buf, *stop_loss = b[7].buf, *expiry = b[8].buf, *vwap = b[9].buf,
                 *low = b[10].buf, *high = b[11].buf;
    double *out_pnl = b[13].buf;
    int64_t *out_pending = b[14].buf, *out_close = b[15].buf, *out_rejected = b[18].buf;
    double *out_peak = b[16].buf, *out_fall = b[17].buf;
    const Py_ssize_t rejected_room = b[18].len / 8;
    Py_ssize_t n = b[3].len / 8, m = b[12].len / 8, n_calls = b[4].len / 8, size = b[13].len / 8;
    PyObject *result = NULL;
    const char *bad = NULL;

    if (b[0].len != n * 8 || b[1].len != n || b[2].len != n * 8) bad = "bucket, offered and cursor need one entry per tick";
    else if (b[5].len != m || b[6].len != m * 8 || b[7].len != m * 8 || b[9].len != m * 8
             || b[10].len != m * 8 || b[11].len != m * 8) bad = "intents, vwap, low and high need one entry per candle";
    else if (has_expiry && b[8].len != m * 8) bad = "expiry needs one entry per candle";
    else if (b[14].len != size * 8 || b[15].len != size * 8 || b[16].len != size * 8 || b[17].len != size * 8)
        bad = "the output columns differ in length";
    else if (n == 0 || m == 0) bad = "no ticks or no candles";
    if (bad) {
        PyErr_Format(PyExc_ValueError, "settle: %s", bad);
        goto done;
    }

    Py_BEGIN_ALLOW_THREADS
    const int64_t first_ms = ts[0], tick0 = ticks[0], step = n > 1 ? ticks[1] - ticks[0] : 1;
    const double s = slip / 100;
    while (i < n && i < stop_i) {
        Py_ssize_t j = -1;
        if (bucket[i] != last_bucket) {
            last_bucket = bucket[i];
            if (offered[i]) j = i;
        }
        if (j < 0) {
            Py_ssize_t k = search_right(calls, n_calls, i);
            if (k == n_calls) { i = n; break; }
            j = calls[k];
            last_bucket = bucket[j];
        }
        const int64_t c = cursor[j], t = ticks[j];
        if (c <= 0 || c >= m || count >= size) { bad = "cursor or output out of range"; break; }
        const int is_long = position[c] > 0;
        const double entry = vwap[c - 1], tp = take_profit[c], sl = stop_loss[c];
        const double met = has_expiry ? expiry[c] : (double)max_life;
        if (!valid_signal(is_long, entry, tp, sl, met, max_life, min_tp, min_sl, max_sl)) {
            if (rejected < rejected_room) out_rejected[rejected] = j;
            rejected++;
            i = j + 1;  /* a rejected signal uses up its bucket */
            continue;
        }
        int64_t expires = t + (int64_t)met * MINUTE_MS;
        if (expires > frame_end_ms + 1) expires = frame_end_ms + 1;
        Py_ssize_t x;
        if (contiguous) {
            const int64_t d = expires - first_ms;
            x = d <= 0 ? 0 : (Py_ssize_t)((d + MINUTE_MS - 1) / MINUTE_MS);
        } else {
            x = search_left(ts, m, expires);
        }
        const Py_ssize_t stop = x < m ? x : m;
        Py_ssize_t close = -1;
        double price = 0.0, hi = -INFINITY, lo = INFINITY;  /* vwap seen before the close */
        for (Py_ssize_t q = c; q < stop; q++) {
            if (is_long ? (low[q] <= sl) : (high[q] >= sl)) { close = q; price = sl; break; }
            if (is_long ? (vwap[q] >= tp) : (vwap[q] <= tp)) { close = q; price = tp; break; }
            if (vwap[q] > hi) hi = vwap[q];
            if (vwap[q] < lo) lo = vwap[q];
        }
        if (close < 0) {
            close = x < m ? x : m - 1;  /* data ran out: the last candle settles it */
            price = vwap[close];
        }
        const int64_t close_ms = ts[close];
        const double pnl = pnl_of(is_long, entry, price, s, fee);
        const double best = is_long ? hi : lo, worst = is_long ? lo : hi;
        double peak = 0.0, fall = pnl_of(is_long, entry, entry, s, fee);
        if (isfinite(best) && (is_long ? best > entry : best < entry)) {
            const double p = pnl_of(is_long, entry, best, s, fee);
            if (p > 0) peak = p;
        }
        if (isfinite(worst) && (is_long ? worst < entry : worst > entry)) fall = pnl_of(is_long, entry, worst, s, fee);
        if (pnl < fall) fall = pnl;
        if (pnl > 0 && pnl > peak) peak = pnl;
        out_pnl[count] = pnl;
        out_pending[count] = t;
        out_close[count] = close_ms;
        out_peak[count] = peak;
        out_fall[count] = fall;
        count++;
        i = uniform ? (Py_ssize_t)((close_ms - tick0) / step + 1) : search_right(ticks, n, close_ms);
    }
    Py_END_ALLOW_THREADS
    if (bad) PyErr_Format(PyExc_ValueError, "settle: %s", bad);
    else result = Py_BuildValue("nLnn", i, last_bucket, count, rejected);
done:
    for (int k = 0; k < N_BUFFERS; k++)
        if (b[k].obj != NULL) PyBuffer_Release(&b[k]);
    return result;
}

static PyMethodDef methods[] = {
    {"settle", settle, METH_VARARGS, "Settle trades from tick i to stop_i; see batch_kernel.py."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_batch_kernel", "The compiled stats-only batch lane.", -1, methods};

PyMODINIT_FUNC PyInit__batch_kernel(void) { return PyModule_Create(&module); }
