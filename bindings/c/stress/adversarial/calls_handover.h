/*
 * adversarial/calls_handover.h - part of adversarial.c (one program, built from that
 * file, which includes its parts once, in order): chan_handover of open ends, which are then opened again.
 */
/* -------------------------------------------------------------- handover */

static void call_chan_open_end(int s, int end);

static void call_chan_handover(void)
{
    begin(F_CHAN_HANDOVER);
    int slot;
    shmlib_chan_t h = gen_handle(stress_below(&rng, 2) ? SHMLIB_CHAN_PRODUCER : SHMLIB_CHAN_CONSUMER, &slot);
    struct hnd *x = slot >= 0 ? &hnds[slot] : NULL;
    describe("shmlib_chan_handover(%" PRIu64 "%s)", h,
             x ? (x->end == 1 ? (x->reserved ? " producer, reserved" : " producer")
                              : (x->held ? " consumer, holding" : " consumer"))
               : " not open");
    int rc = shmlib_chan_handover(h);
    check(rc, x ? B(0) : B(SHMLIB_EINVAL), 0);
    if (rc != 0 || x == NULL)
        return;
    /* The end is free and the stream goes on: the peer is told nothing
     * (no end of stream, no consumer gone). A reservation is dropped; a
     * held message stays first for the next holder. */
    int s = x->seg, end = x->end;
    unsigned char *start = x->chan_start;
    if (end == SHMLIB_CHAN_PRODUCER)
        segs[s].prod = -1;
    else
        segs[s].cons = -1;
    add_stale_hnd(x->h);
    memset(x, 0, sizeof *x);
    if (start != NULL && is_shm_start((uintptr_t)start))
        violation(V_STATE, "the end's mapping at %p is still there after the handover", (void *)start);
    orphan_check(s);
    /* The process it goes to opens it. */
    if (segs[s].used == 1 && stress_below(&rng, 2))
        call_chan_open_end(s, end);
}

/* chan_open of exactly that end of a live channel of the model. */
static void call_chan_open_end(int s, int end)
{
    struct seg *g = &segs[s];
    begin(F_CHAN_OPEN);
    describe("shmlib_chan_open(%s, end=%d, good) [the end just handed over]", g->key, end);
    shmlib_chan_t *out = (shmlib_chan_t *)(outbuf + OFF_CHAN);
    uintptr_t before[512];
    int nbefore = shm_starts(before, 512);
    int rc = shmlib_chan_open(g->key, end, out);
    check(rc, B(0), 0);
    if (rc != 0)
        return;
    shmlib_chan_t h = *out;
    if (h == 0 || h <= max_handle)
        violation(V_DATA, "handle %" PRIu64 " (0, or not new: the last was %" PRIu64 ")", h, max_handle);
    if (h > max_handle)
        max_handle = h;
    int i = free_slot(hnds, sizeof hnds[0], MAXHND);
    hnds[i] = (struct hnd){.used = 1, .h = h, .seg = s, .end = end};
    hnds[i].chan_start = new_mapping(before, nbefore);
    if (hnds[i].chan_start == NULL)
        harness_fail(__FILE__, __LINE__, "call #%ld: cannot find the mapping of the reopened end", call_no);
    if (end == SHMLIB_CHAN_PRODUCER)
        g->prod = i;
    else {
        g->cons = i;
        g->cons_left = 0;
    }
    stat_handles_made++;
}

/* The memfd segment of another process: a child that holds one, made here
 * and let go here, and does nothing else. */
static void start_holder(void)
{
    char key[SHMLIB_KEY_MAX];
    if (shmlib_create("memfd:", 8192, 0600, 0, key, sizeof key) != 0) {
        harness_fail(__FILE__, __LINE__, "create memfd: for the holder child: %s", harness_last_error());
        return;
    }
    int fd;
    unsigned long long ino;
    if (sscanf(key, "memfd:pid=%*d,fd=%d,ino=%llu", &fd, &ino) != 2) {
        harness_fail(__FILE__, __LINE__, "memfd key \"%s\"", key);
        return;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (int i = 0; i < 4096; i++)
            if (i != fd)
                close(i);
        for (;;)
            pause();
    }
    shmlib_destroy(key); /* from now on only the child holds it */
    if (pid < 0)
        return;
    holder_pid = pid;
    other_seg = MAXSEG - 1;
    struct seg *g = &segs[other_seg];
    memset(g, 0, sizeof *g);
    g->used = 3;
    g->memfd = 2;
    g->ino = ino;
    g->size = 8192;
    g->mode = 0600;
    g->prod = g->cons = -1;
    g->shmid = -1;
    snprintf(g->key, sizeof g->key, "memfd:pid=%d,fd=%d,ino=%llu", (int)pid, fd, ino);
}

static void stop_holder(void)
{
    if (holder_pid <= 0)
        return;
    kill(holder_pid, SIGKILL);
    int status;
    waitpid(holder_pid, &status, 0);
    memset(&segs[other_seg], 0, sizeof segs[other_seg]);
    other_seg = -1;
}
