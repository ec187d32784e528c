/* The stats-only batch lane in C: batch_kernel.py says why and how it is used.
 *
 * settle(i, stop_i, last_bucket, bucket, first_of_bucket, cursor, ticks, offered, offered_row,
 *        side, take_profit, stop_loss, expiry, has_expiry, vwap, low, high,
 *        ts, contiguous, uniform, frame_end_ms, max_life, min_tp, min_sl,
 *        max_sl, slip, fee, out_pnl, out_pending, out_close, count,
 *        out_peak, out_fall, out_rejected, rejected,
 *        block_low, block_high, block_vwap_max, block_vwap_min, span_a, span_c0, throttle_ms,
 *        exact_minutes, plan, detail)
 *   -> (next_tick, last_bucket, count, rejected)   (with detail: + (trades, entries, partials) as bytes)
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
 * plan: a position plan (batch_kernel.plan_vector: PLAN_HEAD numbers, then the rungs), or empty.
 * With a plan each trade is walked candle by candle as position_walk.py walks it, running the
 * plan's rules in the hook's place (position_plan_hooks.py, with the commit rules of
 * position.py and the PnL of pnl.py, operation for operation); no block is stepped over. detail:
 * also return each trade's close, levels, entries and partials (batch_walk builds closed records
 * from them), as float64 bytes: trades TRADE_FIELDS each, entries ENTRY_FIELDS, partials
 * PARTIAL_FIELDS. Without a plan the loop is the plain one below, untouched.
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
#define N_BUFFERS 25
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
static int valid_signal(int is_long, double entry, double tp, double sl, double met, double max_life,
                        double min_tp, double min_sl, double max_sl) {
    double tp_dist, sl_dist;
    if (!(isfinite(tp) && tp > 0 && isfinite(sl) && sl > 0)) return 0;
    const int endless = met == INFINITY && max_life == INFINITY;  /* no expiry (SEMANTICS 9) */
    if (!(endless || (isfinite(met) && met == floor(met) && 0 < met && met <= max_life))) return 0;
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

/* ---- position plans (SEMANTICS.md 9) ---------------------------------------------------- */

#define PLAN_HEAD 14  /* batch_kernel.plan_vector: the numbers before the rungs */
#define TRADE_FIELDS 13  /* reason, close index, close price, SL, TP, entry, peak price, fall price,
                            entries, partials, pnl, peak pnl, fall pnl */
#define ENTRY_FIELDS 3  /* price, cost, timestamp */
#define PARTIAL_FIELDS 6  /* type (0 profit, 1 loss), percent, price, cost basis, entries, timestamp */
#define PARTIAL_CAP_TOLERANCE (1 + 1e-9)  /* position.py */
#define FULLY_CLOSED 1e-9  /* position.py */
/* commit kinds, batch_kernel.PLAN_KINDS: trailing_stop, trailing_take, partial_profit, partial_loss,
 * breakeven, average_buy, close_pending */
enum { K_TS, K_TT, K_PP, K_PL, K_BE, K_AB, K_CP, N_KINDS };

typedef struct {
    Py_ssize_t n_ts, n_tt, n_pp, n_pl;  /* rungs: trailing stop, trailing take, partial profit, loss */
    const double *ts, *tt, *pp, *pl;  /* (threshold, shift) or (level, percent) pairs */
    int breakeven, dca_max, trailing_everywhere, pppl_everywhere, dca_everywhere;
    double be_thr, dca_step, dca_cost, close_after, entry_cost;  /* close_after: minutes, < 0 off */
} Plan;

/* One open position's managed state (position.Position), with room for its entries and partials. */
typedef struct {
    int is_long, trailed_sl, trailed_tp, be_seen, be_wanted, close_asked, pending;
    double eff, sl, tp, orig_sl, orig_tp;
    Py_ssize_t n_e, n_p;
    double *e_price, *e_cost, *e_ts;  /* dca_max (at least 1) */
    double *p_type, *p_pct, *p_price, *p_basis, *p_count, *p_ts, *p_entry;  /* n_pp + n_pl */
    /* the rungs acted on, per ladder: always its first ones (a rung acts once the price has gone as
     * far as its threshold or level, and those ascend), so a count each */
    Py_ssize_t ts_done, tt_done, pp_done, pl_done;
    /* the commits the plan made, per kind (PLAN_KINDS): applied, refused (position_hook counts
     * every commit_by_plan call so); order: the kinds in the order of their first commit */
    long long counts[N_KINDS][2];
    int order[N_KINDS], n_order;
} Pos;

/* Room for a position's entries (dca_max, at least 1) and partials (every rung, and a user's
 * close) in one block, freed with free(ps->e_price); 0 when out of memory */
static Py_ssize_t entry_room(const Plan *plan) { return plan->dca_max > 1 ? plan->dca_max : 1; }
static Py_ssize_t partial_room(const Plan *plan) { return plan->n_pp + plan->n_pl + 1; }

static int give_room(Pos *ps, const Plan *plan) {
    const Py_ssize_t room_e = entry_room(plan), room_p = partial_room(plan);
    double *scratch = calloc(3 * room_e + 7 * room_p, sizeof(double));
    if (!scratch) return 0;
    ps->e_price = scratch;
    ps->e_cost = ps->e_price + room_e;
    ps->e_ts = ps->e_cost + room_e;
    ps->p_type = ps->e_ts + room_e;
    ps->p_pct = ps->p_type + room_p;
    ps->p_price = ps->p_pct + room_p;
    ps->p_basis = ps->p_price + room_p;
    ps->p_count = ps->p_basis + room_p;
    ps->p_ts = ps->p_count + room_p;
    ps->p_entry = ps->p_ts + room_p;
    return 1;
}

