/* The lock-order checker of a checking build (meson -Dchecks=true; the default
 * build does not compile this file). The headers of such a build route weft_lock,
 * weft_rlock and weft_rwlock acquire and release to the weft__checked_* functions
 * here (include/weft/lock.h, rlock.h, rwlock.h), which record the order and then
 * run the usual fast path; condition waits report their release and re-acquire
 * (src/cond.c).
 *
 * State:
 *  - per thread, the stack of held locks (growable, no cap), each entry with the
 *    hash of the chain of entries up to it and the acquire's return address;
 *  - one order graph keyed by lock address: an edge A -> B says some thread
 *    acquired B while holding A, and keeps the backtrace(3) of the acquire that
 *    first made it. A new edge A -> B closes a cycle iff B already reaches A
 *    (a depth-first search, which a dynamic topological order confines to the
 *    nodes ranked between A and B, and skips when A ranks below B): that acquire is a potential deadlock, reported once
 *    with the stacks of the new edge and of every edge of the path B -> ... -> A;
 *    the closing edge is kept marked inverted (reported, never searched);
 *  - per thread, a cache of validated chains (held chain hash, new lock): an
 *    acquire already validated adds no edge and skips the graph and its lock, so
 *    a checked program runs a few times slower, not orders of magnitude.
 *
 * Also reported, once per lock: re-acquiring a weft_lock the thread holds before
 * blocking on it (self-deadlock); releasing an rlock the thread does not hold;
 * a thread exiting with locks held. A report goes to stderr and the program goes
 * on, or aborts when WEFT_CHECKS_ABORT=1.
 *
 * A weft_lock is not owned: another thread may release it. The stack entry of
 * such a lock goes stale in its acquirer; stale entries (the lock found
 * unlocked) are dropped when the acquirer next validates an acquire. The graph
 * knows nothing of lifetimes: memory reused for another lock inherits its edges.
 *
 * A weft_rwlock is one node of the graph for both of its sides, and a read
 * acquire is an acquire like any other: it orders against the locks held, and a
 * read hold orders the acquires made under it. Readers are not exempt (as Linux
 * lockdep exempts recursive readers) because a waiting writer stops new readers:
 * T1 reading A and then B, T2 reading B and then A deadlock once writers wait on
 * both (each writer waits for one thread's read hold and stops the other's next
 * read). TSan's detector makes the same choice (its read flag changes no edge).
 * For the same reason a thread's second blocking read of a lock it reads is a
 * self-deadlock, as a write acquire by a holder of either side is: a writer that
 * claims in between waits for the first hold and stops the second. The write
 * side is known to be held by the thread that took it (the lock lets any thread
 * release it): its release or downgrade by another thread is reported, and still
 * done. Stale entries: a write hold found released, a read hold found with no
 * read hold left on the lock (another thread released it; while others read, it
 * cannot be told from theirs and stays). */
#include "lockdep.h"

#include "addrmap.h"
#include "profile_internal.h"
#include "waiting.h"

#include <execinfo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    WF_CHECKS_FRAMES = 24,     /* backtrace depth kept per edge and per report */
    WF_CHECKS_CACHE = 4096,    /* validated chains per thread (a power of two) */
};

/* READ and WRITE: the two sides of a weft_rwlock. */
typedef enum wf_held_kind { WF_HELD_LOCK, WF_HELD_RLOCK, WF_HELD_READ, WF_HELD_WRITE } wf_held_kind;

typedef struct wf_held {
    const void *obj;
    void *site;     /* return address of the acquire that took it */
    uint64_t chain; /* hash of the stack's objects up to and including this one */
    uint32_t depth; /* an rlock's recursion count, an rwlock's read holds */
    uint8_t kind;   /* wf_held_kind */
} wf_held;

typedef struct wf_checks_thread {
    wf_held *held;
    size_t n, cap;
    uint64_t *cache; /* WF_CHECKS_CACHE validated chain keys, 0 = empty */
    bool armed;      /* registered for the exit check */
} wf_checks_thread;

/* initial-exec: every checked call reads it (as weft__rlock_me, see rlock.h). */
static _Thread_local wf_checks_thread wf_me __attribute__((tls_model("initial-exec")));

