/*
 * bench/helpers/tiny.c - the baseline C shared library of the `call.version`
 * and `load` benchmarks: one trivial function, no dependencies beyond libc.
 * bench/run.py builds it as build/bench/libtiny.so. It lives in a folder of its
 * own because the Makefile builds every C file in bench/ as a program.
 */
unsigned int tiny_version(void);

unsigned int tiny_version(void)
{
    return 100;
}
