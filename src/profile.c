/* The contention profile (include/weft/profile.h).
 *
 * Hooks (src/profile_internal.h): wf_sleep and wf_sleep_any hand their sleeps
 * here while wf_profiling is set; one in `rate` of them (a per-thread countdown) is
 * timed and recorded. The site is the one a slow path's public entry named in this
 * thread's wf_site, else the family function that called wf_sleep. Blame: a
 * lock's slow release (the one that wakes a sleeper) stores its return address in
 * a fixed table indexed by the lock word's address; the woken sleeper reads it
 * back. The table is lossy by design (two locks hashing to one slot overwrite each
 * other; a torn pair of loads blames the wrong holder at worst), which a sampled
 * profile tolerates and a fast release needs.
 *
 * Records: one per waiting site in an address map (src/addrmap.h) under wf_profile_mutex,
 * a pthread mutex: a weft lock would sleep through wf_sleep and could come back
 * here. A thread inside the profile (recording, writing) has wf_inside set, and its
 * own sleeps are never sampled. */
#include "profile_internal.h"

#include "addrmap.h"
#include "waiting.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum {
    WF_PROFILE_BLAME_SLOTS = 4096, /* the release side table (a power of two) */
    WF_PROFILE_BLAMED = 8,         /* distinct holders kept per site */
    WF_PROFILE_SAMPLES = 65536,    /* waits kept per site for the median */
    WF_PROFILE_TOP_BLAMED = 3,     /* holders the report lists per site */
};

_Atomic bool wf_profiling;
static _Atomic unsigned wf_profile_rate = WEFT_PROFILE_DEFAULT_RATE;

static _Thread_local void *wf_site;
static _Thread_local unsigned wf_countdown;
static _Thread_local bool wf_inside;

/* relaxed throughout: a hint for a sampled report; a torn or stale pair blames
 * the wrong holder of one sample at worst. */
static _Atomic(uintptr_t) wf_blame_word[WF_PROFILE_BLAME_SLOTS];
static _Atomic(uintptr_t) wf_blame_site[WF_PROFILE_BLAME_SLOTS];

typedef struct wf_blamed {
    void *site; /* NULL: a release that left no blame (not a lock, or lost) */
    uint64_t count, total_ns;
} wf_blamed;

typedef struct wf_site_record {
    void *site;
    const void *object; /* the last object waited on here, for its name */
    uint64_t count, total_ns, worst_ns;
    uint64_t *samples; /* up to WF_PROFILE_SAMPLES waits (a reservoir beyond) */
    size_t n_samples, cap_samples;
    wf_blamed blamed[WF_PROFILE_BLAMED]; /* the first distinct holders */
    wf_blamed other;                     /* all the others together */
} wf_site_record;

static pthread_mutex_t wf_profile_mutex = PTHREAD_MUTEX_INITIALIZER;
static wf_addrmap wf_sites = WF_ADDRMAP_INIT; /* site -> its record; under wf_profile_mutex */
static uint64_t wf_reservoir = UINT64_C(0x2545F4914F6CDD1D); /* xorshift state */

/* A slot of a table of `cap` (a power of two) slots. */
static size_t wf_hash(const void *p, size_t cap)
{
    return wf_hash_address(p, (unsigned)__builtin_ctzll(cap));
}

/* ---- hooks ----------------------------------------------------------------------- */

void *wf_profile_enter(void *site)
{
    void *outer = wf_site;
    if (!outer)
        wf_site = site;
    return outer;
}

void wf_profile_leave(void *outer)
{
    wf_site = outer;
}

void wf_profile_release(const void *word, void *site)
{
    if (wf_site)
        site = wf_site; /* an outer entry (a checked release) named the site */
    size_t i = wf_hash(word, WF_PROFILE_BLAME_SLOTS);
    atomic_store_explicit(&wf_blame_site[i], (uintptr_t)site, memory_order_relaxed);
    atomic_store_explicit(&wf_blame_word[i], (uintptr_t)word, memory_order_relaxed);
}