/* one commit of kind k that returned ok, counted; returns ok */
static int counted(Pos *ps, int k, int ok) {
    if (ps->counts[k][0] + ps->counts[k][1] == 0) ps->order[ps->n_order++] = k;
    ps->counts[k][ok ? 0 : 1]++;
    return ok;
}

/* pnl.effective_entry: the harmonic mean of the entries, or what the last partial left blended
 * with the entries made after it (a partial leaves the entry as it was: its p_entry) */
static double eff_entry(const Pos *ps) {
    if (ps->n_p == 0) {
        if (ps->n_e == 1) return ps->e_price[0];
        double cost = 0, coins = 0;
        for (Py_ssize_t k = 0; k < ps->n_e; k++) cost += ps->e_cost[k];
        for (Py_ssize_t k = 0; k < ps->n_e; k++) coins += ps->e_cost[k] / ps->e_price[k];
        return cost / coins;
    }
    const Py_ssize_t last = ps->n_p - 1, from = (Py_ssize_t)ps->p_count[last];
    const double at = ps->p_entry[last], left = ps->p_basis[last] * (1 - ps->p_pct[last] / 100);
    if (from >= ps->n_e) return at;
    double coins = 0, cost = 0;
    for (Py_ssize_t k = from; k < ps->n_e; k++) coins += ps->e_cost[k] / ps->e_price[k];
    coins = coins + (left != 0 ? left / at : 0.0);
    for (Py_ssize_t k = from; k < ps->n_e; k++) cost += ps->e_cost[k];
    return (left + cost) / coins;
}

static double invested(const Pos *ps) {
    double sum = 0;
    for (Py_ssize_t k = 0; k < ps->n_e; k++) sum += ps->e_cost[k];
    return sum;
}

/* pnl.remaining_basis: dollars still open */
static double remaining_basis(const Pos *ps) {
    if (ps->n_p == 0) return invested(ps);
    const Py_ssize_t last = ps->n_p - 1;
    double added = 0;
    for (Py_ssize_t k = (Py_ssize_t)ps->p_count[last]; k < ps->n_e; k++) added += ps->e_cost[k];
    return ps->p_basis[last] * (1 - ps->p_pct[last] / 100) + added;
}

/* Position.trailing_stop / trailing_take (the hook's argument checks first) */
static int commit_trailing(const Plan *P, Pos *ps, int stop, double shift, double price) {
    if (!(isfinite(price) && price > 0) || ps->pending) return 0;
    const int L = ps->is_long, up = stop ? !L : L;  /* up: the new level lies above the entry */
    const double entry = ps->eff;
    const double distance = fabs((stop ? (entry - ps->orig_sl) : (ps->orig_tp - entry)) / entry * 100) + shift;
    const double level = up ? entry * (1 + distance / 100) : entry * (1 - distance / 100);
    if (stop) {
        if (L ? price < level : price > level) return 0;
        if (L ? level >= ps->tp : level <= ps->tp) return 0;
        if (ps->trailed_sl && !P->trailing_everywhere && (L ? level <= ps->sl : level >= ps->sl)) return 0;
        ps->sl = level;
        ps->trailed_sl = 1;
    } else {
        if (L ? price > level : price < level) return 0;
        if (L ? level <= ps->sl : level >= ps->sl) return 0;
        if (ps->trailed_tp && !P->trailing_everywhere && (L ? level >= ps->tp : level <= ps->tp)) return 0;
        ps->tp = level;
        ps->trailed_tp = 1;
    }
    return 1;
}

/* Position.partial at p, the VWAP one candle behind */
static int commit_partial(const Plan *P, Pos *ps, int loss, double percent, double p, double u) {
    if (ps->pending) return 0;
    const int L = ps->is_long;
    const double entry = ps->eff;
    if (!P->pppl_everywhere) {
        if (!loss && (L ? p <= entry : p >= entry)) return 0;
        if (loss && (L ? p >= entry : p <= entry)) return 0;
    }
    if (!loss && (L ? p >= ps->tp : p <= ps->tp)) return 0;
    if (loss && (L ? p <= ps->sl : p >= ps->sl)) return 0;
    const double total = invested(ps), basis = remaining_basis(ps);
    double closed = 0;
    for (Py_ssize_t k = 0; k < ps->n_p; k++) closed += ps->p_pct[k] / 100 * ps->p_basis[k];
    if (closed + percent / 100 * basis > total * PARTIAL_CAP_TOLERANCE) return 0;
    const Py_ssize_t k = ps->n_p++;
    ps->p_type[k] = loss;
    ps->p_pct[k] = percent;
    ps->p_price[k] = p;
    ps->p_basis[k] = basis;
    ps->p_count[k] = (double)ps->n_e;
    ps->p_ts[k] = u;
    ps->p_entry[k] = entry;
    ps->eff = eff_entry(ps);
    if (remaining_basis(ps) <= total * FULLY_CLOSED) ps->pending = 1;  /* nothing left: closes next candle */
    return 1;
}

