// bench/shim.cc: the one C++ file of the benchmarks. It turns the wf_bench_def list
// that bench/*.c build at load time (WF_BENCH in bench.h) into Google Benchmark
// registrations, and gives the C bodies their wf_bench_state API. The run's options
// that the report needs (headline cases, targets, backend) go into the JSON context.
#include "bench.h"

#include <benchmark/benchmark.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

// A wf_bench_state is a benchmark::State: the C side only ever holds the pointer.
static benchmark::State &st(wf_bench_state *s) { return *reinterpret_cast<benchmark::State *>(s); }
static const benchmark::State &st(const wf_bench_state *s)
{
    return *reinterpret_cast<const benchmark::State *>(s);
}

static wf_bench_def *registered; // built by constructors, before main: no locking

extern "C" void wf_bench_register(wf_bench_def *def)
{
    def->next = registered;
    registered = def;
}

// ---- the run's clock --------------------------------------------------------------------
//
// A run's time is the wall time from the first of its threads starting its loop to the
// last one finishing, less pauses, divided by the iterations of all threads (reported
// to Google Benchmark as manual time). Google Benchmark's own real time averages the
// threads' wall times instead, which flatters an unfair lock: the thread that keeps the
// lock finishes early and the average forgets the others' wait.

enum { MAX_THREADS = 1024 };

struct thread_clock {
    double start, end, paused, pause_began;
};

static thread_local thread_clock clk;
static thread_local bool running; // this thread's loop has started and not yet ended
// Each thread's clock, published before the loop's end barrier, read after it.
static thread_clock run_clocks[MAX_THREADS];

static double now_seconds()
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void clock_start()
{
    clk = thread_clock{now_seconds(), 0, 0, 0};
    running = true;
}

// Before the end barrier: publish this thread's clock.
static void clock_stop(benchmark::State &state)
{
    clk.end = now_seconds();
    running = false;
    if (state.thread_index() < MAX_THREADS)
        run_clocks[state.thread_index()] = clk;
}

// After the end barrier: every thread of the run has published its clock.
static void clock_report(benchmark::State &state)
{
    int n = std::min(state.threads(), static_cast<int>(MAX_THREADS));
    double first = run_clocks[0].start, last = run_clocks[0].end, paused = 0;
    for (int i = 0; i < n; i++) {
        first = std::min(first, run_clocks[i].start);
        last = std::max(last, run_clocks[i].end);
        paused += run_clocks[i].paused;
    }
    state.SetIterationTime(std::max(0.0, last - first - paused / n));
}

extern "C" int64_t wf_bench_begin(wf_bench_state *s)
{
    benchmark::State &state = st(s);
    // One batch of all the iterations: starts the timer (after the start barrier) and
    // leaves nothing to count, so that the next KeepRunning() stops it.
    benchmark::IterationCount n = state.max_iterations;
    if (n <= 0 || !state.KeepRunningBatch(n))
        return 0; // skipped: Google Benchmark has already ended the loop
    clock_start();
    return static_cast<int64_t>(n);
}

extern "C" void wf_bench_end(wf_bench_state *s)
{
    if (!running)
        return;
    benchmark::State &state = st(s);
    clock_stop(state);
    bool more = state.KeepRunning(); // the batch is spent: stops the timer, end barrier
    (void)more;
    clock_report(state);
}

extern "C" bool wf_bench_keep_running(wf_bench_state *s)
{
    benchmark::State &state = st(s);
    // The call that will return false passes the end barrier inside KeepRunning: stop
    // our clock before it (all iterations done, or the run skipped).
    bool last = running && state.iterations() >= state.max_iterations;
    if (last)
        clock_stop(state);
    if (state.KeepRunning()) {
        if (!running)
            clock_start();
        return true;
    }
    if (last)
        clock_report(state);
    return false;
}

extern "C" int wf_bench_thread_index(const wf_bench_state *s) { return st(s).thread_index(); }
extern "C" int wf_bench_threads(const wf_bench_state *s) { return st(s).threads(); }
extern "C" int64_t wf_bench_iterations(const wf_bench_state *s)
{
    return static_cast<int64_t>(st(s).iterations());
}

// The definition whose body this thread runs now (set by the registered wrapper).
static thread_local const wf_bench_def *current;

extern "C" int64_t wf_bench_arg(const wf_bench_state *s)
{
    // State::range() checks its index: a benchmark without args has none.
    if (current == nullptr || current->n_args == 0)
        return 0;
    return static_cast<int64_t>(st(s).range(0));
}

