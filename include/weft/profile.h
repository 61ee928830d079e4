/* weft/profile.h: the contention profile: where threads wait for each other, for
 * how long, and who made them wait.
 *
 * Off until switched on, by WEFT_PROFILE=path in the environment (read once when
 * the library loads; the report is written to path, and its collapsed stacks to
 * path.folded, at exit; WEFT_PROFILE_RATE=n sets the rate) or by
 * weft_profile_start. Off, it costs nothing on the fast paths and one predictable
 * branch on the slow paths. On, one in `rate` contended waits (a thread going to
 * sleep in any weft primitive) is sampled: its site (the return address of the
 * weft call that waited: weft_lock_acquire, weft_rlock_acquire...; for the other
 * families the weft function that slept), the time it slept, and, for locks, the
 * site of the release that last woke a sleeper of that lock (the holder that made
 * it wait). The report lists the sites by total sampled wait, most first, with
 * count, total, median and worst wait and the top blamed holders, names from
 * weft/name.h where the object has one; the collapsed-stack form
 * ("waiter;holder total_ns" lines) is what flamegraph.pl, speedscope and
 * inferno read. Sites are symbolised with dladdr(3): link a program with
 * -rdynamic to see its static functions' names rather than addresses.
 *
 * Medians come from at most 65536 samples per site (a uniform reservoir beyond
 * that); counts, totals and worst waits are exact over the samples.
 *
 * In the checking build (-Dchecks=true) the lock calls are the checker's
 * out-of-line functions, and a function whose last statement is a release calls
 * it as a tail call: that release is blamed on the function's caller.
 */
#ifndef WEFT_PROFILE_H
#define WEFT_PROFILE_H

#include "common.h"

#include <stdio.h>

WEFT_BEGIN_DECLS

/* The rate weft_profile_start(0) and WEFT_PROFILE use: 1 in 16 contended waits. */
#define WEFT_PROFILE_DEFAULT_RATE 16

/* Starts sampling 1 in `rate` contended waits (0: WEFT_PROFILE_DEFAULT_RATE; 1:
 * every one), keeping what was collected so far; changes the rate if already on.
 * Returns 0. Never blocks. */
WEFT_API int weft_profile_start(unsigned rate);

/* Stops sampling; what was collected stays for weft_profile_write. Returns 0.
 * Never blocks. */
WEFT_API int weft_profile_stop(void);

/* Writes the report of everything sampled so far to the file `path` (replaced)
 * and its collapsed stacks to `path`.folded. Returns 0, EINVAL if path is NULL,
 * or the errno of the failed open or write. Blocks on file I/O, and briefly on
 * the profile's own lock (waits sampled meanwhile wait for it). */
WEFT_API int weft_profile_write(const char *path);

/* The same to open streams: the report to `report` and the collapsed stacks to
 * `folded`; either may be NULL (not written). Returns 0, or EIO if a write
 * failed. */
WEFT_API int weft_profile_write_file(FILE *report, FILE *folded);

WEFT_END_DECLS

#endif
