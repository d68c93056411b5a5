/*
 * bench/call.c - the cost of one call into libshm, which is written in Go.
 *
 *     call LIBTINY [RUNS [RUN_MS]]
 *
 *   call.version  ns per shmlib_version() call, made from C the ordinary way
 *                 (through the PLT). Each call goes through libshm's C guard
 *                 into the Go runtime (cgo's C-to-Go transition) and back.
 *     c-function: the same loop calling tiny_version() of LIBTINY, a shared
 *                 object built from bench/helpers/tiny.c, through a pointer
 *                 from dlsym(): an indirect call to another object, which the
 *                 compiler cannot inline - the cost of a plain C call.
 *
 * Calibration, interleaving and output are as in bench/lifecycle.c.
 */
#include <shmlib.h>

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define MAX_RUNS 64

static unsigned int (*tiny_version)(void);

/* Results are summed into a volatile so that no call can be optimised away. */
static volatile unsigned long sink;

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double run_lib(long iters)
{
    unsigned long sum = 0;
    double t0 = now_ns();
    for (long i = 0; i < iters; i++)
        sum += shmlib_version();
    double ns = (now_ns() - t0) / (double)iters;
    sink += sum;
    return ns;
}

static double run_c(long iters)
{
    unsigned long sum = 0;
    double t0 = now_ns();
    for (long i = 0; i < iters; i++)
        sum += tiny_version();
    double ns = (now_ns() - t0) / (double)iters;
    sink += sum;
    return ns;
}

static void print_runs(const char *key, const double *v, int n)
{
    printf("\"%s\": [", key);
    for (int i = 0; i < n; i++)
        printf("%s%.2f", i ? ", " : "", v[i]);
    printf("]");
}

int main(int argc, char **argv)
{
    int runs = argc > 2 ? atoi(argv[2]) : 7;
    double run_ms = argc > 3 ? atof(argv[3]) : 100;
    double lib_ns[MAX_RUNS], c_ns[MAX_RUNS];

    if (argc < 2 || runs < 1 || runs > MAX_RUNS || run_ms <= 0) {
        fprintf(stderr, "usage: call LIBTINY [RUNS [RUN_MS]]\n");
        return 2;
    }
    void *tiny = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (tiny == NULL || (*(void **)&tiny_version = dlsym(tiny, "tiny_version")) == NULL) {
        fprintf(stderr, "call: %s\n", dlerror());
        return 1;
    }

    /* Warm up both sides (the first call on a thread sets up Go's side of
     * it), then size a run to last about run_ms on the libshm side. */
    run_c(100000);
    long iters = 100000;
    while (run_lib(iters) * (double)iters < run_ms * 1e6 / 2)
        iters *= 2;
    iters *= 2;

    for (int r = 0; r < runs; r++) {
        if (r % 2 == 0) {
            lib_ns[r] = run_lib(iters);
            c_ns[r] = run_c(iters);
        } else {
            c_ns[r] = run_c(iters);
            lib_ns[r] = run_lib(iters);
        }
    }
    printf("{\"name\": \"call.version\", \"unit\": \"ns\", \"iters\": %ld, ", iters);
    print_runs("value_runs", lib_ns, runs);
    printf(", \"baseline\": \"c-function\", ");
    print_runs("baseline_runs", c_ns, runs);
    printf("}\n");
    return 0;
}