extern "C" void wf_bench_set_items_processed(wf_bench_state *s, int64_t items)
{
    st(s).SetItemsProcessed(items);
}
extern "C" void wf_bench_pause_timing(wf_bench_state *s)
{
    st(s).PauseTiming();
    clk.pause_began = now_seconds();
}
extern "C" void wf_bench_resume_timing(wf_bench_state *s)
{
    clk.paused += now_seconds() - clk.pause_began;
    st(s).ResumeTiming();
}
extern "C" void wf_bench_counter(wf_bench_state *s, const char *name, double value)
{
    st(s).counters[name] = benchmark::Counter(value);
}
extern "C" void wf_bench_counter_rate(wf_bench_state *s, const char *name, double value)
{
    st(s).counters[name] = benchmark::Counter(value, benchmark::Counter::kIsRate);
}
extern "C" void wf_bench_skip_with_error(wf_bench_state *s, const char *message)
{
    st(s).SkipWithError(message);
}

// ---- progress ---------------------------------------------------------------------------

// A line on stderr as each repetition of a benchmark starts: how many of the run's
// repetitions have started out of how many there are (scripts/bench passes the total:
// benchmarks x repetitions), and an estimate of the time left (the mean time of the
// repetitions done so far times those still to do; random interleaving spreads the
// slow and the fast ones over the whole run, so the mean settles early).
//
// Google Benchmark calls a benchmark's function several times in its first
// repetition, each time with more iterations, until a call runs long enough; later
// repetitions run once with that count, and benchmarks with a fixed iteration count
// run once a repetition. So a call starts a new repetition unless it is the same
// benchmark as the last call with more iterations. Only thread 0 of a run counts and
// prints, before the run's threads start their loops, so no locking is needed.
static int progress_mode; // 0 off, 1 a line each, 2 one line rewritten (a terminal)
static const wf_bench_def *progress_def;
static int progress_threads;
static int64_t progress_arg;
static int64_t progress_iters;
static long progress_count; // repetitions started
static long progress_total; // repetitions in the run; 0: not known
static double progress_start;

static void format_duration(char *buf, size_t size, double s)
{
    long t = static_cast<long>(s + 0.5);
    if (t >= 3600)
        std::snprintf(buf, size, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60)
        std::snprintf(buf, size, "%ldm%02lds", t / 60, t % 60);
    else
        std::snprintf(buf, size, "%lds", t);
}

static void progress(const wf_bench_def *d, benchmark::State &state)
{
    if (progress_mode == 0 || state.thread_index() != 0)
        return;
    int64_t arg = d->n_args > 0 ? static_cast<int64_t>(state.range(0)) : 0;
    int64_t iters = static_cast<int64_t>(state.max_iterations);
    bool same = d == progress_def && state.threads() == progress_threads && arg == progress_arg;
    if (same && iters > progress_iters) {
        progress_iters = iters; // the first repetition, still finding its count
        return;
    }
    progress_def = d;
    progress_threads = state.threads();
    progress_arg = arg;
    progress_iters = iters;
    progress_count++;
    double elapsed = now_seconds() - progress_start;
    char extra[64] = "", done[48], left[48] = "";
    if (d->n_args > 0)
        std::snprintf(extra, sizeof extra, " %s:%lld", d->arg_name ? d->arg_name : "arg",
                      static_cast<long long>(arg));
    if (progress_total > 0) {
        std::snprintf(done, sizeof done, "%ld/%ld", progress_count, progress_total);
        if (progress_count > 1 && progress_count <= progress_total) {
            char t[24];
            format_duration(t, sizeof t,
                            elapsed / static_cast<double>(progress_count - 1) *
                                static_cast<double>(progress_total - progress_count + 1));
            std::snprintf(left, sizeof left, ", ~%s left", t);
        }
    } else {
        std::snprintf(done, sizeof done, "%ld", progress_count);
    }
    char ran[24];
    format_duration(ran, sizeof ran, elapsed);
    std::fprintf(stderr, "%s[%s, %s%s] %s threads:%d%s%s", progress_mode == 2 ? "\r\033[K" : "",
                 done, ran, left, d->name, state.threads(), extra, progress_mode == 2 ? "" : "\n");
    std::fflush(stderr);
}

// ---- main -----------------------------------------------------------------------------

// The parked thread that keeps the process multi-threaded (see bench.h): it sleeps on
// a condition nobody signals.
static void *parked(void *)
{
    static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    pthread_mutex_lock(&m);
    for (;;)
        pthread_cond_wait(&c, &m);
    return nullptr;
}