typedef struct wf_node wf_node;

typedef struct wf_edge {
    wf_node *to;
    bool inverted; /* the edge that closed a cycle: reported, never searched */
    int nframes;
    void *frames[WF_CHECKS_FRAMES];
} wf_edge;

struct wf_node {
    const void *obj;
    wf_edge *edges;
    size_t n_edges, cap_edges;
    wf_node **preds; /* the nodes with a (not inverted) edge to it */
    size_t n_preds, cap_preds;
    uint64_t ord;    /* its rank in the topological order (see wf_closes_cycle) */
    uint64_t mark;   /* the search that last visited it */
    wf_node *prev;   /* in that search: the node it was reached from ... */
    wf_edge *via;    /* ... by this edge */
    bool reported;   /* a self-deadlock, bad release or exit report was made */
};

/* The graph, under wf_graph_lock: an address map of nodes (src/addrmap.h). */
static weft_lock wf_graph_lock = WEFT_LOCK_INIT;
static wf_addrmap wf_nodes = WF_ADDRMAP_INIT; /* lock address -> its node */
static uint64_t wf_search_mark;
static uint64_t wf_next_ord; /* the rank a new node takes: above every other */

/* The checker cannot go on without memory, and must not change the program's
 * results by failing its calls: it stops the program. */
static void wf_checks_oom(void)
{
    fputs("weft checks: out of memory\n", stderr);
    abort();
}

static void *wf_checks_alloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p)
        wf_checks_oom();
    return p;
}

static uint64_t wf_mix(uint64_t h, const void *obj)
{
    h ^= (uint64_t)(uintptr_t)obj + UINT64_C(0x9E3779B97F4A7C15) + (h << 6) + (h >> 2);
    h *= UINT64_C(0xBF58476D1CE4E5B9);
    return (h ^ (h >> 31)) | 1; /* never 0: 0 marks an empty cache slot */
}

/* Under wf_graph_lock. */
static wf_node *wf_node_of(const void *obj)
{
    void **slot = wf_addrmap_insert(&wf_nodes, obj);
    if (!slot)
        wf_checks_oom();
    if (!*slot) {
        wf_node *n = wf_checks_alloc(NULL, sizeof *n);
        memset(n, 0, sizeof *n);
        n->obj = obj;
        n->ord = wf_next_ord++;
        *slot = n;
    }
    return *slot;
}

/* ---- reports ------------------------------------------------------------------ */

static void wf_report_lock(const char *what, const void *obj)
{
    const char *name = weft_name_get(obj);
    if (name)
        fprintf(stderr, "%s \"%s\" (%p)", what, name, obj);
    else
        fprintf(stderr, "%s %p", what, obj);
}

static void wf_report_frames(void *const *frames, int n)
{
    fflush(stderr);
    backtrace_symbols_fd(frames, n, 2);
}

/* The stack from the frame that returns to `site` (the user's call of the
 * checked entry point) outwards; the checker's own frames, however many inlining
 * left, are dropped. Returns the frames kept. */
static int wf_backtrace_from(void **frames, void *site)
{
    int n = backtrace(frames, WF_CHECKS_FRAMES);
    int from = 0;
    while (from < n && frames[from] != site)
        from++;
    if (from == n)
        from = 0; /* not found (a tail call): keep everything */
    memmove(frames, frames + from, (size_t)(n - from) * sizeof *frames);
    return n - from;
}

static void wf_report_here(void *site)
{
    void *frames[WF_CHECKS_FRAMES];
    wf_report_frames(frames, wf_backtrace_from(frames, site));
}

static void wf_report_end(void)
{
    fputs("\n", stderr);
    fflush(stderr);
    const char *a = getenv("WEFT_CHECKS_ABORT");
    if (a && strcmp(a, "1") == 0)
        abort();
}

/* ---- validating an acquire ---------------------------------------------------- */

/* A growable array of nodes (the searches' stacks and visited sets). */
typedef struct wf_nodes_buf {
    wf_node **at;
    size_t n, cap;
} wf_nodes_buf;