/* Position.breakeven at p */
static int commit_breakeven(const Plan *P, Pos *ps, double p) {
    if (ps->pending) return 0;
    const int L = ps->is_long;
    const double entry = ps->eff, thr = P->be_thr;
    if (L ? entry >= ps->tp : entry <= ps->tp) return 0;
    if (!(L ? p >= entry * (1 + thr / 100) : p <= entry * (1 - thr / 100))) return 0;
    if (ps->trailed_sl && (L ? ps->sl > entry : ps->sl < entry)) return 1;  /* a trailed stop past the entry stays */
    if (!(L ? ps->sl < entry : ps->sl > entry)) return 0;
    if (L ? p < entry : p > entry) return 0;
    ps->sl = entry;
    ps->trailed_sl = 1;
    return 1;
}

/* Position.average_buy at p */
static int commit_average_buy(const Plan *P, Pos *ps, double p, double u) {
    if (ps->pending) return 0;
    if (!P->dca_everywhere) {
        for (Py_ssize_t k = 0; k < ps->n_e; k++)
            if (ps->is_long ? p >= ps->e_price[k] : p <= ps->e_price[k]) return 0;  /* not beyond every entry */
    }
    const Py_ssize_t k = ps->n_e++;
    ps->e_price[k] = p;
    ps->e_cost[k] = P->dca_cost;
    ps->e_ts[k] = u;
    ps->eff = eff_entry(ps);
    return 1;
}

/* the plan's rules 1-5, in on_active_ping's place (position_plan_hooks.PlanHooks.ping); they read
 * the position as the hook's signal shows it, as it was when the hook began */
static void plan_ping(const Plan *P, Pos *ps, int64_t u, int64_t pending_at, double v, double p, double s,
                      double fee) {
    const int L = ps->is_long;
    const double entry = ps->eff;
    const Py_ssize_t entries = ps->n_e;
    double move = (v - entry) / entry * 100;
    if (!L) move = -move;
    for (; ps->ts_done < P->n_ts && move >= P->ts[2 * ps->ts_done]; ps->ts_done++)
        counted(ps, K_TS, commit_trailing(P, ps, 1, P->ts[2 * ps->ts_done + 1], v));
    for (; ps->tt_done < P->n_tt && move <= P->tt[2 * ps->tt_done]; ps->tt_done++)
        counted(ps, K_TT, commit_trailing(P, ps, 0, P->tt[2 * ps->tt_done + 1], v));
    if (ps->be_wanted && counted(ps, K_BE, commit_breakeven(P, ps, p))) ps->be_wanted = 0;
    if (P->dca_max > 0 && entries < P->dca_max && move <= -P->dca_step)
        counted(ps, K_AB, commit_average_buy(P, ps, p, (double)u));
    if (P->close_after >= 0 && !ps->close_asked && (double)(u - pending_at) >= P->close_after * (double)MINUTE_MS
        && pnl_of(L, entry, v, s, fee) < 0) {
        ps->close_asked = 1;
        if (counted(ps, K_CP, !ps->pending)) ps->pending = 1;  /* commit_close_pending: closes at the next candle */
    }
}

/* rule 6 on one side, in on_partial_profit's / on_partial_loss's place */
static void plan_closes(const Plan *P, Pos *ps, int loss, double percent, double p, double u) {
    const Py_ssize_t n = loss ? P->n_pl : P->n_pp;
    const double *rungs = loss ? P->pl : P->pp;
    Py_ssize_t *done = loss ? &ps->pl_done : &ps->pp_done;
    for (; *done < n && percent >= rungs[2 * *done]; (*done)++)
        counted(ps, loss ? K_PL : K_PP, commit_partial(P, ps, loss, rungs[2 * *done + 1], p, u));
}

/* position.progress_percent */
static double progress(double covered, double total) {
    if (total <= 0) return 100.0;
    double x = covered / total * 100;
    x = x < 0.0 ? 0.0 : x;
    return x > 100.0 ? 100.0 : x;
}

/* pnl.position_pnl (entries and partials) or pnl_percentage (neither), as lifecycle._close picks */
static double plan_pnl(const Pos *ps, double price, double s, double fee) {
    if (ps->n_p == 0) return pnl_of(ps->is_long, ps->eff, price, s, fee);
    const double total = invested(ps);
    double weights = 0, gross_sum = 0.0, fees = fee;
    for (Py_ssize_t k = 0; k < ps->n_p; k++) weights += ps->p_pct[k] / 100 * ps->p_basis[k] / total;
    const double rest = 1 - weights;
    for (Py_ssize_t k = 0; k <= ps->n_p; k++) {
        double w, entry, at;
        if (k < ps->n_p) { w = ps->p_pct[k] / 100 * ps->p_basis[k] / total; entry = ps->p_entry[k]; at = ps->p_price[k]; }
        else if (rest > 0) { w = rest; entry = ps->eff; at = price; }
        else break;
        double opened, closed, gross;
        if (ps->is_long) {
            opened = entry * (1 + s);
            closed = at * (1 - s);
            gross = (closed - opened) / opened * 100;
        } else {
            opened = entry * (1 - s);
            closed = at * (1 + s);
            gross = (opened - closed) / opened * 100;
        }
        gross_sum += w * gross;
        fees += fee * w * (closed / opened);
    }
    return gross_sum - fees;
}

/* growable float64 output (detail mode); 0 when out of memory */
typedef struct { double *v; Py_ssize_t n, room; } Grow;

