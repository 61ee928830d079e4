/* rounds.h: a same-run comparison inside one benchmark. weft and a peer take turns
 * in rounds (which goes first alternates), so both meet the machine as it is at
 * that moment; the report is the distribution of the rounds' weft/peer ratios,
 * which bench/report.py shows beside the family's table. */
#ifndef WF_BENCH_ROUNDS_H
#define WF_BENCH_ROUNDS_H

#include "bench.h"

/* CLOCK_MONOTONIC in nanoseconds, for timing a round. */
double wf_rounds_now_ns(void);

/* From r rounds' times of weft and of the peer (each array sorted in place), sets
 * the counters weft_ns and <peer>_ns (the medians), ratio_p10, ratio_p50 and
 * ratio_p90 (percentiles of the per-round ratios), slower_frac (the fraction of
 * rounds in which weft was slower) and rounds. Nothing for r <= 0. */
void wf_rounds_report(wf_bench_state *s, double *weft_ns, double *peer_ns, int r,
                      const char *peer);

#endif