static void wf_buf_push(wf_nodes_buf *b, wf_node *n)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 64;
        b->at = wf_checks_alloc(b->at, b->cap * sizeof *b->at);
    }
    b->at[b->n++] = n;
}

/* Under wf_graph_lock, the two searches of Pearce and Kelly's dynamic
 * topological order ("A dynamic topological sort algorithm for directed acyclic
 * graphs", 2006), as Abseil's GraphCycles keeps it: every node has a rank `ord`,
 * and every (not inverted) edge goes from a lower rank to a higher one. A new edge
 * from -> to with from's rank below to's needs no search at all (the common case
 * once a program's order has been seen); otherwise the nodes between the two
 * ranks are searched and re-ranked, and a cycle exists iff `to` reaches `from`. */
static wf_nodes_buf wf_stack, wf_fwd, wf_back;

/* Forward from `from` over nodes ranked at most `ub`: true if `target` is reached
 * (the path is in the nodes' prev/via links); the nodes visited are in wf_fwd. */
static bool wf_search_forward(wf_node *from, wf_node *target, uint64_t ub)
{
    uint64_t mark = ++wf_search_mark;
    wf_stack.n = wf_fwd.n = 0;
    from->mark = mark;
    from->prev = NULL;
    wf_buf_push(&wf_stack, from);
    while (wf_stack.n > 0) {
        wf_node *at = wf_stack.at[--wf_stack.n];
        wf_buf_push(&wf_fwd, at);
        if (at == target)
            return true;
        for (size_t i = 0; i < at->n_edges; i++) {
            wf_edge *e = &at->edges[i];
            if (e->inverted || e->to->mark == mark || e->to->ord > ub)
                continue;
            e->to->mark = mark;
            e->to->prev = at;
            e->to->via = e;
            wf_buf_push(&wf_stack, e->to);
        }
    }
    return false;
}

/* Backward from `from` over in-edges, nodes ranked at least `lb`, into wf_back. */
static void wf_search_backward(wf_node *from, uint64_t lb)
{
    uint64_t mark = ++wf_search_mark;
    wf_stack.n = wf_back.n = 0;
    from->mark = mark;
    wf_buf_push(&wf_stack, from);
    while (wf_stack.n > 0) {
        wf_node *at = wf_stack.at[--wf_stack.n];
        wf_buf_push(&wf_back, at);
        for (size_t i = 0; i < at->n_preds; i++) {
            wf_node *p = at->preds[i];
            if (p->mark == mark || p->ord < lb)
                continue;
            p->mark = mark;
            wf_buf_push(&wf_stack, p);
        }
    }
}

static int wf_by_ord(const void *a, const void *b)
{
    uint64_t x = (*(wf_node *const *)a)->ord, y = (*(wf_node *const *)b)->ord;
    return x < y ? -1 : x > y;
}

/* After both searches of a new edge that closes no cycle: the nodes that reach
 * `from` (wf_back) take the lowest of the ranks involved, in their old order, and
 * the nodes `to` reaches (wf_fwd) the rest, so the new edge goes upwards. */
static void wf_reorder(void)
{
    qsort(wf_back.at, wf_back.n, sizeof *wf_back.at, wf_by_ord);
    qsort(wf_fwd.at, wf_fwd.n, sizeof *wf_fwd.at, wf_by_ord);
    size_t n = wf_back.n + wf_fwd.n;
    uint64_t *ords = wf_checks_alloc(NULL, n * sizeof *ords);
    size_t i = 0, j = 0, k = 0;
    while (i < wf_back.n || j < wf_fwd.n) {
        if (j == wf_fwd.n || (i < wf_back.n && wf_back.at[i]->ord < wf_fwd.at[j]->ord))
            ords[k++] = wf_back.at[i++]->ord;
        else
            ords[k++] = wf_fwd.at[j++]->ord;
    }
    for (i = 0; i < wf_back.n; i++)
        wf_back.at[i]->ord = ords[i];
    for (j = 0; j < wf_fwd.n; j++)
        wf_fwd.at[j]->ord = ords[wf_back.n + j];
    free(ords);
}

/* Whether the new edge from -> to closes a cycle; if not, the ranks are updated
 * for it. A cycle leaves the path to -> ... -> from in the prev/via links. */