static int grow_push(Grow *g, const double *values, Py_ssize_t count) {
    if (g->n + count > g->room) {
        Py_ssize_t room = g->room ? g->room : 1024;
        while (room < g->n + count) room *= 2;
        double *v = realloc(g->v, room * sizeof(double));
        if (!v) return 0;
        g->v = v;
        g->room = room;
    }
    memcpy(g->v + g->n, values, count * sizeof(double));
    g->n += count;
    return 1;
}

/* The candles, and their BLOCK extremes (walk_grid.block_extremes), as a plan trade reads them. */
typedef struct {
    const double *vwap, *low, *high, *block_low, *block_high, *block_vwap_max, *block_vwap_min;
    const int64_t *ts;
    Py_ssize_t m;
} Market;

#define PEAK_MARGIN 1e-9  /* percent: a peak's PnL this near 0 is decided candle by candle */

#define BAND_MARGIN 1e-12  /* relative: a price this near a rule's threshold takes the full hook */
#define LOSS_MARGIN 1e-9  /* relative: the same, for the price where the PnL turns negative */

/* The open interval (lo, hi) of VWAP in which the plan's hook can only move the peak and fall
 * (given the VWAP before it, at which a waiting breakeven is priced, is inside too): each rule's
 * threshold as a price, kept BAND_MARGIN inside it (where a rule compares the price itself,
 * exactly). Far wider than the rounding of the move or progress a rule computes, so a candle
 * inside never passes a test. */
static void plan_band(const Plan *P, const Pos *ps, double s, double fee, double *lo, double *hi) {
    const int L = ps->is_long;
    const double e = ps->eff, in_up = 1 - BAND_MARGIN, in_down = 1 + BAND_MARGIN;
    double a = -INFINITY, b = INFINITY;
#define BELOW(x) do { const double x_ = (x); if (!(x_ >= b)) b = x_; } while (0)  /* NaN: nothing fits */
#define ABOVE(x) do { const double x_ = (x); if (!(x_ <= a)) a = x_; } while (0)
    if (ps->ts_done < P->n_ts) {
        const double thr = P->ts[2 * ps->ts_done];
        if (L) BELOW(e * (1 + thr / 100) * in_up); else ABOVE(e * (1 - thr / 100) * in_down);
    }
    if (ps->tt_done < P->n_tt) {
        const double thr = P->tt[2 * ps->tt_done];
        if (L) ABOVE(e * (1 + thr / 100) * in_down); else BELOW(e * (1 - thr / 100) * in_up);
    }
    if (P->dca_max > 0 && ps->n_e < P->dca_max) {
        if (L) ABOVE(e * (1 - P->dca_step / 100) * in_down); else BELOW(e * (1 + P->dca_step / 100) * in_up);
    }
    if ((P->breakeven && !ps->be_seen) || ps->be_wanted) {  /* (a waiting one is priced at the VWAP before) */
        if (L) BELOW(e * (1 + P->be_thr / 100)); else ABOVE(e * (1 - P->be_thr / 100));
    }
    if (P->close_after >= 0 && !ps->close_asked) {
        if (!(fee < 100)) a = INFINITY;
        else if (L) ABOVE((100 + fee) / (100 - fee) * (e * (1 + s)) / (1 - s) * (1 + LOSS_MARGIN));
        else BELOW((100 - fee) / (100 + fee) * (e * (1 - s)) / (1 + s) * (1 - LOSS_MARGIN));
    }
    if (ps->pp_done < P->n_pp) {
        const double level = P->pp[2 * ps->pp_done] / 100, total = L ? ps->tp - e : e - ps->tp;
        if (total <= 0) { if (L) BELOW(e); else ABOVE(e); }
        else if (L) BELOW((e + total * level) * in_up); else ABOVE((e - total * level) * in_down);
    }
    if (ps->pl_done < P->n_pl) {
        const double level = P->pl[2 * ps->pl_done] / 100, total = L ? e - ps->sl : ps->sl - e;
        if (total <= 0) { if (L) ABOVE(e); else BELOW(e); }
        else if (L) ABOVE((e - total * level) * in_down); else BELOW((e + total * level) * in_up);
    }
#undef BELOW
#undef ABOVE
    *lo = a;
    *hi = b;
}

/* One plan trade opened at tick t (candle c) at entry: walked candle by candle as
 * position_walk.walk_position walks it, stepping over the quiet blocks before ``stop`` (its first
 * expired candle). Writes trade[TRADE_FIELDS]. ``init`` (or NULL: none yet): the peak price and
 * PnL and the fall price and PnL the position has before candle c; ``pre`` (or NULL): where to
 * write them as they are before the close merges into them. Returns 1 when a rule closed it, 0
 * when the candles ran out first (then the last candle settles it, as lifecycle.force_settle). */
