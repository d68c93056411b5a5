/*
 * The host's environment is not the library's: GODEBUG is read by the Go
 * runtime inside libshm as if libshm were the program it was meant for, and
 * some of its settings make the runtime write to the host's stderr
 * (gctrace=1 at every collection, inittrace=1 at load, schedtrace=N ...) or
 * change how it manages memory (sbrk=1 never frees). libshm needs none of
 * them, so its runtime is not shown them.
 *
 * The runtime reads its environment once, during its initialization, from
 * the array after the process's argv (argv[argc + 1] on), which glibc hands
 * to every .init_array function. A constructor of priority 101 (before the
 * runtime's _rt0_amd64_linux_lib) points each GODEBUG entry of that array
 * at "GODEBUG=" instead; an unprioritized one (after it) waits until the
 * runtime has initialized and puts the entries back. For that moment of
 * the load, another thread of the host that reads GODEBUG sees it empty.
 *
 * GOGC and GOMEMLIMIT are overridden in Go instead (capi/main.go).
 */
#include <stddef.h>
#include <string.h>

#include "_cgo_export.h"
#include "guard.h"

#define GODEBUG_ENTRIES_MAX 8

static char godebug_empty[] = "GODEBUG=";
static char **godebug_slots[GODEBUG_ENTRIES_MAX];
static char *godebug_values[GODEBUG_ENTRIES_MAX];
static int godebug_hidden;

__attribute__((constructor(101))) static void hide_godebug(int argc, char **argv, char **envp)
{
    (void)envp; /* the current environ; the runtime reads the array after argv */
    if (argv == NULL || argc < 0)
        return;
    for (char **e = argv + argc + 1; *e != NULL && godebug_hidden < GODEBUG_ENTRIES_MAX; e++) {
        if (strncmp(*e, "GODEBUG=", 8) == 0) {
            godebug_slots[godebug_hidden] = e;
            godebug_values[godebug_hidden++] = *e;
            *e = godebug_empty;
        }
    }
}

__attribute__((constructor)) static void show_godebug(void)
{
    if (godebug_hidden == 0)
        return;
    /* A call into Go returns only once the runtime has initialized, its
     * reading of the environment included. */
    struct libshm_go_entry entry;
    libshm_go_enter(&entry, LIBSHM_GO_BRIEF);
    shmlib_go_version();
    libshm_go_leave(&entry);
    for (int i = 0; i < godebug_hidden; i++)
        if (*godebug_slots[i] == godebug_empty)
            *godebug_slots[i] = godebug_values[i];
}