/* Under wf_profile_mutex. */
static wf_site_record *wf_record_of(void *site)
{
    void **slot = wf_addrmap_find(&wf_sites, site);
    if (slot)
        return *slot;
    wf_site_record *r = calloc(1, sizeof *r);
    if (!r || !(slot = wf_addrmap_insert(&wf_sites, site))) {
        free(r);
        return NULL;
    }
    r->site = site;
    *slot = r;
    return r;
}

static void wf_record(void *site, const void *object, void *holder, uint64_t ns)
{
    pthread_mutex_lock(&wf_profile_mutex);
    wf_site_record *r = wf_record_of(site);
    if (!r)
        goto out; /* out of memory: the sample is dropped */
    r->object = object;
    r->count++;
    r->total_ns += ns;
    if (ns > r->worst_ns)
        r->worst_ns = ns;
    if (r->n_samples < WF_PROFILE_SAMPLES) {
        if (r->n_samples == r->cap_samples) {
            size_t cap = r->cap_samples ? 2 * r->cap_samples : 64;
            uint64_t *s = realloc(r->samples, cap * sizeof *s);
            if (s) {
                r->samples = s;
                r->cap_samples = cap;
            }
        }
        if (r->n_samples < r->cap_samples)
            r->samples[r->n_samples++] = ns;
    } else {
        /* Reservoir sampling (Vitter's algorithm R): each wait stays with
         * probability WF_PROFILE_SAMPLES / count. */
        wf_reservoir ^= wf_reservoir << 13;
        wf_reservoir ^= wf_reservoir >> 7;
        wf_reservoir ^= wf_reservoir << 17;
        uint64_t j = wf_reservoir % r->count;
        if (j < WF_PROFILE_SAMPLES)
            r->samples[j] = ns;
    }
    wf_blamed *b = &r->other;
    for (int i = 0; i < WF_PROFILE_BLAMED; i++) {
        if (r->blamed[i].site == holder && (holder || r->blamed[i].count)) {
            b = &r->blamed[i];
            break;
        }
        if (r->blamed[i].count == 0) {
            r->blamed[i].site = holder;
            b = &r->blamed[i];
            break;
        }
    }
    b->count++;
    b->total_ns += ns;
out:
    pthread_mutex_unlock(&wf_profile_mutex);
}

/* The plain sleep: one word as wf_sleep sleeps (a token-free wait stays one wf_wait),
 * several as wf_sleep_any. */
static int wf_profile_plain(const _Atomic uint32_t *const *words, const uint32_t *expected, int n,
                            weft_deadline d)
{
    return n == 1 ? wf_sleep_plain(words[0], expected[0], d)
                  : wf_sleep_any_plain(words, expected, n, d);
}

/* The holder a woken sleeper blames: the last slow release of any word it slept on. */
static void *wf_blamed_holder(const _Atomic uint32_t *const *words, int n)
{
    for (int k = 0; k < n; k++) {
        size_t i = wf_hash(words[k], WF_PROFILE_BLAME_SLOTS);
        if (atomic_load_explicit(&wf_blame_word[i], memory_order_relaxed) == (uintptr_t)words[k])
            return (void *)atomic_load_explicit(&wf_blame_site[i], memory_order_relaxed);
    }
    return NULL;
}

int wf_profile_sleep(const _Atomic uint32_t *const *words, const uint32_t *expected, int n,
                     weft_deadline d, void *fallback)
{
    if (wf_inside || n < 1)
        return wf_profile_plain(words, expected, n, d);
    if (wf_countdown > 1) {
        wf_countdown--;
        return wf_profile_plain(words, expected, n, d);
    }
    /* relaxed: a setting; the next sample picks up a change. */
    wf_countdown = atomic_load_explicit(&wf_profile_rate, memory_order_relaxed);
    void *site = wf_site ? wf_site : fallback;
    int64_t start = weft_now_ns();
    int r = wf_profile_plain(words, expected, n, d);
    int64_t waited = weft_now_ns() - start;
    void *holder = wf_blamed_holder(words, n);
    wf_inside = true;
    /* The object named in the report: the first word (a family's own, before the
     * token's; a wait-for-any's first source). */
    wf_record(site, words[0], holder, waited > 0 ? (uint64_t)waited : 0);
    wf_inside = false;
    return r;
}

/* ---- the public switch ------------------------------------------------------------ */