static bool wf_closes_cycle(wf_node *from, wf_node *to)
{
    if (from->ord < to->ord)
        return false;
    if (wf_search_forward(to, from, from->ord))
        return true;
    wf_search_backward(from, to->ord);
    wf_reorder();
    return false;
}

static wf_edge *wf_edge_add(wf_node *from, wf_node *to, void *const *frames, int nframes)
{
    if (from->n_edges == from->cap_edges) {
        from->cap_edges = from->cap_edges ? 2 * from->cap_edges : 4;
        from->edges = wf_checks_alloc(from->edges, from->cap_edges * sizeof *from->edges);
    }
    wf_edge *e = &from->edges[from->n_edges++];
    e->to = to;
    e->inverted = false;
    e->nframes = nframes;
    memcpy(e->frames, frames, (size_t)nframes * sizeof *frames);
    return e;
}

static void wf_report_cycle(wf_node *held, wf_node *taken, const wf_edge *closing)
{
    fputs("weft checks: lock-order inversion (a potential deadlock)\n  ", stderr);
    wf_report_lock("acquiring", taken->obj);
    wf_report_lock(" while holding", held->obj);
    fputs(", at:\n", stderr);
    wf_report_frames(closing->frames, closing->nframes);
    fputs("  but the opposite order was established earlier:\n", stderr);
    /* The path taken -> ... -> held, from the search's prev/via links (reversed). */
    size_t len = 0;
    for (wf_node *at = held; at != taken; at = at->prev)
        len++;
    for (size_t k = len; k > 0; k--) {
        wf_node *at = held;
        for (size_t j = 1; j < k; j++)
            at = at->prev;
        fputs("  ", stderr);
        wf_report_lock("acquired", at->obj);
        wf_report_lock(" while holding", at->prev->obj);
        fputs(", first at:\n", stderr);
        wf_report_frames(at->via->frames, at->via->nframes);
    }
    wf_report_end();
}

/* The slow half of an acquire of `obj` that is not in the validated cache: adds
 * the edges held -> obj the graph lacks, each checked for a cycle first. */
static void wf_validate(const void *obj, void *site)
{
    void *frames[WF_CHECKS_FRAMES];
    int nframes = -1; /* taken on the first new edge */
    weft_lock_acquire(&wf_graph_lock);
    wf_node *to = wf_node_of(obj);
    for (size_t i = 0; i < wf_me.n; i++) {
        const void *h = wf_me.held[i].obj;
        if (h == obj)
            continue;
        wf_node *from = wf_node_of(h);
        bool known = false;
        for (size_t k = 0; k < from->n_edges && !known; k++)
            known = from->edges[k].to == to;
        if (known)
            continue;
        if (nframes < 0)
            nframes = wf_backtrace_from(frames, site);
        bool cycle = wf_closes_cycle(from, to);
        wf_edge *e = wf_edge_add(from, to, frames, nframes);
        if (cycle) {
            e->inverted = true;
            wf_report_cycle(from, to, e);
        } else {
            if (to->n_preds == to->cap_preds) {
                to->cap_preds = to->cap_preds ? 2 * to->cap_preds : 4;
                to->preds = wf_checks_alloc(to->preds, to->cap_preds * sizeof *to->preds);
            }
            to->preds[to->n_preds++] = from;
        }
    }
    weft_lock_release(&wf_graph_lock);
}

/* A snapshot of an rwlock's word (its state table is in weft/rwlock.h): held for
 * writing. relaxed: a hint for the checker's bookkeeping. (Read holds are counted
 * by wf_rwlock_read_holds, which looks at the table too.) */
static bool wf_rw_write_held(const weft_rwlock *rw)
{
    uint32_t s = atomic_load_explicit(&rw->state, memory_order_relaxed);
    return (s & (WEFT_RWLOCK_WRITER | WEFT_RWLOCK_HELD)) == (WEFT_RWLOCK_WRITER | WEFT_RWLOCK_HELD);
}


