/*
 * adversarial/probes.h - part of adversarial.c (one program, built from that
 * file, which includes its parts once, in order): the deterministic probes run before the random calls: the library's state after an output faults, and an unterminated key.
 */
/* ------------------------------------------------------------------ probes */

/*
 * What happens when an output faults after the library has acted. Each
 * probe sets things up with plain calls, makes the faulting call, and then
 * checks that the library's state is as if the call had not been made:
 * "On error nothing is left mapped" (attach), outputs are written only on
 * success, an error does not consume or hold a message, an end is not left
 * taken. Each failure names the fix-worthy behaviour.
 */
static int probe_rc(const char *what, int rc, int want)
{
    char m[600];
    read_last_error(m, sizeof m);
    return CHECKF(rc == want, "probe: %s returned %d %s, want %s (%s)", what, rc,
                  harness_code_name(rc), harness_code_name(want), m);
}

static void probe_chan(char *key, shmlib_chan_t *p, shmlib_chan_t *c, const char *tag)
{
    char want[SHMLIB_KEY_MAX];
    snprintf(want, sizeof want, "posix:/%s-probe-%s", prefix, tag);
    *p = *c = 0;
    if (!probe_rc("chan_create", shmlib_chan_create(want, 4096, 0600, 0, key, SHMLIB_KEY_MAX), 0))
        return;
    probe_rc("chan_open producer", shmlib_chan_open(key, SHMLIB_CHAN_PRODUCER, p), 0);
    probe_rc("chan_open consumer", shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, c), 0);
}

static void probe_chan_done(const char *key, shmlib_chan_t p, shmlib_chan_t c)
{
    if (p)
        shmlib_chan_close(p);
    if (c)
        shmlib_chan_close(c);
    shmlib_destroy(key);
}

