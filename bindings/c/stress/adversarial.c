/*
 * adversarial.c - every exported function, called at random with random and
 * hostile arguments, against a model of what must come back.
 *
 * A seeded driver (the seed is printed; --seed replays it) makes CALLS calls
 * (default 1,000,000; --quick: 50,000) to all the functions of shmlib.h:
 * NULL, unreadable (PROT_NONE pages, unmapped holes, wild addresses) and
 * read-only pointers; keys that are malformed, overlong, non-UTF-8, full of
 * control bytes, unterminated right before a PROT_NONE page (shorter and
 * longer than the library's 4096-byte scan), or read out of a live mapping;
 * huge and "negative" sizes; random flags, modes, ends and handles; stale
 * keys, addresses and handles (double detach, calls after destroy and
 * close); random short timeouts (0 or a few microseconds; WAIT_FOREVER only
 * where the model says the call cannot wait); memfd keys: live, destroyed
 * (also when the descriptor number holds a new memfd), malformed, of a
 * child process that holds one, of no process; memfd_send and memfd_recv
 * over the program's own socket pairs (peers closed, resets, messages with
 * no descriptor, a non-memfd, an unsealed memfd or two descriptors), and
 * on descriptors that are no socket or closed; recv only where a message
 * waits or the peer closed, so it cannot block; reap with random flags
 * (SHMLIB_REAP_DESTROY only in isolation, where every segment is this
 * living process's: nothing may be found); chan_handover of open ends,
 * which are then free and are opened again.
 *
 * The model knows every segment, mapping and channel end it made, and the
 * exact state of each channel ring (bytes in flight, padding at the wrap),
 * so most calls have one right answer. Every return value must be:
 *
 *   - documented for that function by include/shmlib.h (its "Errors:" list,
 *     or 0 / SHMLIB_OPENED), or SHMLIB_EFAULT when the call was handed a
 *     pointer that cannot be accessed (the header names no function that
 *     returns it: see the summary); and
 *   - the one the model expects, when the arguments leave one answer, or
 *     one of the codes that apply when several errors do (the header does
 *     not order its checks).
 *
 * Besides: outputs in good memory are left alone on failure; the last error
 * names the failed call and is left alone by successes; every received
 * message is checked byte by byte and in order; strings are terminated.
 * No crash (a crash ends the run), no hang (an alarm and a watchdog), and no
 * leak at the end: every segment, mapping and channel end made is released,
 * and then no segment, mapping or descriptor may remain.
 *
 * Before the random run, a few deterministic probes check what happens to
 * the library's own state when a pointer faults after it has acted, and
 * which of the two outcomes the header leaves open an unterminated key gets.
 *
 *   adversarial [--quick] [--calls N] [--seed N] [--trace-from N]
 *               [--alarm SECONDS] [--no-isolate]
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "stress.h"

/* The program in parts, each of one subject. */
#include "adversarial/model.h"
#include "adversarial/keys.h"
#include "adversarial/calls_segments.h"
#include "adversarial/calls_channels.h"
#include "adversarial/calls_memfd_reap.h"
#include "adversarial/calls_handover.h"
#include "adversarial/probes.h"

/* --------------------------------------------------------------- the run */

static void cleanup(void)
{
    for (int i = 0; i < MAXHND; i++)
        if (hnds[i].used)
            close_slot(i);
    for (int i = 0; i < MAXMAP; i++)
        if (maps[i].used) {
            begin(F_DETACH);
            describe("shmlib_detach(%p) [cleanup]", (void *)maps[i].addr);
            check(shmlib_detach(maps[i].addr), B(0), 0);
            maps[i].used = 0;
        }
    for (int i = 0; i < MAXSEG; i++)
        if (segs[i].used == 1) {
            begin(F_DESTROY);
            describe("shmlib_destroy(%s) [cleanup]", segs[i].key);
            check(shmlib_destroy(segs[i].key), B(0), 0);
            free(segs[i].q);
            memset(&segs[i], 0, sizeof segs[i]);
        } else if (segs[i].used == 2) {
            free(segs[i].q);
            memset(&segs[i], 0, sizeof segs[i]);
        }
    /* What is in flight goes with the sockets. */
    for (int p = 0; p < NPAIR; p++)
        for (int e = 0; e < 2; e++)
            if (pairs[p].used && pairs[p].open[e])
                pair_close_end(p, e);
}