/* Whether a stack entry still stands for a hold (see the top). */
static bool wf_live(const wf_held *e)
{
    switch (e->kind) {
    case WF_HELD_LOCK:
        return weft_lock_locked(e->obj);
    case WF_HELD_READ:
        return wf_rwlock_read_holds(e->obj) > 0;
    case WF_HELD_WRITE:
        return wf_rw_write_held(e->obj);
    default:
        return true; /* an rlock's entry is its owner's: never stale */
    }
}

/* Drops the entries of locks another thread released (see the top). */
static void wf_prune_stale(void)
{
    size_t k = 0;
    uint64_t chain = 0;
    for (size_t i = 0; i < wf_me.n; i++) {
        wf_held e = wf_me.held[i];
        if (!wf_live(&e))
            continue;
        chain = wf_mix(chain, e.obj);
        e.chain = chain;
        wf_me.held[k++] = e;
    }
    wf_me.n = k;
}

static void wf_checks_thread_exit(void);

static wf_held *wf_find(const void *obj)
{
    for (size_t i = wf_me.n; i > 0; i--)
        if (wf_me.held[i - 1].obj == obj)
            return &wf_me.held[i - 1];
    return NULL;
}

static void wf_push(const void *obj, wf_held_kind kind, uint32_t depth, void *site)
{
    if (!wf_me.armed) {
        wf_exit_register(WF_EXIT_CHECKS, wf_checks_thread_exit);
        wf_exit_arm();
        wf_me.armed = true;
    }
    if (wf_me.n == wf_me.cap) {
        wf_me.cap = wf_me.cap ? 2 * wf_me.cap : 16;
        wf_me.held = wf_checks_alloc(wf_me.held, wf_me.cap * sizeof *wf_me.held);
    }
    uint64_t prev = wf_me.n ? wf_me.held[wf_me.n - 1].chain : 0;
    wf_me.held[wf_me.n++] = (wf_held){
        .obj = obj, .site = site, .chain = wf_mix(prev, obj), .depth = depth, .kind = (uint8_t)kind};
}

static void wf_pop(wf_held *e)
{
    size_t i = (size_t)(e - wf_me.held);
    memmove(e, e + 1, (wf_me.n - i - 1) * sizeof *e);
    wf_me.n--;
    uint64_t chain = i ? wf_me.held[i - 1].chain : 0;
    for (; i < wf_me.n; i++)
        wf_me.held[i].chain = chain = wf_mix(chain, wf_me.held[i].obj);
}

/* Reports once per lock. Under no lock; takes the graph's. */
static bool wf_first_report(const void *obj)
{
    weft_lock_acquire(&wf_graph_lock);
    wf_node *n = wf_node_of(obj);
    bool first = !n->reported;
    n->reported = true;
    weft_lock_release(&wf_graph_lock);
    return first;
}

/* Before a blocking acquire of obj: order against what is held. */
static void wf_checks_acquire(const void *obj, void *site)
{
    if (wf_me.n == 0)
        return;
    uint64_t key = wf_mix(wf_me.held[wf_me.n - 1].chain, obj);
    if (!wf_me.cache && !(wf_me.cache = calloc(WF_CHECKS_CACHE, sizeof *wf_me.cache)))
        wf_checks_oom();
    uint64_t *slot = &wf_me.cache[key & (WF_CHECKS_CACHE - 1)];
    if (*slot == key)
        return;
    wf_prune_stale();
    wf_validate(obj, site);
    /* Cached under the pruned chain's key (the one the next acquire computes). */
    key = wf_me.n ? wf_mix(wf_me.held[wf_me.n - 1].chain, obj) : key;
    wf_me.cache[key & (WF_CHECKS_CACHE - 1)] = key;
}

static void wf_self_deadlock(const void *obj, const wf_held *e, void *site)
{
    if (!wf_first_report(obj))
        return;
    fputs("weft checks: self-deadlock: ", stderr);
    wf_report_lock("re-acquiring", obj);
    fputs(", which this thread already holds, at:\n", stderr);
    wf_report_here(site);
    fputs("  it was acquired at:\n", stderr);
    wf_report_frames(&e->site, 1);
    wf_report_end();
}

/* ---- the checked entry points ------------------------------------------------- */