// "--wf_name=value": removes the flag from argv when it matches.
static bool take_flag(int *argc, char **argv, int i, const char *name, std::string *value)
{
    size_t n = std::strlen(name);
    if (std::strncmp(argv[i], name, n) != 0 || argv[i][n] != '=')
        return false;
    *value = argv[i] + n + 1;
    for (int j = i; j < *argc; j++)
        argv[j] = argv[j + 1];
    --*argc;
    return true;
}

static std::string format_double(double v)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

int main(int argc, char **argv)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int max_threads = static_cast<int>(std::min(64L, std::max(8L, cpus)));
    double min_time_scale = 1.0;
    for (int i = 1; i < argc;) {
        std::string v;
        if (take_flag(&argc, argv, i, "--wf_max_threads", &v))
            max_threads = std::max(1, std::atoi(v.c_str()));
        else if (take_flag(&argc, argv, i, "--wf_min_time_scale", &v))
            min_time_scale = std::atof(v.c_str());
        else if (take_flag(&argc, argv, i, "--wf_progress", &v))
            progress_mode = v == "line" ? 2 : v == "true" || v == "1" ? 1 : 0;
        else if (take_flag(&argc, argv, i, "--wf_progress_total", &v))
            progress_total = std::atol(v.c_str());
        else
            i++;
    }

    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;

    // Register in source order of the files' constructors reversed back to forward.
    std::vector<wf_bench_def *> defs;
    for (wf_bench_def *d = registered; d != nullptr; d = d->next)
        defs.push_back(d);
    std::reverse(defs.begin(), defs.end());

    std::string headline, targets;
    for (wf_bench_def *d : defs) {
        benchmark::internal::Benchmark *b = benchmark::RegisterBenchmark(
            d->name, [d](benchmark::State &state) {
                progress(d, state);
                current = d;
                d->fn(reinterpret_cast<wf_bench_state *>(&state));
                current = nullptr;
            });
        std::vector<int> threads;
        for (int t : d->threads) {
            if (t <= 0)
                break;
            threads.push_back(t);
        }
        if (d->sweep) {
            for (int t = 1; t < max_threads; t *= 2)
                threads.push_back(t);
            threads.push_back(max_threads);
        }
        std::sort(threads.begin(), threads.end());
        threads.erase(std::unique(threads.begin(), threads.end()), threads.end());
        for (int t : threads)
            b->Threads(t);
        for (int i = 0; i < d->n_args && i < WF_BENCH_MAX_LIST; i++)
            b->Arg(d->args[i]);
        if (d->arg_name != nullptr)
            b->ArgName(d->arg_name);
        if (d->iterations > 0)
            b->Iterations(d->iterations);
        else if (d->min_time > 0)
            b->MinTime(d->min_time * min_time_scale);
        if (!d->cpu_time)
            b->UseManualTime(); // the run's wall time: see clock_report


        // "<family>/<case>" of the weft entry carries the report's annotations.
        std::string name = d->name;
        size_t slash = name.rfind('/');
        std::string impl = slash == std::string::npos ? "" : name.substr(slash + 1);
        std::string key = slash == std::string::npos ? name : name.substr(0, slash);
        if (impl != "weft")
            continue;
        if (d->headline)
            headline += (headline.empty() ? "" : ",") + key;
        if (d->target_peer != nullptr && d->target > 0) {
            std::string at;
            for (int t : d->threads) {
                if (t <= 0)
                    break;
                at += (at.empty() ? "" : "+") + std::to_string(t);
            }
            targets += (targets.empty() ? "" : ";") + key + "@" + at + ":" + d->target_peer +
                       ":" + format_double(d->target);
        }
    }
    benchmark::AddCustomContext("weft_headline", headline);
    benchmark::AddCustomContext("weft_targets", targets);
    benchmark::AddCustomContext("weft_max_threads", std::to_string(max_threads));
#ifdef WF_BENCH_BACKEND
    benchmark::AddCustomContext("weft_backend", WF_BENCH_BACKEND);
#endif
#ifdef __VERSION__
    benchmark::AddCustomContext("weft_compiler", __VERSION__);
#endif

    pthread_t helper;
    if (pthread_create(&helper, nullptr, parked, nullptr) != 0) {
        std::fprintf(stderr, "weft_bench: cannot start the parked helper thread\n");
        return 1;
    }
    pthread_detach(helper);

    progress_start = now_seconds();
    benchmark::RunSpecifiedBenchmarks();
    if (progress_mode == 2)
        std::fprintf(stderr, "\r\033[K");
    benchmark::Shutdown();
    return 0;
}