#if defined(__GNUC__)
__attribute__((noinline))  /* kept out of settle: inlined, it cost the plain loop a third of its speed */
#endif
static int plan_trade(const Plan *P, Pos *ps, const Market *M, int is_long, int64_t t, Py_ssize_t c,
                      Py_ssize_t stop, double entry, double tp, double sl, double met, int64_t frame_end_ms,
                      double s, double fee, double *trade, const double *init, double *pre) {
    const double *vwap = M->vwap, *low = M->low, *high = M->high;
    const int64_t *ts = M->ts;
    const Py_ssize_t m = M->m;
    ps->is_long = is_long;
    ps->eff = entry;
    ps->sl = ps->orig_sl = sl;
    ps->tp = ps->orig_tp = tp;
    ps->trailed_sl = ps->trailed_tp = ps->be_seen = ps->be_wanted = ps->close_asked = ps->pending = 0;
    ps->n_e = 1;
    ps->n_p = 0;
    ps->e_price[0] = entry;
    ps->e_cost[0] = P->entry_cost;
    ps->e_ts[0] = (double)t;
    ps->ts_done = ps->tt_done = ps->pp_done = ps->pl_done = 0;
    memset(ps->counts, 0, sizeof(ps->counts));
    ps->n_order = 0;
    double peak_p = entry, peak = 0.0, fall_p = entry, fall = pnl_of(is_long, entry, entry, s, fee);
    if (init) {
        peak_p = init[0];
        peak = init[1];
        fall_p = init[2];
        fall = init[3];
    }
    const int64_t life_end = isfinite(met) ? t + (int64_t)met * MINUTE_MS : INT64_MAX;
    Py_ssize_t close = -1;
    int reason = 2, excursion = 1;  /* reasons: 0 stop_loss, 1 take_profit, 2 time_expired, 3 closed */
    double price = 0.0, band_lo, band_hi;
    double be_up = entry * (1 + P->be_thr / 100), be_down = entry * (1 - P->be_thr / 100);  /* commit_breakeven's */
    plan_band(P, ps, s, fee, &band_lo, &band_hi);
    for (Py_ssize_t q = c; q < m; q++) {
        const Py_ssize_t k = q >> BLOCK_SHIFT;
        if ((q & (BLOCK - 1)) == 0 && q + BLOCK <= stop && !ps->pending
            && (is_long ? !(M->block_low[k] <= ps->sl) && !(M->block_vwap_max[k] >= ps->tp)
                        : !(M->block_high[k] >= ps->sl) && !(M->block_vwap_min[k] <= ps->tp))
            && M->block_vwap_min[k] > band_lo && M->block_vwap_max[k] < band_hi
            && !(ps->be_wanted && (is_long ? !(vwap[q - 1] < be_up) : !(vwap[q - 1] > be_down)))) {
            /* a quiet block (before the expiry, no close waiting): no candle touches the stop or
             * reaches the take profit, every VWAP lies inside the band (and a breakeven waiting is
             * priced at vwap[q - 1] and then at the block's own VWAP, also inside it), so the hooks
             * would only have moved the peak and fall. The entry stays, so those rules reduce to
             * the block's extremes (fast_forward.excursions); a peak's gain within PEAK_MARGIN of 0
             * is decided candle by candle instead (a fee and a gain rounded apart may break the
             * order of the PnL by an ulp). */
            const double e = ps->eff, best = is_long ? M->block_vwap_max[k] : M->block_vwap_min[k],
                         worst = is_long ? M->block_vwap_min[k] : M->block_vwap_max[k];
            double g = 0.0;
            const int higher = is_long ? (best > e && best > peak_p) : (best < e && best < peak_p);
            if (higher) {
                g = pnl_of(is_long, e, best, s, fee);
                if (g > -PEAK_MARGIN && g <= PEAK_MARGIN) goto walk;  /* decided candle by candle */
                if (g > 0) { peak_p = best; peak = g; }
            }
            if (is_long ? (worst < e && worst < fall_p) : (worst > e && worst > fall_p)) {
                fall_p = worst;
                fall = pnl_of(is_long, e, worst, s, fee);
            }
            if (ps->be_wanted) {  /* each candle's hook asked for it again, refused (its price is short) */
                if (ps->counts[K_BE][0] + ps->counts[K_BE][1] == 0) ps->order[ps->n_order++] = K_BE;
                ps->counts[K_BE][1] += BLOCK;
            }
            q += BLOCK - 1;
            continue;
        }
    walk:;
        const int64_t u = ts[q];
        const double v = vwap[q];
        if (u > frame_end_ms) { close = q; price = v; break; }
        if (ps->pending) { close = q; reason = 3; price = v; excursion = 0; break; }
        if (u >= life_end) { close = q; price = v; break; }
        if (is_long ? low[q] <= ps->sl : high[q] >= ps->sl) { close = q; reason = 0; price = ps->sl; break; }
        if (is_long ? v >= ps->tp : v <= ps->tp) { close = q; reason = 1; price = ps->tp; break; }
        /* the hook of candle q (position_hook.PositionHook._run) */
        const double p = vwap[q - 1];  /* get_average_price inside the hook: one candle behind */
        double e = ps->eff;
        if (is_long) {
            if (v > e && v > peak_p) { const double g = pnl_of(1, e, v, s, fee); if (g > 0) { peak_p = v; peak = g; } }
            if (v < e && v < fall_p) { fall_p = v; fall = pnl_of(1, e, v, s, fee); }
        } else {
            if (v < e && v < peak_p) { const double g = pnl_of(0, e, v, s, fee); if (g > 0) { peak_p = v; peak = g; } }
            if (v > e && v > fall_p) { fall_p = v; fall = pnl_of(0, e, v, s, fee); }
        }
        if (v > band_lo && v < band_hi && !(ps->be_wanted && (is_long ? !(p < be_up) : !(p > be_down)))) {
            if (ps->be_wanted) counted(ps, K_BE, 0);  /* asked again, refused: its price is short */
            continue;  /* inside the band: no rule acts on this candle */
        }
        plan_ping(P, ps, u, t, v, p, s, fee);
        e = ps->eff;
        if (is_long ? v > e : v < e) {
            if (!ps->be_seen && (is_long ? v >= e * (1 + P->be_thr / 100) : v <= e * (1 - P->be_thr / 100))) {
                ps->be_seen = 1;
                if (P->breakeven && !counted(ps, K_BE, commit_breakeven(P, ps, p))) ps->be_wanted = 1;
            }
            if (P->n_pp) plan_closes(P, ps, 0, progress(fabs(v - e), is_long ? ps->tp - e : e - ps->tp), p, (double)u);
        } else if (is_long ? v < e : v > e) {
            if (P->n_pl) plan_closes(P, ps, 1, progress(fabs(e - v), is_long ? e - ps->sl : ps->sl - e), p, (double)u);
        }
        plan_band(P, ps, s, fee, &band_lo, &band_hi);  /* the hook may have changed what it depends on */
        be_up = ps->eff * (1 + P->be_thr / 100);
        be_down = ps->eff * (1 - P->be_thr / 100);
    }
    const int ruled = close >= 0;
    if (close < 0) {  /* the candles ran out: the last one settles it (lifecycle.force_settle) */
        close = m - 1;
        reason = 2;
        price = vwap[close];
    }
    const double pnl = (ps->n_e > 1 || ps->n_p > 0) ? plan_pnl(ps, price, s, fee) : pnl_of(is_long, ps->eff, price, s, fee);
    if (pre) {
        pre[0] = peak_p;
        pre[1] = peak;
        pre[2] = fall_p;
        pre[3] = fall;
    }
    if (excursion) {
        if (pnl < fall) { fall_p = price; fall = pnl; }
        if (pnl > 0 && pnl > peak) { peak_p = price; peak = pnl; }
    }
    const double fields[TRADE_FIELDS] = {reason, (double)close, price, ps->sl, ps->tp, ps->eff, peak_p, fall_p,
                                         (double)ps->n_e, (double)ps->n_p, pnl, peak, fall};
    memcpy(trade, fields, sizeof(fields));
    return ruled;
}

