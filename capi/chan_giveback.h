/* Internal to capi/: the data plane's calls that give a loan back
 * (chan_giveback.c); the generated forwarders call them. */
#ifndef LIBSHM_CHAN_GIVEBACK_H
#define LIBSHM_CHAN_GIVEBACK_H

#include "shmlib.h"

int libshm_chan_unreserve(shmlib_chan_t h);
int libshm_chan_unpeek(shmlib_chan_t h);

#endif