/* The contention profile's sites are the user's calls, not ours. */
static int wf_profiled_lock(weft_lock *l, weft_deadline d, void *site)
{
    if (WF_LIKELY(!wf_profile_on()))
        return weft_lock_acquire_until(l, d);
    void *outer = wf_profile_enter(site);
    int rc = weft_lock_acquire_until(l, d);
    wf_profile_leave(outer);
    return rc;
}

static int wf_checked_lock(weft_lock *l, weft_deadline d, void *site)
{
    if (!l)
        return weft_lock_acquire_until(l, d);
    wf_held *e = wf_find(l);
    if (e && weft_lock_locked(l))
        wf_self_deadlock(l, e, site);
    wf_checks_acquire(l, site);
    int rc = wf_profiled_lock(l, d, site);
    if (rc == 0)
        wf_push(l, WF_HELD_LOCK, 1, site);
    return rc;
}

int weft__checked_lock_acquire(weft_lock *l)
{
    return wf_checked_lock(l, WEFT_DEADLINE_NEVER, __builtin_return_address(0));
}

int weft__checked_lock_acquire_until(weft_lock *l, weft_deadline d)
{
    return wf_checked_lock(l, d, __builtin_return_address(0));
}

int weft__checked_lock_acquire_for(weft_lock *l, int64_t timeout_ns)
{
    if (timeout_ns == 0) {
        if (!l)
            return EINVAL;
        return weft__checked_lock_try_acquire(l) ? 0 : ETIMEDOUT;
    }
    return wf_checked_lock(l, weft_deadline_in(timeout_ns), __builtin_return_address(0));
}

/* A try never blocks, so it cannot deadlock: no order check, but what it takes
 * counts as held for the acquires that follow. */
bool weft__checked_lock_try_acquire(weft_lock *l)
{
    if (!weft_lock_try_acquire(l))
        return false;
    wf_push(l, WF_HELD_LOCK, 1, __builtin_return_address(0));
    return true;
}

int weft__checked_lock_release(weft_lock *l)
{
    void *outer = wf_profile_on() ? wf_profile_enter(__builtin_return_address(0)) : NULL;
    int rc = weft_lock_release(l);
    if (wf_profile_on())
        wf_profile_leave(outer);
    if (rc == 0) {
        wf_held *e = wf_find(l);
        if (e)
            wf_pop(e); /* else another thread took it: not owned, not an error */
    }
    return rc;
}

static int wf_checked_rlock(weft_rlock *r, weft_deadline d, bool block, void *site)
{
    if (!r)
        return block ? weft_rlock_acquire_until(r, d) : EINVAL;
    wf_held *e = wf_find(r);
    if (e) { /* re-entry: no new order */
        int rc = block ? weft_rlock_acquire_until(r, d) : (weft_rlock_try_acquire(r) ? 0 : EBUSY);
        if (rc == 0)
            e->depth++;
        return rc;
    }
    if (block)
        wf_checks_acquire(r, site);
    int rc = block ? weft_rlock_acquire_until(r, d) : (weft_rlock_try_acquire(r) ? 0 : EBUSY);
    if (rc == 0)
        wf_push(r, WF_HELD_RLOCK, 1, site);
    return rc;
}

int weft__checked_rlock_acquire(weft_rlock *r)
{
    return wf_checked_rlock(r, WEFT_DEADLINE_NEVER, true, __builtin_return_address(0));
}

int weft__checked_rlock_acquire_until(weft_rlock *r, weft_deadline d)
{
    return wf_checked_rlock(r, d, true, __builtin_return_address(0));
}

int weft__checked_rlock_acquire_for(weft_rlock *r, int64_t timeout_ns)
{
    if (timeout_ns == 0) {
        if (!r)
            return EINVAL;
        int rc = wf_checked_rlock(r, WEFT_DEADLINE_NEVER, false, __builtin_return_address(0));
        /* A zero timeout is a try, whose only failures are EAGAIN and busy. */
        return rc == EBUSY ? (weft_rlock_owned(r) ? EAGAIN : ETIMEDOUT) : rc;
    }
    return wf_checked_rlock(r, weft_deadline_in(timeout_ns), true, __builtin_return_address(0));
}

bool weft__checked_rlock_try_acquire(weft_rlock *r)
{
    return wf_checked_rlock(r, WEFT_DEADLINE_NEVER, false, __builtin_return_address(0)) == 0;
}

