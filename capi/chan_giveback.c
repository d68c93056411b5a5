/*
 * Giving back without consuming: shmlib_chan_unreserve drops the
 * producer's pending reservation, shmlib_chan_unpeek puts the message the
 * consumer holds back in the channel. Neither changes a shared word: a
 * reservation is published only by commit, and a held message leaves the
 * ring only at release, so forgetting the loan on this end is all there is
 * to do (a padding record reserve wrote past the tail is rewritten by the
 * next reserve, and nobody reads past the tail).
 */
#include "chan.h"
#include "chan_giveback.h"

static int give_back(shmlib_chan_t h, const char *op, int end, const char *wrong_end, const char *none)
{
    struct chan_end *e;
    int rc = chan_enter(op, h, &e);
    if (rc != 0)
        return rc;
    if (e->end != end)
        rc = chan_fail(e, op, SHMLIB_EINVAL, "%s", wrong_end);
    else if (!e->pending)
        rc = chan_fail(e, op, SHMLIB_EINVAL, "%s", none);
    else
        e->pending = 0;
    chan_leave(e);
    return rc;
}

int libshm_chan_unreserve(shmlib_chan_t h)
{
    return give_back(h, "chan_unreserve", SHMLIB_CHAN_PRODUCER, "only the producer end reserves", "nothing is reserved");
}

int libshm_chan_unpeek(shmlib_chan_t h)
{
    return give_back(h, "chan_unpeek", SHMLIB_CHAN_CONSUMER, "only the consumer end peeks", "no message is held");
}