/* The plan vector's numbers; an error message, or NULL */
static const char *read_plan(const Py_buffer *b, Plan *P) {
    const double *v = b->buf;
    const Py_ssize_t n = b->len / 8;
    if (n < PLAN_HEAD) return "the plan vector is shorter than its head";
    for (int k = 0; k < 4; k++)
        if (!(v[k] >= 0 && v[k] <= 1e6 && v[k] == floor(v[k]))) return "the plan's rung counts are not counts";
    P->n_ts = (Py_ssize_t)v[0];
    P->n_tt = (Py_ssize_t)v[1];
    P->n_pp = (Py_ssize_t)v[2];
    P->n_pl = (Py_ssize_t)v[3];
    if (n != PLAN_HEAD + 2 * (P->n_ts + P->n_tt + P->n_pp + P->n_pl)) return "the plan vector's length does not match its rung counts";
    P->breakeven = v[4] != 0;
    P->be_thr = v[5];
    if (!(v[6] >= 0 && v[6] <= 1e6)) return "the plan's max entries is out of range";
    P->dca_max = (int)v[6];
    P->dca_step = v[7];
    P->dca_cost = v[8];
    P->close_after = v[9];
    P->entry_cost = v[10];
    P->trailing_everywhere = v[11] != 0;
    P->pppl_everywhere = v[12] != 0;
    P->dca_everywhere = v[13] != 0;
    P->ts = v + PLAN_HEAD;
    P->tt = P->ts + 2 * P->n_ts;
    P->pp = P->tt + 2 * P->n_tt;
    P->pl = P->pp + 2 * P->n_pp;
    return NULL;
}