int weft__checked_rlock_release(weft_rlock *r)
{
    void *site = __builtin_return_address(0);
    int rc = weft_rlock_release(r);
    if (rc == EPERM && wf_first_report(r)) {
        fputs("weft checks: ", stderr);
        wf_report_lock("releasing rlock", r);
        fputs(", which this thread does not hold, at:\n", stderr);
        wf_report_here(site);
        wf_report_end();
    }
    if (rc == 0) {
        wf_held *e = wf_find(r);
        if (e && --e->depth == 0)
            wf_pop(e);
    }
    return rc;
}

/* What a taken side of rw counts as: a second read hold of a reader deepens its
 * entry (no new order), anything else is a new held entry. */
static void wf_rwlock_took(weft_rwlock *rw, bool write, void *site)
{
    wf_held *e = write ? NULL : wf_find(rw);
    if (e && e->kind == WF_HELD_READ)
        e->depth++;
    else
        wf_push(rw, write ? WF_HELD_WRITE : WF_HELD_READ, 1, site);
}

/* A blocking acquire of one side of rw: a holder of either side re-acquiring it
 * is a self-deadlock (see the top), reported before it blocks. */
static int wf_checked_rwlock(weft_rwlock *rw, bool write, weft_deadline d, void *site)
{
    if (rw) {
        wf_held *e = wf_find(rw);
        if (e && wf_live(e))
            wf_self_deadlock(rw, e, site);
        wf_checks_acquire(rw, site);
    }
    int rc = write ? weft_rwlock_write_acquire_until(rw, d) : weft_rwlock_read_acquire_until(rw, d);
    if (rc == 0)
        wf_rwlock_took(rw, write, site);
    return rc;
}

/* A try never blocks: no order check, but what it takes counts as held. */
static bool wf_checked_rwlock_try(weft_rwlock *rw, bool write, void *site)
{
    if (!(write ? weft_rwlock_write_try_acquire(rw) : weft_rwlock_read_try_acquire(rw)))
        return false;
    wf_rwlock_took(rw, write, site);
    return true;
}

int weft__checked_rwlock_read_acquire(weft_rwlock *rw)
{
    return wf_checked_rwlock(rw, false, WEFT_DEADLINE_NEVER, __builtin_return_address(0));
}

int weft__checked_rwlock_read_acquire_until(weft_rwlock *rw, weft_deadline d)
{
    return wf_checked_rwlock(rw, false, d, __builtin_return_address(0));
}

int weft__checked_rwlock_read_acquire_for(weft_rwlock *rw, int64_t timeout_ns)
{
    void *site = __builtin_return_address(0);
    if (timeout_ns == 0)
        return !rw ? EINVAL : wf_checked_rwlock_try(rw, false, site) ? 0 : ETIMEDOUT;
    return wf_checked_rwlock(rw, false, weft_deadline_in(timeout_ns), site);
}

bool weft__checked_rwlock_read_try_acquire(weft_rwlock *rw)
{
    return wf_checked_rwlock_try(rw, false, __builtin_return_address(0));
}

int weft__checked_rwlock_write_acquire(weft_rwlock *rw)
{
    return wf_checked_rwlock(rw, true, WEFT_DEADLINE_NEVER, __builtin_return_address(0));
}

int weft__checked_rwlock_write_acquire_until(weft_rwlock *rw, weft_deadline d)
{
    return wf_checked_rwlock(rw, true, d, __builtin_return_address(0));
}

int weft__checked_rwlock_write_acquire_for(weft_rwlock *rw, int64_t timeout_ns)
{
    void *site = __builtin_return_address(0);
    if (timeout_ns == 0)
        return !rw ? EINVAL : wf_checked_rwlock_try(rw, true, site) ? 0 : ETIMEDOUT;
    return wf_checked_rwlock(rw, true, weft_deadline_in(timeout_ns), site);
}

bool weft__checked_rwlock_write_try_acquire(weft_rwlock *rw)
{
    return wf_checked_rwlock_try(rw, true, __builtin_return_address(0));
}

