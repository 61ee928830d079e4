/* rounds.c: the same-run comparison's report (bench/rounds.h). */
#include "rounds.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { WF_ROUNDS_MAX = 4096 };

double wf_rounds_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int wf_rounds_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The p-th fraction of sorted v[n] (nearest rank). */
static double wf_rounds_pct(const double *v, int n, double p)
{
    int i = (int)(p * (n - 1) + 0.5);
    return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

void wf_rounds_report(wf_bench_state *s, double *weft_ns, double *peer_ns, int r,
                      const char *peer)
{
    if (r <= 0)
        return;
    if (r > WF_ROUNDS_MAX)
        r = WF_ROUNDS_MAX;
    static double ratio[WF_ROUNDS_MAX];
    int slower = 0;
    for (int i = 0; i < r; i++) {
        ratio[i] = weft_ns[i] / peer_ns[i];
        slower += ratio[i] > 1.0;
    }
    qsort(ratio, (size_t)r, sizeof ratio[0], wf_rounds_cmp);
    qsort(weft_ns, (size_t)r, sizeof weft_ns[0], wf_rounds_cmp);
    qsort(peer_ns, (size_t)r, sizeof peer_ns[0], wf_rounds_cmp);
    char name[64];
    snprintf(name, sizeof name, "%s_ns", peer);
    wf_bench_counter(s, "weft_ns", wf_rounds_pct(weft_ns, r, 0.5));
    wf_bench_counter(s, name, wf_rounds_pct(peer_ns, r, 0.5));
    wf_bench_counter(s, "ratio_p10", wf_rounds_pct(ratio, r, 0.1));
    wf_bench_counter(s, "ratio_p50", wf_rounds_pct(ratio, r, 0.5));
    wf_bench_counter(s, "ratio_p90", wf_rounds_pct(ratio, r, 0.9));
    wf_bench_counter(s, "slower_frac", (double)slower / r);
    wf_bench_counter(s, "rounds", r);
}
