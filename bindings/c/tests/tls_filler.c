/*
 * tls_filler.c - built into tls_filler.so for test_loading.c: a library that
 * takes static TLS at dlopen(), as native extensions with initial-exec
 * __thread variables do. Loaded under several names, its copies use up the
 * surplus glibc keeps for such libraries.
 */
#define TLS_FILLER_BYTES 64

__attribute__((tls_model("initial-exec"))) __thread char tls_filler_block[TLS_FILLER_BYTES];

char *tls_filler_address(void) { return tls_filler_block; }