/* A read release by a thread without a read hold of its own releases another
 * thread's: not owned, not an error. */
int weft__checked_rwlock_read_release(weft_rwlock *rw)
{
    int rc = weft_rwlock_read_release(rw);
    if (rc == 0) {
        wf_held *e = wf_find(rw);
        if (e && e->kind == WF_HELD_READ && --e->depth == 0)
            wf_pop(e);
    }
    return rc;
}

/* The write side's holder is known: `what` (a release or a downgrade) by a thread
 * that did not take the write hold is reported, once per lock, and goes on. */
static void wf_rw_not_writer(const weft_rwlock *rw, const char *what, int rc, void *site)
{
    if (!wf_first_report(rw))
        return;
    fprintf(stderr, "weft checks: %s the write hold of ", what);
    wf_report_lock("rwlock", rw);
    fputs(rc == EPERM ? ", which no thread holds, at:\n"
                      : ", which this thread does not hold (another thread took it), at:\n",
          stderr);
    wf_report_here(site);
    wf_report_end();
}

/* The caller's write entry of rw, if it has one (stale or not). */
static wf_held *wf_rw_writer_entry(const weft_rwlock *rw)
{
    wf_held *e = rw ? wf_find(rw) : NULL;
    return e && e->kind == WF_HELD_WRITE ? e : NULL;
}

int weft__checked_rwlock_write_release(weft_rwlock *rw)
{
    void *site = __builtin_return_address(0);
    wf_held *e = wf_rw_writer_entry(rw);
    int rc = weft_rwlock_write_release(rw);
    if (rc != EINVAL && !e)
        wf_rw_not_writer(rw, "releasing", rc, site);
    if (rc == 0 && e)
        wf_pop(e);
    return rc;
}

int weft__checked_rwlock_downgrade(weft_rwlock *rw)
{
    void *site = __builtin_return_address(0);
    wf_held *e = wf_rw_writer_entry(rw);
    int rc = weft_rwlock_downgrade(rw);
    if (rc != EINVAL && !e)
        wf_rw_not_writer(rw, "downgrading", rc, site);
    if (rc == 0) {
        if (e) { /* the same place in the order, now a read hold */
            e->kind = WF_HELD_READ;
            e->depth = 1;
        } else {
            wf_push(rw, WF_HELD_READ, 1, site); /* the read hold is the caller's */
        }
    }
    return rc;
}

/* An upgrade never blocks: no order check; the read hold becomes the write hold. */
bool weft__checked_rwlock_try_upgrade(weft_rwlock *rw)
{
    if (!weft_rwlock_try_upgrade(rw))
        return false;
    wf_held *e = wf_find(rw);
    if (e && e->kind == WF_HELD_READ) {
        e->kind = WF_HELD_WRITE;
        e->depth = 1;
    } else {
        wf_push(rw, WF_HELD_WRITE, 1, __builtin_return_address(0));
    }
    return true;
}

/* ---- condition waits (src/cond.c) and thread exit ----------------------------- */

uint32_t wf_checks_cond_release(const void *obj)
{
    wf_held *e = wf_find(obj);
    if (!e)
        return 0;
    uint32_t depth = e->depth;
    wf_pop(e);
    return depth;
}

void wf_checks_cond_reacquire(const void *obj, bool rlock, uint32_t depth)
{
    if (depth == 0)
        return; /* it was not on our stack (a weft_lock taken by another thread) */
    void *site = __builtin_return_address(0);
    wf_checks_acquire(obj, site);
    wf_push(obj, rlock ? WF_HELD_RLOCK : WF_HELD_LOCK, depth, site);
}

static void wf_checks_thread_exit(void)
{
    wf_prune_stale();
    for (size_t i = 0; i < wf_me.n; i++) {
        if (!wf_first_report(wf_me.held[i].obj))
            continue;
        fputs("weft checks: a thread exits ", stderr);
        wf_report_lock("holding", wf_me.held[i].obj);
        fputs(", acquired at:\n", stderr);
        wf_report_frames(&wf_me.held[i].site, 1);
        wf_report_end();
    }
    free(wf_me.held);
    free(wf_me.cache);
    wf_me = (wf_checks_thread){0};
}