static PyObject *settle(PyObject *self, PyObject *args) {
    Py_ssize_t i, stop_i, count, rejected, span_a, span_c0;
    long long last_bucket, frame_end_ms, throttle_ms;
    double max_life;  /* minutes; INFINITY: no expiry */
    int has_expiry, contiguous, uniform, exact_minutes, detail;
    double min_tp, min_sl, max_sl, slip, fee;
    Py_buffer b[N_BUFFERS];
    memset(b, 0, sizeof(b));
    /* b: 0 bucket, 1 first_of_bucket, 2 cursor, 3 ticks, 4 offered, 5 offered_row, 6 side, 7 take_profit,
          8 stop_loss, 9 expiry, 10 vwap, 11 low, 12 high, 13 ts, 14 out_pnl, 15 out_pending, 16 out_close,
          17 out_peak, 18 out_fall, 19 out_rejected, 20 block_low, 21 block_high, 22 block_vwap_max,
          23 block_vwap_min, 24 plan */
    if (!PyArg_ParseTuple(args, "nnLy*y*y*y*y*y*y*y*y*y*py*y*y*y*ppLddddddw*w*w*nw*w*w*ny*y*y*y*nnLpy*p", &i, &stop_i,
                          &last_bucket, &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &b[6], &b[7], &b[8], &b[9],
                          &has_expiry, &b[10], &b[11], &b[12], &b[13], &contiguous, &uniform, &frame_end_ms,
                          &max_life, &min_tp, &min_sl, &max_sl, &slip, &fee, &b[14], &b[15], &b[16], &count,
                          &b[17], &b[18], &b[19], &rejected, &b[20], &b[21], &b[22], &b[23], &span_a, &span_c0,
                          &throttle_ms, &exact_minutes, &b[24], &detail))
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
    Plan plan;
    Pos pos;
    memset(&pos, 0, sizeof(pos));
    const int planned = b[24].len > 0;
    Grow trades = {0}, entries = {0}, partials = {0};
    double trade[TRADE_FIELDS];

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
        for (int k = 20; k < 24; k++)
            if (b[k].len != blocks * 8) bad = "the block extremes need one entry per BLOCK candles";
    }
    if (!bad && planned) bad = read_plan(&b[24], &plan);
    if (!bad && planned) {
        if (!give_room(&pos, &plan)) {
            PyErr_NoMemory();
            goto done;
        }
    }
    if (bad) {
        PyErr_Format(PyExc_ValueError, "settle: %s", bad);
        goto done;
    }

    Py_BEGIN_ALLOW_THREADS
    const int64_t first_ms = ts[0], tick0 = ticks[0], step = n > 1 ? ticks[1] - ticks[0] : 1;
    const double s = slip / 100;
    const int arith = span_a >= 0;
    const Market market = {vwap, low, high, block_low, block_high, block_vwap_max, block_vwap_min, ts, m};
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
        const double met = has_expiry ? expiry[r] : max_life;
        if (!valid_signal(is_long, entry, tp, sl, met, max_life, min_tp, min_sl, max_sl)) {
            if (rejected < rejected_room) out_rejected[rejected] = j;
            rejected++;
            i = j + 1;  /* a rejected signal uses up its bucket */
            continue;
        }
        int64_t expires = isfinite(met) ? t + (int64_t)met * MINUTE_MS : frame_end_ms + 1;
        if (expires > frame_end_ms + 1) expires = frame_end_ms + 1;
        Py_ssize_t x;
        if (contiguous) {
            const int64_t d = expires - first_ms;
            x = d <= 0 ? 0 : (Py_ssize_t)((d + MINUTE_MS - 1) / MINUTE_MS);
        } else {
            x = search_left(ts, m, expires);
        }
        const Py_ssize_t stop = x < m ? x : m;
        if (planned) {
            plan_trade(&plan, &pos, &market, is_long, t, c, stop, entry, tp, sl, met, frame_end_ms, s, fee, trade, NULL,
                       NULL);
            const Py_ssize_t close = (Py_ssize_t)trade[1];
            const int64_t close_ms = ts[close];
            out_pnl[count] = trade[10];
            out_pending[count] = t;
            out_close[count] = close_ms;
            out_peak[count] = trade[11];
            out_fall[count] = trade[12];
            count++;
            if (detail) {
                int ok = grow_push(&trades, trade, TRADE_FIELDS);
                for (Py_ssize_t k = 0; ok && k < pos.n_e; k++) {
                    const double e3[ENTRY_FIELDS] = {pos.e_price[k], pos.e_cost[k], pos.e_ts[k]};
                    ok = grow_push(&entries, e3, ENTRY_FIELDS);
                }
                for (Py_ssize_t k = 0; ok && k < pos.n_p; k++) {
                    const double p6[PARTIAL_FIELDS] = {pos.p_type[k], pos.p_pct[k], pos.p_price[k], pos.p_basis[k],
                                                       pos.p_count[k], pos.p_ts[k]};
                    ok = grow_push(&partials, p6, PARTIAL_FIELDS);
                }
                if (!ok) { bad = "out of memory for the trades' details"; break; }
            }
            i = uniform ? (Py_ssize_t)((close_ms - tick0) / step + 1) : search_right(ticks, n, close_ms);
            continue;
        }
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
    else if (detail)
        result = Py_BuildValue("nLnny#y#y#", i, last_bucket, count, rejected,
                               trades.v ? (const char *)trades.v : "", trades.n * (Py_ssize_t)sizeof(double),
                               entries.v ? (const char *)entries.v : "", entries.n * (Py_ssize_t)sizeof(double),
                               partials.v ? (const char *)partials.v : "", partials.n * (Py_ssize_t)sizeof(double));
    else result = Py_BuildValue("nLnn", i, last_bucket, count, rejected);
done:
    free(trades.v);
    free(entries.v);
    free(partials.v);
    free(pos.e_price);
    for (int k = 0; k < N_BUFFERS; k++)
        if (b[k].obj != NULL) PyBuffer_Release(&b[k]);
    return result;
}

/* plan_position(plan, vwap, low, high, ts, block_low, block_high, block_vwap_max, block_vwap_min, c,
 *               is_long, t, entry, tp, sl, met, frame_end_ms, slip, fee, peak_price, peak, fall_price, fall,
 *               first_cost)
 *   -> (ruled, trade, excursions, entries, partials, counts, order)
 * One open position of the event lane walked with its plan from candle c (pending_at t), as
 * plan_trade walks a batch trade: position_walk.py takes it for a position nobody else hooks.
 * first_cost: its first entry's dollars (the signal's ``cost``, else CC_POSITION_ENTRY_COST).
 * ruled: 1 when a rule closed it, 0 when the candles ran out first; trade: TRADE_FIELDS float64
 * bytes; excursions: (peak price, peak PnL, fall price, fall PnL) before the close merges into
 * them; entries, partials: float64 bytes (ENTRY_FIELDS, PARTIAL_FIELDS each); counts: int64 bytes,
 * (applied, refused) per PLAN_KINDS; order: int32 bytes, the kinds in the order of their first commit. */
