/*
 * check.h -- the one assertion of the C test drivers train_smoke.c, test_net.c and test_csv.c:
 * CHECK(cond, printf-style message) counts a failure in `failures` and says where, and the test
 * goes on (a driver reports the count at the end and exits nonzero if it is not 0).
 */
#ifndef ANN_TEST_CHECK_H
#define ANN_TEST_CHECK_H
#include <stdio.h>

static int failures;

#define CHECK(cond, ...)                                            \
    do {                                                            \
        if (!(cond)) {                                              \
            failures++;                                             \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);    \
            fprintf(stderr, __VA_ARGS__);                           \
            fputc('\n', stderr);                                    \
        }                                                           \
    } while (0)

#endif