static void run_probes(void)
{
    char key[SHMLIB_KEY_MAX], want[SHMLIB_KEY_MAX];
    int rc, maps0 = stress_count_shm_mappings();

    /* 1. attach with an output that faults: nothing may stay mapped. */
    snprintf(want, sizeof want, "posix:/%s-probe-seg", prefix);
    if (probe_rc("create", shmlib_create(want, 4096, 0600, 0, key, sizeof key), 0)) {
        void *addr = (void *)0x1234;
        rc = shmlib_attach(key, NULL, 0, (void **)none_page, NULL);
        probe_rc("attach(out_addr PROT_NONE)", rc, SHMLIB_EFAULT);
        int left = stress_count_shm_mappings() - maps0;
        if (!CHECKF(left == 0, "probe: attach(out_addr PROT_NONE) failed with %d but left %d mapping(s) "
                    "(the header: \"On error nothing is left mapped\")", rc, left))
            probe_attach_leak = 1;
        for (unsigned char *a; (a = unknown_mapping()) != NULL;)
            if (shmlib_detach(a) != 0)
                break;
        rc = shmlib_attach(key, NULL, 0, &addr, (uint64_t *)none_page);
        probe_rc("attach(out_size PROT_NONE)", rc, SHMLIB_EFAULT);
        left = stress_count_shm_mappings() - maps0;
        if (!CHECKF(left == 0 && addr == (void *)0x1234,
                    "probe: attach(out_size PROT_NONE) failed with %d but left %d mapping(s)%s", rc, left,
                    addr != (void *)0x1234 ? " and wrote out_addr" : ""))
            probe_attach_leak = 1;
        for (unsigned char *a; (a = unknown_mapping()) != NULL;)
            if (shmlib_detach(a) != 0)
                break;
        /* 2. create with an unwritable out_key leaves nothing. */
        shmlib_stat_t st;
        shmlib_destroy(key);
        rc = shmlib_create(want, 4096, 0600, 0, (char *)none_page, SHMLIB_KEY_MAX);
        probe_rc("create(out_key PROT_NONE)", rc, SHMLIB_EFAULT);
        CHECKF(shmlib_stat(want, &st) == SHMLIB_ENOENT, "probe: create(out_key PROT_NONE) left %s", want);
        shmlib_destroy(want);
        rc = shmlib_chan_create(want, 4096, 0600, 0, (char *)none_page, SHMLIB_KEY_MAX);
        probe_rc("chan_create(out_key PROT_NONE)", rc, SHMLIB_EFAULT);
        CHECKF(shmlib_stat(want, &st) == SHMLIB_ENOENT, "probe: chan_create(out_key PROT_NONE) left %s", want);
        shmlib_destroy(want);
    }

    /* 3. chan_open with an unwritable out_chan: the end must stay free. */
    shmlib_chan_t p, c, q = 0;
    probe_chan(key, &p, &c, "open");
    if (c) {
        shmlib_chan_close(c);
        rc = shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, (shmlib_chan_t *)none_page);
        probe_rc("chan_open(out_chan PROT_NONE)", rc, SHMLIB_EFAULT);
        rc = shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, &q);
        if (!CHECKF(rc == 0, "probe: after chan_open(out_chan PROT_NONE) failed, the consumer end is "
                    "still taken: open gives %d %s (an end and a mapping leaked)", rc, harness_code_name(rc))) {
            probe_open_leak = 1;
            /* The leaked handle is the next number after p. */
            shmlib_chan_close(p + 2);
        }
        c = q;
    }
    probe_chan_done(key, p, c);

    /* 4. send from unreadable memory: the producer must stay usable. */
    probe_chan(key, &p, &c, "send");
    if (p && c) {
        probe_rc("chan_send(buf PROT_NONE)", shmlib_chan_send(p, none_page, 100, 0), SHMLIB_EFAULT);
        rc = shmlib_chan_send(p, "after", 5, 0);
        CHECKF(rc == 0, "probe: after chan_send(buf PROT_NONE) failed, the next send gives %d %s (%s): "
               "the failed send left its reservation pending", rc, harness_code_name(rc), harness_last_error());
        /* 5. reserve with an unwritable out_ptr: no reservation may stay. */
        probe_rc("chan_reserve(out_ptr PROT_NONE)", shmlib_chan_reserve(q = p, 10, 0, (void **)none_page),
                 rc == 0 ? SHMLIB_EFAULT : SHMLIB_EINVAL);
        if (rc == 0) {
            rc = shmlib_chan_send(p, "after", 5, 0);
            CHECKF(rc == 0, "probe: after chan_reserve(out_ptr PROT_NONE) failed, the next send gives %d %s "
                   "(%s): an invisible reservation is pending", rc, harness_code_name(rc), harness_last_error());
        }
    }
    probe_chan_done(key, p, c);

    /* 6. recv/peek with outputs that fault: no message lost or held. */
    static const char *const what[] = {
        "chan_recv(buf PROT_NONE)", "chan_recv(buf read-only)", "chan_recv(out_len PROT_NONE)",
        "chan_peek(out_ptr PROT_NONE)", "chan_peek(out_len PROT_NONE)",
    };
    for (int i = 0; i < 5; i++) {
        probe_chan(key, &p, &c, "recv");
        if (!p || !c) {
            probe_chan_done(key, p, c);
            continue;
        }
        shmlib_chan_send(p, "first", 5, 0);
        shmlib_chan_send(p, "second", 6, 0);
        size_t len = 0;
        const void *ptr = NULL;
        char buf[64];
        switch (i) {
        case 0: rc = shmlib_chan_recv(c, none_page, 64, &len, 0); break;
        case 1: rc = shmlib_chan_recv(c, ro_page, 64, &len, 0); break;
        case 2: rc = shmlib_chan_recv(c, buf, 64, (size_t *)none_page, 0); break;
        case 3: rc = shmlib_chan_peek(c, 0, (const void **)none_page, &len); break;
        default: rc = shmlib_chan_peek(c, 0, &ptr, (size_t *)none_page); break;
        }
        probe_rc(what[i], rc, SHMLIB_EFAULT);
        CHECKF(ptr == NULL, "probe: %s failed but wrote out_ptr (outputs are written only on success)", what[i]);
        memset(buf, 0, sizeof buf);
        len = 0;
        rc = shmlib_chan_recv(c, buf, sizeof buf, &len, 0);
        char m[600];
        read_last_error(m, sizeof m);
        CHECKF(rc == 0 && len == 5 && memcmp(buf, "first", 5) == 0,
               "probe: after %s failed, recv gives %d %s, \"%.*s\" (%s): want the same message, \"first\"%s",
               what[i], rc, harness_code_name(rc), (int)(len < 64 ? len : 0), buf, m,
               rc == SHMLIB_EINVAL ? " (it is held by the failed call)"
               : rc == 0 ? " (the failed call consumed it)" : "");
        probe_chan_done(key, p, c);
    }

    /* 7. shmlib_detach of a channel's own mapping: the header allows only
     * mappings made by shmlib_attach. */
    probe_chan(key, &p, &c, "detach");
    if (p) {
        unsigned char *start = NULL;
        uintptr_t starts[64];
        int n = shm_starts(starts, 64);
        for (int i = 0; i < n; i++)
            start = (unsigned char *)starts[i]; /* one of the two ends' mappings */
        rc = start ? shmlib_detach(start) : SHMLIB_ENOTATTACHED;
        if (!CHECKF(rc == SHMLIB_ENOTATTACHED,
                    "probe: shmlib_detach(%p), the start of a channel end's own mapping, returned %d %s: it "
                    "unmapped the channel under its handle (the header: SHMLIB_ENOTATTACHED unless made by "
                    "shmlib_attach)", (void *)start, rc, harness_code_name(rc))) {
            /* The end whose memory went: its calls now fault. */
            int r1 = shmlib_chan_send(p, "x", 1, 0), r2 = shmlib_chan_close(p);
            printf("probe: after that, send on the producer gives %d %s, close gives %d %s\n", r1,
                   harness_code_name(r1), r2, harness_code_name(r2));
            if (r2 == 0)
                p = 0;
        }
    }
    probe_chan_done(key, p, c);

    /* 8. Unterminated keys before a PROT_NONE page. The header promises
     * nothing; the library scans at most 4096 bytes. */
    int codes[3];
    size_t lens[3] = {100, 4095, 4096};
    for (int i = 0; i < 3; i++) {
        char *start = (char *)keybuf + KEYBUF_LEN - lens[i];
        memset(start, 'u', lens[i]);
        shmlib_stat_t st;
        codes[i] = shmlib_stat(start, &st);
        CHECKF(codes[i] == SHMLIB_EFAULT || codes[i] == SHMLIB_EINVAL,
               "probe: stat of an unterminated %zu-byte key returned %d %s", lens[i], codes[i],
               harness_code_name(codes[i]));
    }
    printf("probe: unterminated key before a PROT_NONE page: %zu bytes -> %s, %zu -> %s, %zu -> %s "
           "(shmlib.h promises neither)\n", lens[0], harness_code_name(codes[0]), lens[1],
           harness_code_name(codes[1]), lens[2], harness_code_name(codes[2]));

    /* 9. shmlib_last_error runs in C, outside the Go fault guard: an
     * unwritable buffer. Tried in a forked child, where it works. */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        shmlib_last_error((char *)none_page, 64);
        _exit(0);
    }
    int status = 0;
    stress_wait_timeout(pid, 5000000000ll, &status);
    printf("probe: shmlib_last_error(PROT_NONE buffer) %s (shmlib.h promises nothing for bad "
           "pointers; not counted)\n",
           WIFSIGNALED(status) ? (WTERMSIG(status) == SIGSEGV ? "crashes the process with SIGSEGV"
                                                              : "kills the process")
                               : "returns");

    /* 10. ftok of a path whose parent is a file: "no such file", or at
     * least a code its Errors: list names. */
    rc = shmlib_ftok("/etc/passwd/x", 1, key, sizeof key);
    char m[600];
    read_last_error(m, sizeof m);
    CHECKF(rc == SHMLIB_ENOENT || rc == SHMLIB_EINVAL || rc == SHMLIB_EACCES,
           "probe: ftok(\"/etc/passwd/x\") (stat fails with ENOTDIR) returned %d %s (%s): not in "
           "shmlib_ftok's Errors: list", rc, harness_code_name(rc), m);

    /* 11. A System V attach with a hint (no SHMLIB_FIXED) the kernel cannot
     * use must go elsewhere, as POSIX attaches do. 12. By shmid, with
     * SHMLIB_FIXED at a taken address: the range is the problem, not the
     * segment. */
    if (probe_rc("create sysv:", shmlib_create("sysv:", 4096, 0600, 0, key, sizeof key), 0)) {
        void *a = NULL;
        rc = shmlib_attach(key, (void *)0xffff800000000000ull, 0, &a, NULL);
        read_last_error(m, sizeof m);
        if (CHECKF(rc == 0, "probe: System V attach with the hint 0xffff800000000000 and no SHMLIB_FIXED "
                   "returned %d %s (%s); the header: the segment goes elsewhere", rc,
                   harness_code_name(rc), m))
            shmlib_detach(a);
        shmlib_stat_t st;
        char byid[64];
        shmlib_stat(key, &st);
        snprintf(byid, sizeof byid, "sysv:id=%d", st.shmid);
        rc = shmlib_attach(byid, outbuf, SHMLIB_FIXED, &a, NULL);
        read_last_error(m, sizeof m);
        if (!CHECKF(rc == SHMLIB_EINVAL, "probe: attach(\"%s\", a taken address, SHMLIB_FIXED) returned %d "
                    "%s (%s); by key it is SHMLIB_EINVAL, as the header says", byid, rc,
                    harness_code_name(rc), m) && rc == 0)
            shmlib_detach(a);
        shmlib_destroy(key);
    }

    /* 13. Lengths and pointers that would run past the end of the address
     * space: the library's own slices must not panic (SHMLIB_EINTERNAL is
     * "a bug in libshm"). */
    char *top = (char *)(uintptr_t)-16;
    snprintf(want, sizeof want, "posix:/%s-probe-top", prefix);
    rc = shmlib_create(want, 4096, 0600, 0, top, SHMLIB_KEY_MAX);
    read_last_error(m, sizeof m);
    CHECKF(rc != SHMLIB_EINTERNAL, "probe: create(out_key=%p, 272) returned %s (%s)", (void *)top,
           harness_code_name(rc), m);
    shmlib_destroy(want);
    rc = shmlib_ftok("/", 1, top, SHMLIB_KEY_MAX);
    read_last_error(m, sizeof m);
    CHECKF(rc != SHMLIB_EINTERNAL, "probe: ftok(\"/\", 1, out_key=%p, 272) returned %s (%s)", (void *)top,
           harness_code_name(rc), m);
    probe_chan(key, &p, &c, "huge");
    if (p && c) {
        size_t len = 0;
        rc = shmlib_chan_send(p, bigbuf, SIZE_MAX, 0);
        read_last_error(m, sizeof m);
        CHECKF(rc == SHMLIB_EMSGSIZE, "probe: chan_send(len SIZE_MAX) returned %d %s (%s), want SHMLIB_EMSGSIZE",
               rc, harness_code_name(rc), m);
        rc = shmlib_chan_send(c, bigbuf, SIZE_MAX, 0);
        read_last_error(m, sizeof m);
        CHECKF(rc == SHMLIB_EINVAL, "probe: chan_send(a consumer handle, len SIZE_MAX) returned %d %s (%s), "
               "want SHMLIB_EINVAL", rc, harness_code_name(rc), m);
        shmlib_chan_send(p, "x", 1, 0);
        rc = shmlib_chan_recv(c, bigbuf, SIZE_MAX, &len, 0);
        read_last_error(m, sizeof m);
        CHECKF(rc == 0 && len == 1, "probe: chan_recv(cap SIZE_MAX) of a 1-byte message returned %d %s (%s), "
               "want 0", rc, harness_code_name(rc), m);
    }
    probe_chan_done(key, p, c);
    CHECKF(maps0 == stress_count_shm_mappings(), "probe: %d mappings left by the probes",
           stress_count_shm_mappings() - maps0);
}


