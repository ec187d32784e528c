/* The stats-only batch lane in C: batch_kernel.py says why and how it is used.
 *
 * settle(i, stop_i, last_bucket, bucket, first_of_bucket, cursor, ticks, offered, offered_row,
 *        side, take_profit, stop_loss, expiry, has_expiry, vwap, low, high,
 *        ts, contiguous, uniform, frame_end_ms, max_life, min_tp, min_sl,
 *        max_sl, slip, fee, out_pnl, out_pending, out_close, count,
 *        out_peak, out_fall, out_rejected, rejected,
 *        block_low, block_high, block_vwap_max, block_vwap_min, span_a, span_c0, throttle_ms,
 *        exact_minutes)
 *   -> (next_tick, last_bucket, count, rejected)
 *
 * offered: the ticks that offer a signal, ascending; offered_row: for each, its row in
 * side / take_profit / stop_loss / expiry (the intents' rows, intents.py). The walk moves
 * forward only, so two cursors over ``offered`` replace a flag per tick and a search per
 * trade: a variant costs its offers and trades, not the year's ticks.
 *
 * out_peak / out_fall: each trade's peak and fall PnL (batch_walk._closed_record's
 * rules); out_rejected: the tick index of each refused signal, as far as it has room
 * (``rejected`` counts them all).
 *
 * block_*: per BLOCK candles (block b = candles b*BLOCK .. b*BLOCK+BLOCK-1) the lowest low,
 * the highest high and the highest and lowest VWAP, NaN ignored (walk_grid.block_extremes).
 * A trade that lives through a whole block in which no candle can close it (the block's
 * extreme does not reach its stop loss nor take profit) steps over it in one comparison
 * instead of BLOCK. The outcome is the candle-by-candle scan's, float for float: each test
 * is the negation of the hit test on the block's extreme, and the VWAP seen is widened by
 * the block's extremes.
 *
 * span_a >= 0: the ticks are evenly spaced and ticks span_a.. open candles span_c0, span_c0 + 1, ...
 * (walk_grid.inside_span: 1m ticks over contiguous 1m candles), so a tick's time, candle and
 * throttle bucket (ticks // throttle_ms, as walk_grid computes it) are arithmetic: per trade,
 * those are a few cache misses into four year-long per-tick arrays saved, the largest part of
 * a variant's walk once it steps over quiet blocks. span_a = -1 reads the arrays. exact_minutes:
 * candle k opens at ts[0] + k minutes (the caller checked), so a close's time is computed too
 * (reading ts[close] was a cache miss per trade, a fifth of the walk).
 *
 * The same walk as batch_walk.walk_batch's columns loop, over the same rules.
 * Arrays arrive C-contiguous with the dtypes batch_kernel.py gives them
 * (int64, bool, int8, float64); lengths and indices are checked here, so a wrong call
 * raises ValueError instead of reading out of bounds. Built with
 * -ffp-contract=off: a fused multiply-add would round the PnL differently
 * from Python's.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MINUTE_MS 60000LL
#define N_BUFFERS 24
#define BLOCK_SHIFT 4
#define BLOCK (1 << BLOCK_SHIFT)  /* walk_grid.BLOCK */

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

