/* A lock-order inversion, found before it ever deadlocks. A "teller" thread moves
 * money: it takes the accounts lock, then the audit-log lock to record the move.
 * An "auditor" thread reads the log and then checks the balances: it takes the log
 * lock, then the accounts lock. Run at the same moment, each could hold its first
 * lock while waiting for the other's: a deadlock that waits for the right
 * interleaving. Here they run one after the other, so this program never hangs;
 * yet the two orders are both on record, and that is what a checker can see.
 *
 * To see the report, build weft with its lock-order checker and run this example:
 *
 *     meson setup build-checks -Dchecks=true && ninja -C build-checks
 *     build-checks/examples/example_lock_order
 *
 * On stderr the checker then reports, once, the acquire that closes the cycle
 * (the auditor taking "accounts" while it holds "audit log"), with the stacks of
 * both orders and the locks by the names given below with weft_name_set; the
 * program goes on and exits 0 (WEFT_CHECKS_ABORT=1 in the environment makes it
 * abort at the report instead). In the default build there is no checker: the
 * same program just runs. ThreadSanitizer, which sees weft's locks as mutexes,
 * reports the same inversion in a -Db_sanitize=thread build (its test run turns
 * TSan's deadlock detector off for this one program, see examples/meson.build). */
#include <stdio.h>

#include "weft.h"

static weft_lock accounts = WEFT_LOCK_INIT;
static weft_lock audit_log = WEFT_LOCK_INIT;
static long balance[2] = {100, 0}; /* guarded by accounts */
static int log_entries;           /* guarded by audit_log */

/* accounts, then audit log. Not static, so that -rdynamic (meson's export_dynamic,
 * as examples/meson.build links this one) lets the report name it. */
void *teller(void *arg)
{
    (void)arg;
    weft_lock_acquire(&accounts);
    balance[0] -= 30;
    balance[1] += 30;
    weft_lock_acquire(&audit_log);
    log_entries++;
    weft_lock_release(&audit_log);
    weft_lock_release(&accounts);
    printf("teller:  accounts -> audit log (moved 30)\n");
    return NULL;
}

/* audit log, then accounts: the other order */
void *auditor(void *arg)
{
    (void)arg;
    weft_lock_acquire(&audit_log);
    int entries = log_entries;
    weft_lock_acquire(&accounts);
    long total = balance[0] + balance[1];
    weft_lock_release(&accounts);
    weft_lock_release(&audit_log);
    printf("auditor: audit log -> accounts (%d entry, total %ld)\n", entries, total);
    return NULL;
}

/* Runs fn on a named weft thread and waits for it to finish. */
static int run(const char *name, void *(*fn)(void *))
{
    weft_thread th;
    weft_thread_opts opts = WEFT_THREAD_OPTS_INIT;
    opts.name = name;
    if (weft_thread_start(&th, fn, NULL, &opts) != 0)
        return 1;
    int r = weft_thread_join(th, WEFT_FOREVER, NULL);
    weft_thread_release(th);
    return r;
}

int main(void)
{
    /* The names the checker's report (and the contention profile) print. */
    if (weft_name_set(&accounts, "accounts") != 0 || weft_name_set(&audit_log, "audit log") != 0)
        return 1;
    /* One after the other: never at the same time, so never a deadlock. */
    if (run("teller", teller) != 0 || run("auditor", auditor) != 0)
        return 1;
#ifdef WEFT_CHECKS
    printf("checking build: the inversion is reported on stderr, with both orders\n");
#else
    printf("default build: no checker (configure with -Dchecks=true to see the inversion)\n");
#endif
    weft_name_set(&accounts, NULL);
    weft_name_set(&audit_log, NULL);
    return balance[0] + balance[1] == 100 && log_entries == 1 ? 0 : 1;
}