int weft_profile_start(unsigned rate)
{
    /* relaxed: settings; each thread's countdown picks the rate up at its next
     * sample. */
    atomic_store_explicit(&wf_profile_rate, rate ? rate : WEFT_PROFILE_DEFAULT_RATE,
                          memory_order_relaxed);
    atomic_store_explicit(&wf_profiling, true, memory_order_relaxed);
    return 0;
}

int weft_profile_stop(void)
{
    atomic_store_explicit(&wf_profiling, false, memory_order_relaxed);
    return 0;
}

/* ---- the report ------------------------------------------------------------------- */

/* `site` as "function+0xoff (object)", or its address; for the collapsed form no
 * space or ';' (they separate frames and the value there). */
static void wf_symbol(void *site, char *buf, size_t n, bool folded)
{
    Dl_info info;
    if (!site) {
        snprintf(buf, n, "unknown");
        return;
    }
    if (dladdr(site, &info) && info.dli_sname) {
        if (folded)
            snprintf(buf, n, "%s+0x%zx", info.dli_sname,
                     (size_t)((char *)site - (char *)info.dli_saddr));
        else
            snprintf(buf, n, "%s+0x%zx (%s)", info.dli_sname,
                     (size_t)((char *)site - (char *)info.dli_saddr),
                     info.dli_fname ? info.dli_fname : "?");
    } else if (dladdr(site, &info) && info.dli_fname) {
        snprintf(buf, n, "%s+0x%zx", info.dli_fname,
                 (size_t)((char *)site - (char *)info.dli_fbase));
    } else {
        snprintf(buf, n, "%p", site);
    }
    if (folded)
        for (char *c = buf; *c; c++)
            if (*c == ' ' || *c == ';')
                *c = '_';
}

static int wf_by_total(const void *a, const void *b)
{
    const wf_site_record *x = *(const wf_site_record *const *)a;
    const wf_site_record *y = *(const wf_site_record *const *)b;
    return x->total_ns < y->total_ns ? 1 : x->total_ns > y->total_ns ? -1 : 0;
}

static int wf_u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int wf_blamed_by_total(const void *a, const void *b)
{
    const wf_blamed *x = a, *y = b;
    return x->total_ns < y->total_ns ? 1 : x->total_ns > y->total_ns ? -1 : 0;
}

static uint64_t wf_median(const wf_site_record *r)
{
    if (r->n_samples == 0)
        return 0;
    uint64_t *s = malloc(r->n_samples * sizeof *s);
    if (!s)
        return 0;
    memcpy(s, r->samples, r->n_samples * sizeof *s);
    qsort(s, r->n_samples, sizeof *s, wf_u64_cmp);
    uint64_t m = s[r->n_samples / 2];
    free(s);
    return m;
}

static void wf_write_report(FILE *f, wf_site_record **order, size_t n)
{
    char sym[512];
    uint64_t total = 0, count = 0;
    for (size_t i = 0; i < n; i++) {
        total += order[i]->total_ns;
        count += order[i]->count;
    }
    /* relaxed: a setting, printed. */
    fprintf(f, "weft contention profile: %llu sampled waits (1 in %u contended), %.3f ms waited\n",
            (unsigned long long)count, atomic_load_explicit(&wf_profile_rate, memory_order_relaxed),
            (double)total / 1e6);
    fprintf(f, "%12s %10s %12s %12s  %s\n", "total_ms", "count", "median_us", "worst_us", "site");
    for (size_t i = 0; i < n; i++) {
        const wf_site_record *r = order[i];
        wf_symbol(r->site, sym, sizeof sym, false);
        fprintf(f, "%12.3f %10llu %12.3f %12.3f  %s", (double)r->total_ns / 1e6,
                (unsigned long long)r->count, (double)wf_median(r) / 1e3,
                (double)r->worst_ns / 1e3, sym);
        const char *name = weft_name_get(r->object);
        if (name)
            fprintf(f, " on \"%s\" (%p)", name, r->object);
        else
            fprintf(f, " on %p", r->object);
        fputc('\n', f);
        wf_blamed b[WF_PROFILE_BLAMED + 1];
        memcpy(b, r->blamed, sizeof r->blamed);
        b[WF_PROFILE_BLAMED] = r->other;
        qsort(b, WF_PROFILE_BLAMED + 1, sizeof *b, wf_blamed_by_total);
        for (int k = 0; k < WF_PROFILE_TOP_BLAMED && b[k].count; k++) {
            if (b[k].site)
                wf_symbol(b[k].site, sym, sizeof sym, false);
            else
                snprintf(sym, sizeof sym, "%s", "unknown holder");
            fprintf(f, "%12s %10llu %11.1f%%   held by %s\n", "",
                    (unsigned long long)b[k].count,
                    r->total_ns ? 100.0 * (double)b[k].total_ns / (double)r->total_ns : 0.0, sym);
        }
    }
}

