/* internal.h -- helpers shared between the core's .c files; not part of the public API. */
#ifndef ANN_INTERNAL_H
#define ANN_INTERNAL_H
#include <stdint.h>

void ann__add_bias(float *y, const float *b, int B, int n);       /* y (B, n) += b (n) */
void ann__sum_rows(float *out, const float *a, int B, int n);     /* out (n) = 1^T a (B, n) */
uint64_t ann__splitmix64(uint64_t *state);                        /* next 64 random bits */

#endif
