/*
 * bench/helpers/load.c - the time to load a shared library and make the first
 * call into it, in this fresh process.
 *
 *     load LIBRARY SYMBOL
 *
 * Times dlopen(LIBRARY, RTLD_NOW) + dlsym(SYMBOL) + one call of SYMBOL as
 * unsigned int (void), and prints the milliseconds. For libshm that includes
 * starting the Go runtime: the library's constructor begins it during
 * dlopen, and the first call waits until it is ready.
 *
 * bench/run.py builds this as build/bench/load and runs it many times. It is
 * not linked with libshm (unlike the programs in bench/, which the Makefile
 * builds), so that nothing is loaded before the clock starts. It never
 * dlclose()s: a Go library must not be unloaded.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    unsigned int (*fn)(void);

    if (argc != 3) {
        fprintf(stderr, "usage: load LIBRARY SYMBOL\n");
        return 2;
    }
    double t0 = now_ms();
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL || (*(void **)&fn = dlsym(lib, argv[2])) == NULL) {
        fprintf(stderr, "load: %s\n", dlerror());
        return 1;
    }
    unsigned int v = fn();
    double t1 = now_ms();
    printf("%.4f %u\n", t1 - t0, v);
    return 0;
}