static void one_call(void)
{
    static int total;
    if (total == 0)
        for (int i = 0; i < NFN; i++)
            total += fn_weight[i];
    int r = (int)stress_below(&rng, (uint64_t)total), f = 0;
    while (r >= fn_weight[f])
        r -= fn_weight[f++];
    switch (f) {
    case F_VERSION: call_version(); break;
    case F_VERSION_STRING: call_version_string(); break;
    case F_STRERROR: call_strerror(); break;
    case F_LAST_ERROR: call_last_error(); break;
    case F_FTOK: call_ftok(); break;
    case F_CREATE: call_create(0); break;
    case F_ATTACH: call_attach(); break;
    case F_DETACH: call_detach(); break;
    case F_DESTROY: call_destroy(); break;
    case F_STAT: call_stat(); break;
    case F_LIST: call_list(); break;
    case F_CHAN_CREATE: call_create(1); break;
    case F_CHAN_OPEN: call_chan_open(); break;
    case F_CHAN_CLOSE: call_chan_close(); break;
    case F_CHAN_MAX: call_chan_max(); break;
    case F_CHAN_SEND: call_chan_send(0); break;
    case F_CHAN_RESERVE: call_chan_send(1); break;
    case F_CHAN_COMMIT: call_chan_commit(); break;
    case F_CHAN_RECV: call_chan_recv(0); break;
    case F_CHAN_PEEK: call_chan_recv(1); break;
    case F_CHAN_RELEASE: call_chan_release(); break;
    case F_MEMFD_SEND: call_memfd_send(); break;
    case F_MEMFD_RECV: call_memfd_recv(); break;
    case F_REAP: call_reap(); break;
    case F_CHAN_HANDOVER: call_chan_handover(); break;
    case F_KEY_NORMALIZE: call_key_normalize(); break;
    case F_CHAN_UNRESERVE: call_chan_give_back(0); break;
    case F_CHAN_UNPEEK: call_chan_give_back(1); break;
    case F_CHAN_LOST: call_chan_lost(); break;
    case F_CHAN_FD: call_chan_fd(); break;
    case F_CHAN_ARM: call_chan_arm(); break;
    case F_CHAN_WAIT_ANY: call_chan_wait_any(); break;
    }
    /* Helper calls made after the checked one (a stat for a new segment's
     * id, the recovery after a fault) may have set the last error. */
    read_last_error(last_msg, sizeof last_msg);
}

static void *watchdog(void *arg)
{
    (void)arg;
    long last = -1;
    int still = 0;
    for (;;) {
        sleep(1);
        long now = atomic_load(&progress);
        still = now == last ? still + 1 : 0;
        last = now;
        if (still >= 20) {
            char msg[1400];
            int n = snprintf(msg, sizeof msg,
                             "FAIL adversarial: HANG: no call returned for 20 s; in call #%ld: %.1200s\n"
                             "%d passed, %d failed\n",
                             call_no, desc, harness_passed, harness_failed + 1);
            ssize_t w = write(STDOUT_FILENO, msg, (size_t)n);
            (void)w;
            _exit(3);
        }
    }
    return NULL;
}

static void on_alarm(int sig)
{
    (void)sig;
    char msg[1400];
    int n = snprintf(msg, sizeof msg,
                     "FAIL adversarial: the overall alarm went off in call #%ld: %.1200s\n%d passed, %d failed\n",
                     call_no, desc, harness_passed, harness_failed + 1);
    ssize_t w = write(STDOUT_FILENO, msg, (size_t)n);
    (void)w;
    _exit(4);
}