/* memfd probes. 14: a memfd key kept past its destroy names nothing, also
 * when its descriptor number holds a new memfd. 15: shmlib_memfd_recv with
 * an out_key that faults must leave the message on the socket (shmlib.h,
 * ERRORS: "out-parameters are checked before the call changes anything ...
 * no lost message"). */
static void run_memfd_probes(void)
{
    char a[SHMLIB_KEY_MAX], b[SHMLIB_KEY_MAX], m[600];
    int fds0 = harness_count_fds();
    if (probe_rc("create memfd:", shmlib_create("memfd:", 4096, 0600, 0, a, sizeof a), 0)) {
        probe_rc("destroy memfd", shmlib_destroy(a), 0);
        if (probe_rc("create memfd: again", shmlib_create("memfd:", 4096, 0600, 0, b, sizeof b), 0)) {
            int fa = -1, fb = -2;
            sscanf(a, "memfd:pid=%*d,fd=%d", &fa);
            sscanf(b, "memfd:pid=%*d,fd=%d", &fb);
            void *addr = NULL;
            shmlib_stat_t st;
            int sv[2] = {-1, -1};
            socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
            int r1 = shmlib_attach(a, NULL, 0, &addr, NULL), r2 = shmlib_stat(a, &st), r3 = shmlib_destroy(a),
                r4 = shmlib_memfd_send(sv[0], a);
            read_last_error(m, sizeof m);
            CHECKF(r1 == SHMLIB_ENOENT && r2 == SHMLIB_ENOENT && r3 == SHMLIB_ENOENT && r4 == SHMLIB_EINVAL,
                   "probe: the destroyed %s (descriptor %s by %s): attach %d, stat %d, destroy %d, memfd_send %d; "
                   "want ENOENT, ENOENT, ENOENT, EINVAL (%s)", a, fa == fb ? "reused" : "not reused", b, r1, r2,
                   r3, r4, m);
            if (r1 == 0)
                shmlib_detach(addr);
            CHECKF(shmlib_stat(b, &st) == 0, "probe: %s is gone after calls with the stale key %s", b, a);
            if (fa != fb)
                printf("probe: the descriptor of a destroyed memfd was not reused (%d, then %d)\n", fa, fb);
            /* 15 */
            size_t n = 0;
            if (probe_rc("memfd_send", shmlib_memfd_send(sv[0], b), 0)) {
                int rc = shmlib_memfd_recv(sv[1], (char *)none_page, SHMLIB_KEY_MAX);
                read_last_error(m, sizeof m);
                probe_rc("memfd_recv(out_key PROT_NONE)", rc, SHMLIB_EFAULT);
                int left = inq(sv[1]);
                if (!CHECKF(left == 1, "probe: memfd_recv(out_key PROT_NONE) returned %d %s (%s) and took the "
                            "memfd off the socket (%d bytes left, want 1): the segment sent is lost, although "
                            "out-parameters are checked before the call changes anything (shmlib.h, ERRORS)",
                            rc, harness_code_name(rc), m, left))
                    probe_recv_lost = 1;
                if (left == 1) {
                    rc = shmlib_memfd_recv(sv[1], a, sizeof a);
                    if (probe_rc("memfd_recv after", rc, 0))
                        shmlib_destroy(a);
                }
                (void)n;
            }
            close(sv[0]);
            close(sv[1]);
            shmlib_destroy(b);
        }
    }
    CHECKF(harness_count_fds() == fds0, "probe: the memfd probes leave %d descriptors", harness_count_fds() - fds0);

    /* 16. shmlib_reap with out_items or out_count at address 8 (as any
     * wild pointer: "SHMLIB_EFAULT instead of a crash"), in a child
     * process of its own (this program exec'd with --probe-reap-wild),
     * since what happens may be a crash. */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execl("/proc/self/exe", "adversarial", "--probe-reap-wild", (char *)NULL);
        _exit(127);
    }
    int status = 0;
    if (pid > 0 && stress_wait_timeout(pid, 60000000000ll, &status) != 0) {
        harness_fail(__FILE__, __LINE__, "probe: shmlib_reap with pointers at address 8 hangs");
        probe_reap_crash = 1;
    } else if (!CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                     "probe: shmlib_reap(0, (shmlib_stat_t *)8, 1, &n) and shmlib_reap(0, NULL, 0, (size_t *)8), "
                     "2000 times each, %s %d, want SHMLIB_EFAULT (the Go runtime aborts: \"runtime: bad pointer "
                     "in frame ... shmlib_go_reap ...: 0x8\", \"fatal error: invalid pointer found on stack\"; "
                     "a pointer below 4096 in a Go pointer variable when the collector scans the stack)",
                     WIFSIGNALED(status) ? "was killed by signal" : "exited with",
                     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status)))
        probe_reap_crash = 1;
}