/* floor division, as numpy's // (a tick before 1970 is negative) */
static int64_t floor_div(int64_t a, int64_t b) {
    const int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static PyObject *settle(PyObject *self, PyObject *args) {
    Py_ssize_t i, stop_i, count, rejected, span_a, span_c0;
    long long last_bucket, frame_end_ms, max_life, throttle_ms;
    int has_expiry, contiguous, uniform, exact_minutes;
    double min_tp, min_sl, max_sl, slip, fee;
    Py_buffer b[N_BUFFERS];
    memset(b, 0, sizeof(b));
    /* b: 0 bucket, 1 first_of_bucket, 2 cursor, 3 ticks, 4 offered, 5 offered_row, 6 side, 7 take_profit,
          8 stop_loss, 9 expiry, 10 vwap, 11 low, 12 high, 13 ts, 14 out_pnl, 15 out_pending, 16 out_close,
          17 out_peak, 18 out_fall, 19 out_rejected, 20 block_low, 21 block_high, 22 block_vwap_max,
          23 block_vwap_min */
    if (!PyArg_ParseTuple(args, "nnLy*y*y*y*y*y*y*y*y*y*py*y*y*y*ppLLdddddw*w*w*nw*w*w*ny*y*y*y*nnLp", &i, &stop_i,
                          &last_bucket, &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &b[6], &b[7], &b[8], &b[9],
                          &has_expiry, &b[10], &b[11], &b[12], &b[13], &contiguous, &uniform, &frame_end_ms,
                          &max_life, &min_tp, &min_sl, &max_sl, &slip, &fee, &b[14], &b[15], &b[16], &count,
                          &b[17], &b[18], &b[19], &rejected, &b[20], &b[21], &b[22], &b[23], &span_a, &span_c0,
                          &throttle_ms, &exact_minutes))
        return NULL;

    const int64_t *bucket = b[0].buf, *cursor = b[2].buf, *ticks = b[3].buf, *offered = b[4].buf,
                  *offered_row = b[5].buf, *ts = b[13].buf;
    const uint8_t *first_of_bucket = b[1].buf;
    const int8_t *side = b[6].buf;
    const double *take_profit = b[7].buf, *stop_loss = b[8].buf, *expiry = b[9].buf, *vwap = b[10].buf,
                 *low = b[11].buf, *high = b[12].buf;
    double *out_pnl = b[14].buf;
    int64_t *out_pending = b[15].buf, *out_close = b[16].buf, *out_rejected = b[19].buf;
    double *out_peak = b[17].buf, *out_fall = b[18].buf;
    const double *block_low = b[20].buf, *block_high = b[21].buf, *block_vwap_max = b[22].buf,
                 *block_vwap_min = b[23].buf;
    const Py_ssize_t rejected_room = b[19].len / 8;
    Py_ssize_t n = b[3].len / 8, m = b[13].len / 8, n_offered = b[4].len / 8, n_rows = b[6].len,
               size = b[14].len / 8;
    PyObject *result = NULL;
    const char *bad = NULL;

    if (b[0].len != n * 8 || b[1].len != n || b[2].len != n * 8) bad = "bucket, first_of_bucket and cursor need one entry per tick";
    else if (b[5].len != n_offered * 8) bad = "offered and offered_row differ in length";
    else if (b[7].len != n_rows * 8 || b[8].len != n_rows * 8 || (has_expiry && b[9].len != n_rows * 8))
        bad = "side, take_profit, stop_loss and expiry need one entry per row";
    else if (b[10].len != m * 8 || b[11].len != m * 8 || b[12].len != m * 8) bad = "vwap, low and high need one entry per candle";
    else if (b[15].len != size * 8 || b[16].len != size * 8 || b[17].len != size * 8 || b[18].len != size * 8)
        bad = "the output columns differ in length";
    else if (n == 0 || m == 0) bad = "no ticks or no candles";
    else if (span_a >= 0 && (throttle_ms <= 0 || !uniform)) bad = "an arithmetic span needs even ticks and a throttle";
    else {
        const Py_ssize_t blocks = (m + BLOCK - 1) / BLOCK;
        for (int k = 20; k < N_BUFFERS; k++)
            if (b[k].len != blocks * 8) bad = "the block extremes need one entry per BLOCK candles";
    }
    if (bad) {
        PyErr_Format(PyExc_ValueError, "settle: %s", bad);
        goto done;
    }

    Py_BEGIN_ALLOW_THREADS
    const int64_t first_ms = ts[0], tick0 = ticks[0], step = n > 1 ? ticks[1] - ticks[0] : 1;
    const double s = slip / 100;
    const int arith = span_a >= 0;
#define TICK(q) (arith ? tick0 + (int64_t)(q) * step : ticks[q])
#define BUCKET(q) (arith ? floor_div(TICK(q), throttle_ms) : bucket[q])
#define CURSOR(q) (arith ? (int64_t)(q) - span_a + span_c0 : cursor[q])
#define FIRST_OF_BUCKET(q) (arith ? (q) == 0 || BUCKET(q) != BUCKET((q) - 1) : first_of_bucket[q])
    /* here: the first offer at or after i; next_call: the first offer after i that is a bucket's first tick */
    Py_ssize_t here = search_left(offered, n_offered, i), next_call = here;
    while (i < n && i < stop_i) {
        Py_ssize_t j = -1, o = -1;
        const int64_t bucket_i = BUCKET(i);
        if (bucket_i != last_bucket) {
            last_bucket = bucket_i;
            while (here < n_offered && offered[here] < i) here++;
            if (here < n_offered && offered[here] == i) { j = i; o = here; }
        }
        if (j < 0) {
            while (next_call < n_offered) {
                const int64_t at = offered[next_call];
                if (at < 0 || at >= n) { bad = "an offered tick is out of range"; break; }
                if (at > i && FIRST_OF_BUCKET(at)) break;
                next_call++;
            }
            if (bad) break;
            if (next_call == n_offered) { i = n; break; }
            j = offered[next_call];
            o = next_call;
            last_bucket = BUCKET(j);
        }
        const int64_t c = CURSOR(j), t = TICK(j), r = offered_row[o];
        if (c <= 0 || c >= m || count >= size || r < 0 || r >= n_rows) { bad = "cursor, row or output out of range"; break; }
        const int is_long = side[r] > 0;
        const double entry = vwap[c - 1], tp = take_profit[r], sl = stop_loss[r];
        const double met = has_expiry ? expiry[r] : (double)max_life;
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
        for (Py_ssize_t q = c; q < stop;) {
            if ((q & (BLOCK - 1)) == 0 && q + BLOCK <= stop) {
                const Py_ssize_t k = q >> BLOCK_SHIFT;
                const int quiet = is_long ? !(block_low[k] <= sl) && !(block_vwap_max[k] >= tp)
                                          : !(block_high[k] >= sl) && !(block_vwap_min[k] <= tp);
                if (quiet) {
                    if (block_vwap_max[k] > hi) hi = block_vwap_max[k];
                    if (block_vwap_min[k] < lo) lo = block_vwap_min[k];
                    q += BLOCK;
                    continue;
                }
            }
            if (is_long ? (low[q] <= sl) : (high[q] >= sl)) { close = q; price = sl; break; }
            if (is_long ? (vwap[q] >= tp) : (vwap[q] <= tp)) { close = q; price = tp; break; }
            if (vwap[q] > hi) hi = vwap[q];
            if (vwap[q] < lo) lo = vwap[q];
            q++;
        }
        if (close < 0) {
            close = x < m ? x : m - 1;  /* data ran out: the last candle settles it */
            price = vwap[close];
        }
        const int64_t close_ms = exact_minutes ? first_ms + (int64_t)close * MINUTE_MS : ts[close];
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
#undef TICK
#undef BUCKET
#undef CURSOR
#undef FIRST_OF_BUCKET
    Py_END_ALLOW_THREADS
    if (bad) PyErr_Format(PyExc_ValueError, "settle: %s", bad);
    else result = Py_BuildValue("nLnn", i, last_bucket, count, rejected);
done:
    for (int k = 0; k < N_BUFFERS; k++)
        if (b[k].obj != NULL) PyBuffer_Release(&b[k]);
    return result;
}

/* room for ``more`` rows past ``count`` in (rows, sides), grown by doubling; 0 when out of memory */
static int reserve_rows(int64_t **rows, int8_t **sides, Py_ssize_t count, Py_ssize_t *room, Py_ssize_t more) {
    if (count + more <= *room) return 1;
    Py_ssize_t grown = *room ? *room : 1024;
    while (grown < count + more) grown *= 2;
    int64_t *r = realloc(*rows, grown * sizeof(int64_t));
    if (r) *rows = r;
    int8_t *s8 = r ? realloc(*sides, grown) : NULL;
    if (s8) *sides = s8;
    if (!r || !s8) return 0;
    *room = grown;
    return 1;
}

/* Appends row k with side to (rows, sides), growing them; 0 when out of memory. */
static int push_row(int64_t **rows, int8_t **sides, Py_ssize_t *count, Py_ssize_t *room, Py_ssize_t k, int side) {
    if (!reserve_rows(rows, sides, *count, room, 1)) return 0;
    (*rows)[*count] = k;
    (*sides)[*count] = (int8_t)side;
    (*count)++;
    return 1;
}

static PyObject *rows_result(int64_t *rows, int8_t *sides, Py_ssize_t count) {
    /* (y# of a NULL pointer would give None, not empty bytes, when nothing crosses) */
    return Py_BuildValue("y#y#", rows ? (const char *)rows : "", count * (Py_ssize_t)sizeof(int64_t),
                         sides ? (const char *)sides : "", count);
}

/* indicators.crossings: the rows k where d = a - b went from <= 0 at k - shift to > 0 at k
 * (+1) or from >= 0 to < 0 (-1), in one pass (numpy needs a difference, four comparisons and
 * a search, ~2 ms over a year of candles, each pass a full-length array). NaN compares false
 * either way, as in numpy. Returns (rows as int64 bytes, sides as int8 bytes). */
static PyObject *crossings(PyObject *self, PyObject *args) {
    Py_buffer a, b;
    Py_ssize_t shift;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    if (!PyArg_ParseTuple(args, "y*y*n", &a, &b, &shift)) return NULL;
    PyObject *result = NULL;
    const Py_ssize_t n = a.len / 8;
    int64_t *rows = NULL;
    int8_t *sides = NULL;
    Py_ssize_t count = 0, room = 0;
    if (b.len != a.len || a.len % 8 || shift < 1) {
        PyErr_SetString(PyExc_ValueError, "crossings: a and b need the same length of float64, shift >= 1");
        goto done;
    }
    const double *x = a.buf, *y = b.buf;
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t k = shift; k < n; k++) {
        const double before = x[k - shift] - y[k - shift], now = x[k] - y[k];
        const int side = (before <= 0 && now > 0) - (before >= 0 && now < 0);
        if (side && !push_row(&rows, &sides, &count, &room, k, side)) { failed = 1; break; }
    }
    Py_END_ALLOW_THREADS
    if (failed) PyErr_NoMemory();
    else result = rows_result(rows, sides, count);
done:
    free(rows);
    free(sides);
    if (a.obj) PyBuffer_Release(&a);
    if (b.obj) PyBuffer_Release(&b);
    return result;
}

#define UNSURE 2  /* a gap sign the quick pass could not vouch for */
#define NO_SIGN 3  /* a gap that is NaN: no comparison holds, as for NaN in numpy */

/* Wider vector units where the CPU has them (chosen once, at load): the sign pass below is
 * most of a sweep variant's strategy. Each clone computes the same IEEE operations. */
#if defined(__x86_64__) && defined(__GNUC__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef VECTOR_CLONES
#define VECTOR_CLONES
#endif

/* The sign of the gap between the two means at row k >= first, as indicators.sma computes
 * each mean (sum difference, then division): 1, -1, 0, or NO_SIGN. */
static int8_t exact_sign(const double *S, Py_ssize_t k, Py_ssize_t fast, Py_ssize_t slow) {
    const double gap = (S[k] - S[k - fast]) / (double)fast - (S[k] - S[k - slow]) / (double)slow;
    return gap > 0 ? 1 : gap < 0 ? -1 : gap == 0 ? 0 : NO_SIGN;
}

#define SIGN_BLOCK 4096  /* rows whose quick signs are computed as doubles (vectors), then packed */

/* out[p] for row lo + p, p < len: the sign of the row's gap as 1.0 / -1.0, or UNSURE */
VECTOR_CLONES
static void quick_signs(const double *restrict S, Py_ssize_t lo, Py_ssize_t len, Py_ssize_t fast,
                        Py_ssize_t slow, double *restrict out) {
    const double rf = 1.0 / (double)fast, rs = 1.0 / (double)slow;
    for (Py_ssize_t p = 0; p < len; p++) {
        const Py_ssize_t k = lo + p;
        const double qa = (S[k] - S[k - fast]) * rf, qb = (S[k] - S[k - slow]) * rs;
        const double d = qa - qb, tol = 1e-12 * (fabs(qa) + fabs(qb)) + 1e-300;
        out[p] = d > tol ? 1.0 : d < -tol ? -1.0 : (double)UNSURE;
    }
}

/* signs[p] = (int8) quick[p]; whether any is UNSURE */
VECTOR_CLONES
static int pack_signs(const double *restrict quick, Py_ssize_t len, int8_t *restrict signs) {
    int unsure = 0;
    for (Py_ssize_t p = 0; p < len; p++) {
        signs[p] = (int8_t)quick[p];
        unsure |= quick[p] == (double)UNSURE;
    }
    return unsure;
}

/* SIDE[b][a]: the side of a row whose sign was b shift rows before and is a now (codes + 1:
 * -1, 0, 1, UNSURE (never left), NO_SIGN): up from <= 0 to > 0, down from >= 0 to < 0 */
static const int8_t SIDE[5][5] = {
    /* b = -1 */ {0, 0, 1, 0, 0},
    /* b =  0 */ {-1, 0, 1, 0, 0},
    /* b =  1 */ {-1, 0, 0, 0, 0},
    /* b =  2 */ {0, 0, 0, 0, 0},
    /* b =  3 */ {0, 0, 0, 0, 0},
};

/* indicators.sma_crossings: crossings(sma(fast), sma(slow), shift) read from the prefix sums
 * S (n + 1 values, S[k] = x[0] + ... + x[k-1]) instead of two means kept per window: one
 * shared array read per variant instead of two of its own.
 *
 * A crossing depends only on the sign of each gap fl(fl(A / fast) - fl(B / slow)) (A, B the
 * window sums), and two divisions per row were most of the cost. The quick pass multiplies by
 * the reciprocals instead: each quotient is then within 3 ulp of the divided one, so where the
 * two differ by more than 1e-12 of their size the divided quotients differ the same way, and
 * the gap (a difference of two distinct floats) has that sign. Closer than that (or not
 * finite, or near underflow: the 1e-300) the row is UNSURE and its sign is computed exactly as
 * indicators.sma computes the means. Every sign is then the divided means' own, so rows and
 * sides are crossings(sma, sma)'s, float for float.
 *
 * Row k crosses only if its sign differs from row k - shift's, so only if the sign changed at
 * some row j in (k - shift, k]: the rows looked at are the ``shift`` after each change, not
 * all n (a crossing marks a run of ``shift`` rows, and testing every row's side was a branch
 * mispredicted about as often as taken). */
static PyObject *sma_crossings(PyObject *self, PyObject *args) {
    Py_buffer s;
    Py_ssize_t fast, slow, shift;
    memset(&s, 0, sizeof(s));
    if (!PyArg_ParseTuple(args, "y*nnn", &s, &fast, &slow, &shift)) return NULL;
    PyObject *result = NULL;
    int64_t *rows = NULL;
    int8_t *sides = NULL;
    int8_t *sign = NULL;
    double quick[SIGN_BLOCK];
    Py_ssize_t count = 0, room = 0;
    if (s.len % 8 || s.len < 8 || fast < 1 || slow < 1 || shift < 1) {
        PyErr_SetString(PyExc_ValueError, "sma_crossings: sums need n + 1 float64, fast, slow and shift >= 1");
        goto done;
    }
    const Py_ssize_t n = s.len / 8 - 1, first = fast > slow ? fast : slow;  /* the first row with both means */
    if (first + shift >= n) {  /* no row has a mean both now and ``shift`` rows before */
        result = rows_result(NULL, NULL, 0);
        goto done;
    }
    sign = malloc(n);
    if (!sign) { PyErr_NoMemory(); goto done; }
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    const double *S = s.buf;
    for (Py_ssize_t lo = first; lo < n; lo += SIGN_BLOCK) {
        const Py_ssize_t len = n - lo < SIGN_BLOCK ? n - lo : SIGN_BLOCK;
        quick_signs(S, lo, len, fast, slow, quick);
        if (pack_signs(quick, len, sign + lo))  /* rare: those rows decided exactly */
            for (Py_ssize_t k = lo; k < lo + len; k++)
                if (sign[k] == UNSURE) sign[k] = exact_sign(S, k, fast, slow);
    }
    Py_ssize_t looked = first + shift;  /* rows below this are looked at (or have no sign shift before) */
    for (Py_ssize_t j0 = first + 1; j0 < n && !failed; j0 += 8) {
        /* the rows of j0..j0+7 whose sign differs from the row before: the bytes of one xor */
        uint64_t changed = 0;
        if (j0 + 8 <= n) {
            uint64_t now8, before8;
            memcpy(&now8, sign + j0, 8);
            memcpy(&before8, sign + j0 - 1, 8);
            changed = now8 ^ before8;
#if !(defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && defined(__GNUC__))
            changed = changed ? ~(uint64_t)0 : 0;  /* byte order unknown: every row of the eight looked at */
#endif
        } else {
            changed = ~(uint64_t)0;  /* the last few rows: each looked at */
        }
        while (changed) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && defined(__GNUC__)
            const int byte = __builtin_ctzll(changed) >> 3;  /* byte b of the word is row j0 + b */
#else
            int byte = 0;
            while (!((changed >> (8 * byte)) & 0xFF)) byte++;
#endif
            changed &= ~((uint64_t)0xFF << (8 * byte));
            const Py_ssize_t j = j0 + byte;
            if (j >= n || sign[j] == sign[j - 1]) continue;
            const Py_ssize_t from = j > looked ? j : looked, to = j + shift < n ? j + shift : n;
            if (from >= to) continue;
            if (!reserve_rows(&rows, &sides, count, &room, to - from)) { failed = 1; break; }
            for (Py_ssize_t k = from; k < to; k++) {
                const int8_t up = SIDE[sign[k - shift] + 1][sign[k] + 1];
                rows[count] = k;  /* written always, kept only for a crossing */
                sides[count] = up;
                count += up != 0;
            }
            looked = to;
        }
    }
    Py_END_ALLOW_THREADS
    if (failed) PyErr_NoMemory();
    else result = rows_result(rows, sides, count);
done:
    free(sign);
    free(rows);
    free(sides);
    if (s.obj) PyBuffer_Release(&s);
    return result;
}

static PyMethodDef methods[] = {
    {"settle", settle, METH_VARARGS, "Settle trades from tick i to stop_i; see batch_kernel.py."},
    {"crossings", crossings, METH_VARARGS, "Rows where a - b changes sign; see indicators.crossings."},
    {"sma_crossings", sma_crossings, METH_VARARGS, "crossings of two means from prefix sums; see indicators.sma_crossings."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_batch_kernel", "The compiled stats-only batch lane.", -1, methods};

PyMODINIT_FUNC PyInit__batch_kernel(void) { return PyModule_Create(&module); }