static void *map_pages(size_t len, int prot)
{
    void *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    return p;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 2 && strcmp(argv[1], "--probe-reap-wild") == 0) { /* see probe 16 */
        size_t n;
        for (int i = 0; i < 2000; i++) {
            int r1 = shmlib_reap(0, (shmlib_stat_t *)8, 1, &n), r2 = shmlib_reap(0, NULL, 0, (size_t *)8);
            if ((r1 != 0 && r1 != SHMLIB_EFAULT) || r2 != SHMLIB_EFAULT)
                return 1;
        }
        return 0;
    }
    stress_isolate(&argc, argv, "1g", 256ull << 20);
    uint64_t seed = stress_fresh_seed();
    unsigned alarm_s = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            ncalls = 50000;
        else if (strcmp(argv[i], "--calls") == 0 && i + 1 < argc)
            ncalls = stress_parse_count(argv[++i]);
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 0);
        else if (strcmp(argv[i], "--trace-from") == 0 && i + 1 < argc)
            trace_from = stress_parse_count(argv[++i]);
        else if (strcmp(argv[i], "--alarm") == 0 && i + 1 < argc)
            alarm_s = (unsigned)atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--quick] [--calls N] [--seed N] [--trace-from N] [--alarm S] [--no-isolate]\n",
                    argv[0]);
            return 2;
        }
    }
    if (alarm_s == 0)
        alarm_s = (unsigned)(60 + ncalls / 2000);
    rng = seed;
    root = geteuid() == 0;
    page = (size_t)sysconf(_SC_PAGESIZE);
    snprintf(prefix, sizeof prefix, "libshm-stress-adv-%d", (int)getpid());
    init_documented();
    stress_say_where();
    printf("adversarial: %ld calls, seed %" PRIu64 " (replay: --seed %" PRIu64 " --calls %ld), alarm %u s\n",
           ncalls, seed, seed, ncalls, alarm_s);

    none_page = map_pages(page, PROT_NONE);
    ro_page = map_pages(page, PROT_READ);
    hole_now();
    keybuf = map_pages(KEYBUF_LEN + page, PROT_READ | PROT_WRITE);
    mprotect(keybuf + KEYBUF_LEN, page, PROT_NONE);
    outbuf = map_pages(OUTBUF_LEN, PROT_READ | PROT_WRITE);
    bigbuf = map_pages(BIGBUF_LEN, PROT_READ | PROT_WRITE);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGALRM, &sa, NULL);
    alarm(alarm_s);
    pthread_t wd;
    pthread_create(&wd, NULL, watchdog, NULL);

    /* One of everything first: the Go runtime opens descriptors of its own
     * on first use (its poller), which are no leak. */
    {
        char k[SHMLIB_KEY_MAX];
        void *a;
        if (shmlib_create("sysv:", 4096, 0, 0, k, sizeof k) == 0) {
            if (shmlib_attach(k, NULL, 0, &a, NULL) == 0)
                shmlib_detach(a);
            shmlib_destroy(k);
        }
        if (shmlib_create(NULL, 4096, 0, 0, k, sizeof k) == 0)
            shmlib_destroy(k);
        size_t n;
        shmlib_list(NULL, 0, &n);
        int sv[2];
        if (shmlib_create("memfd:", 4096, 0, 0, k, sizeof k) == 0) {
            if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
                if (shmlib_memfd_send(sv[0], k) == 0 && shmlib_memfd_recv(sv[1], k + 100, sizeof k - 100) == 0)
                    shmlib_destroy(k + 100);
                close(sv[0]);
                close(sv[1]);
            }
            shmlib_destroy(k);
        }
        shmlib_reap(0, NULL, 0, &n);
    }
    devnull_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull_fd < 0 || pipe2(pipe_fds, O_CLOEXEC) != 0) {
        perror("open /dev/null, pipe");
        return 1;
    }
    start_holder();
    int maps0 = stress_count_shm_mappings(), fds0 = harness_count_fds(), mfd0 = count_memfd_mappings();

    int64_t t0 = stress_now_ns();
    run_probes();
    run_memfd_probes();
    double probe_s = (double)(stress_now_ns() - t0) / 1e9;
    read_last_error(last_msg, sizeof last_msg);

    t0 = stress_now_ns();
    for (call_no = 1; call_no <= ncalls; call_no++)
        one_call();
    double secs = (double)(stress_now_ns() - t0) / 1e9;
    call_no = 0;
    cleanup();

    /* Leaks. */
    int maps1 = stress_count_shm_mappings(), fds1 = harness_count_fds(), mfd1 = count_memfd_mappings();
    CHECKF(maps1 == maps0, "leak: %d shared memory mappings before, %d after", maps0, maps1);
    CHECKF(mfd1 == mfd0, "leak: %d memfd mappings before, %d after", mfd0, mfd1);
    if (!CHECKF(fds1 == fds0, "leak: %d descriptors before, %d after", fds0, fds1))
        stress_show_fds("adversarial");
    struct stress_owner owner = {prefix, NULL, 0};
    int seg_leaks = stress_check_no_segments(&owner, "adversarial");
    stop_holder();
    close(devnull_fd);
    close(pipe_fds[0]);
    close(pipe_fds[1]);

    /* The summary. */
    long total = 0;
    for (int f = 0; f < NFN; f++)
        total += fn_calls[f];
    printf("adversarial: %ld calls in %.1f s (%.0f calls/s), probes %.2f s, seed %" PRIu64 "\n", total,
           secs, (double)total / secs, probe_s, seed);
    printf("  %-16s %8s  codes\n", "function", "calls");
    for (int f = 0; f < NFN; f++) {
        char line[1024];
        int n = snprintf(line, sizeof line, "  %-16s %8ld ", fn_name[f], fn_calls[f]);
        for (int c = 0; c < NCODES; c++)
            if (fn_codes[f][c])
                n += snprintf(line + n, sizeof line - (size_t)n, " %s %ld", code_short(c), fn_codes[f][c]);
        printf("%s\n", line);
    }
    {
        char line[1024];
        int n = snprintf(line, sizeof line, "  SHMLIB_EFAULT for an unreadable/unwritable pointer (in no \"Errors:\" list of shmlib.h):");
        long all = 0;
        for (int f = 0; f < NFN; f++)
            if (efault_badptr[f]) {
                n += snprintf(line + n, sizeof line - (size_t)n, " %s %ld", fn_name[f], efault_badptr[f]);
                all += efault_badptr[f];
            }
        printf("%s%s\n", line, all ? "" : " none");
    }
    printf("  violations:");
    for (int v = 0; v < NVKIND; v++)
        printf(" %s %ld%s", vkind_name[v], violations[v], v + 1 < NVKIND ? "," : "\n");
    {
        char line[2048];
        int n = snprintf(line, sizeof line, "  wrong codes by call:");
        for (int f = 0; f < NFN; f++)
            for (int c = 0; c < NCODES; c++)
                if (violations_code[f][c])
                    n += snprintf(line + n, sizeof line - (size_t)n, " %s %s %ld,", fn_name[f], code_short(c),
                                  violations_code[f][c]);
        line[n - 1] = line[n - 1] == ',' ? '\0' : line[n - 1];
        printf("%s%s\n", line, n == (int)strlen("  wrong codes by call:") ? " none" : "");
    }
    printf("  known fault bugs met in the random run: attach left a mapping %ld, chan_open left an end "
           "open %ld; ends closed after a fault %ld\n", bug_attach_leak, bug_open_leak, bug_tainted);
    printf("  made: %ld segments, %ld mappings, %ld channel ends; %ld messages checked\n",
           stat_segments_made, stat_mappings_made, stat_handles_made, stat_msgs_checked);
    printf("  memfds: %ld sent, %ld received; %ld messages sent with sendmsg that recv must refuse; "
           "memfd_recv lost a memfd on SHMLIB_EFAULT %ld times\n",
           stat_memfds_sent, stat_memfds_received, stat_injected, bug_recv_lost);
    printf("  leaks at the end: %d segments, %d mappings, %d descriptors\n", seg_leaks,
           maps1 - maps0 + mfd1 - mfd0, fds1 - fds0);
    return harness_finish();
}