static PyObject *plan_position(PyObject *self, PyObject *args) {
    Py_ssize_t c;
    int is_long;
    long long t, frame_end_ms;
    double entry, tp, sl, met, slip, fee, init[4], pre[4], trade[TRADE_FIELDS], first_cost, *out = NULL;
    Py_buffer b[9];
    memset(b, 0, sizeof(b));
    /* b: 0 plan, 1 vwap, 2 low, 3 high, 4 ts, 5 block_low, 6 block_high, 7 block_vwap_max, 8 block_vwap_min */
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*y*y*npLddddLddddddd", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &b[6],
                          &b[7], &b[8], &c, &is_long, &t, &entry, &tp, &sl, &met, &frame_end_ms, &slip, &fee,
                          &init[0], &init[1], &init[2], &init[3], &first_cost))
        return NULL;
    PyObject *result = NULL;
    const char *bad = NULL;
    Plan plan;
    Pos pos;
    memset(&pos, 0, sizeof(pos));
    const Py_ssize_t m = b[4].len / 8, blocks = (m + BLOCK - 1) / BLOCK;
    if (b[1].len != m * 8 || b[2].len != m * 8 || b[3].len != m * 8) bad = "vwap, low, high and ts differ in length";
    else if (c < 1 || c >= m) bad = "the first candle must have a candle before it and lie inside the candles";
    else {
        for (int k = 5; k < 9; k++)
            if (b[k].len != blocks * 8) bad = "the block extremes need one entry per BLOCK candles";
    }
    if (!bad) bad = read_plan(&b[0], &plan);
    if (!bad && !(first_cost > 0 && isfinite(first_cost))) bad = "the first entry's cost must be a finite number > 0";
    if (bad) {
        PyErr_Format(PyExc_ValueError, "plan_position: %s", bad);
        goto done;
    }
    plan.entry_cost = first_cost; /* this position's own: a signal's cost, or the plan's CC_POSITION_ENTRY_COST */
    if (!give_room(&pos, &plan)) {
        PyErr_NoMemory();
        goto done;
    }
    const int64_t *ts = b[4].buf;
    const Market market = {b[1].buf, b[2].buf, b[3].buf, b[5].buf, b[6].buf, b[7].buf, b[8].buf, ts, m};
    /* the first expired candle (settle's stop): the blocks before it may be stepped over */
    int64_t expires = isfinite(met) ? t + (int64_t)met * MINUTE_MS : frame_end_ms + 1;
    if (expires > frame_end_ms + 1) expires = frame_end_ms + 1;
    const Py_ssize_t x = search_left(ts, m, expires), stop = x < m ? x : m;
    int ruled;
    Py_BEGIN_ALLOW_THREADS
    ruled = plan_trade(&plan, &pos, &market, is_long, t, c, stop, entry, tp, sl, met, frame_end_ms, slip / 100, fee,
                       trade, init, pre);
    Py_END_ALLOW_THREADS
    const Py_ssize_t room_e = entry_room(&plan), room_p = partial_room(&plan);
    double *entries = out = malloc((ENTRY_FIELDS * room_e + PARTIAL_FIELDS * room_p) * sizeof(double));
    if (!out) {
        PyErr_NoMemory();
        goto done;
    }
    double *partials = entries + ENTRY_FIELDS * room_e;
    for (Py_ssize_t k = 0; k < pos.n_e; k++) {
        entries[ENTRY_FIELDS * k] = pos.e_price[k];
        entries[ENTRY_FIELDS * k + 1] = pos.e_cost[k];
        entries[ENTRY_FIELDS * k + 2] = pos.e_ts[k];
    }
    for (Py_ssize_t k = 0; k < pos.n_p; k++) {
        const double p6[PARTIAL_FIELDS] = {pos.p_type[k], pos.p_pct[k], pos.p_price[k], pos.p_basis[k], pos.p_count[k],
                                           pos.p_ts[k]};
        memcpy(partials + PARTIAL_FIELDS * k, p6, sizeof(p6));
    }
    int32_t order[N_KINDS];
    for (int k = 0; k < pos.n_order; k++) order[k] = pos.order[k];
    result = Py_BuildValue("iy#(dddd)y#y#y#y#", ruled, (const char *)trade, (Py_ssize_t)sizeof(trade), pre[0], pre[1],
                           pre[2], pre[3], (const char *)entries, pos.n_e * ENTRY_FIELDS * (Py_ssize_t)sizeof(double),
                           (const char *)partials, pos.n_p * PARTIAL_FIELDS * (Py_ssize_t)sizeof(double),
                           (const char *)pos.counts, (Py_ssize_t)sizeof(pos.counts), (const char *)order,
                           pos.n_order * (Py_ssize_t)sizeof(int32_t));
done:
    free(out);
    free(pos.e_price);
    for (int k = 0; k < 9; k++)
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
    {"plan_position", plan_position, METH_VARARGS, "Walk one open position with its plan; see batch_kernel.py."},
    {"crossings", crossings, METH_VARARGS, "Rows where a - b changes sign; see indicators.crossings."},
    {"sma_crossings", sma_crossings, METH_VARARGS, "crossings of two means from prefix sums; see indicators.sma_crossings."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_batch_kernel", "The compiled stats-only batch lane.", -1, methods};

PyMODINIT_FUNC PyInit__batch_kernel(void) { return PyModule_Create(&module); }