static void wf_write_folded(FILE *f, wf_site_record **order, size_t n)
{
    char waiter[512], holder[512];
    for (size_t i = 0; i < n; i++) {
        const wf_site_record *r = order[i];
        wf_symbol(r->site, waiter, sizeof waiter, true);
        for (int k = 0; k <= WF_PROFILE_BLAMED; k++) {
            const wf_blamed *b = k < WF_PROFILE_BLAMED ? &r->blamed[k] : &r->other;
            if (!b->count)
                continue;
            wf_symbol(b->site, holder, sizeof holder, true);
            fprintf(f, "%s;held_by_%s %llu\n", waiter, holder, (unsigned long long)b->total_ns);
        }
    }
}

int weft_profile_write_file(FILE *report, FILE *folded)
{
    bool was_inside = wf_inside;
    wf_inside = true;
    pthread_mutex_lock(&wf_profile_mutex);
    wf_site_record **order = malloc((wf_sites.n ? wf_sites.n : 1) * sizeof *order);
    int rc = 0;
    if (!order) {
        rc = ENOMEM;
    } else {
        size_t n = 0;
        WF_ADDRMAP_FOREACH(slot, &wf_sites)
            order[n++] = slot->value;
        qsort(order, n, sizeof *order, wf_by_total);
        if (report) {
            wf_write_report(report, order, n);
            if (fflush(report) != 0 || ferror(report))
                rc = EIO;
        }
        if (folded) {
            wf_write_folded(folded, order, n);
            if (fflush(folded) != 0 || ferror(folded))
                rc = EIO;
        }
        free(order);
    }
    pthread_mutex_unlock(&wf_profile_mutex);
    wf_inside = was_inside;
    return rc;
}

int weft_profile_write(const char *path)
{
    if (!path)
        return EINVAL;
    size_t n = strlen(path);
    char *folded_path = malloc(n + sizeof ".folded");
    if (!folded_path)
        return ENOMEM;
    memcpy(folded_path, path, n);
    memcpy(folded_path + n, ".folded", sizeof ".folded");
    int rc = 0;
    errno = 0;
    FILE *report = fopen(path, "w");
    FILE *folded = report ? fopen(folded_path, "w") : NULL;
    if (!report || !folded)
        rc = errno ? errno : EIO;
    else
        rc = weft_profile_write_file(report, folded);
    if (report && fclose(report) != 0 && rc == 0)
        rc = errno;
    if (folded && fclose(folded) != 0 && rc == 0)
        rc = errno;
    free(folded_path);
    return rc;
}

/* ---- WEFT_PROFILE: on from the start, written at exit ----------------------------- */

static char *wf_profile_path;

static void wf_profile_at_exit(void)
{
    int rc = weft_profile_write(wf_profile_path);
    if (rc != 0)
        fprintf(stderr, "weft: cannot write the contention profile to %s: %s\n", wf_profile_path,
                strerror(rc));
}

__attribute__((constructor)) static void wf_profile_from_environment(void)
{
    const char *path = getenv("WEFT_PROFILE");
    if (!path || !*path)
        return;
    wf_profile_path = strdup(path);
    if (!wf_profile_path)
        return;
    const char *rate = getenv("WEFT_PROFILE_RATE");
    long r = rate ? strtol(rate, NULL, 10) : 0;
    atexit(wf_profile_at_exit);
    weft_profile_start(r > 0 && r <= (long)UINT32_MAX ? (unsigned)r : 0);
}
