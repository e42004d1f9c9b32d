/*
 * test_passes.c -- the elementwise passes that run on the thread pool (csrc/ops.c through
 * ann__parallel_range in csrc/pool.c): each against the plain serial loop it replaces, written
 * out here, and for 1, 2, 3 and 8 threads, which must all give the same bits.
 *
 * Passes: dropout forward (whose random draws are cut between threads: the stream must come
 * out as one serial loop would draw it) and backward (in place and not), the Adam, momentum,
 * Nesterov and SGD updates. Sizes are large enough that the pool splits them, and not a
 * multiple of any vector width. `make c-test` builds and runs it; so do tools/sanitize.sh and
 * the cross builds (every driver of tests/c/).
 */
#include "../../csrc/ann.h"
#include "check.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 1000003   /* values per pass: splits on the pool; an odd tail */
static const int thread_counts[] = {1, 2, 3, 8};
#define N_COUNTS (int)(sizeof thread_counts / sizeof *thread_counts)

static uint64_t g_rng = 12345;
static float uniform_pm(float range) { return (2.0f * ann_random_uniform(&g_rng) - 1.0f) * range; }

static float *floats(size_t n)
{
    float *p = malloc(n * sizeof(float));
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static int same(const void *a, const void *b, size_t bytes) { return memcmp(a, b, bytes) == 0; }

/* ---- dropout --------------------------------------------------------------------------- */

/* The serial loop: unit i kept when its draw, the (i + 1)-th of the stream, is >= p. */
static void dropout_plain(float *y, uint8_t *mask, const float *x, int64_t n, float p,
                          uint64_t *state)
{
    const float scale = 1.0f / (1.0f - p);
    for (int64_t i = 0; i < n; i++) {
        mask[i] = ann_random_uniform(state) >= p;
        y[i] = mask[i] ? x[i] * scale : 0.0f;
    }
}

static void test_dropout(void)
{
    const float p = 0.1f;
    float *x = floats(N), *want = floats(N), *y = floats(N), *g = floats(N), *dx = floats(N);
    float *dx_want = floats(N);
    uint8_t *mask_want = malloc(N), *mask = malloc(N);
    if (!mask_want || !mask) exit(2);
    for (int64_t i = 0; i < N; i++) x[i] = uniform_pm(1.0f);
    uint64_t want_state = 0xD80F0D80FULL;
    dropout_plain(want, mask_want, x, N, p, &want_state);
    /* backward of the same mask, with the scale as the op computes it: once, then multiplied */
    const float scale = 1.0f / (1.0f - p);
    for (int64_t i = 0; i < N; i++) dx_want[i] = mask_want[i] ? x[i] * scale : 0.0f;

    for (int c = 0; c < N_COUNTS; c++) {
        const int t = thread_counts[c];
        ann_set_num_threads(t);
        uint64_t state = 0xD80F0D80FULL;
        memset(mask, 7, N);
        int status = ann_dropout_forward(y, mask, x, N, p, &state);
        CHECK(status == ANN_OK, "dropout_forward, %d threads: status %d", t, status);
        CHECK(same(y, want, N * sizeof(float)), "dropout_forward, %d threads: y differs", t);
        CHECK(same(mask, mask_want, N), "dropout_forward, %d threads: mask differs", t);
        CHECK(state == want_state, "dropout_forward, %d threads: the stream ends elsewhere", t);

        /* in place, as the network calls it: y = x first */
        memcpy(y, x, N * sizeof(float));
        state = 0xD80F0D80FULL;
        status = ann_dropout_forward(y, mask, y, N, p, &state);
        CHECK(status == ANN_OK && same(y, want, N * sizeof(float)),
              "dropout_forward in place, %d threads: y differs", t);

        /* backward: out of place, then in place */
        status = ann_dropout_backward(dx, x, mask_want, N, p);
        CHECK(status == ANN_OK && same(dx, dx_want, N * sizeof(float)),
              "dropout_backward, %d threads: dx differs", t);
        memcpy(g, x, N * sizeof(float));
        status = ann_dropout_backward(g, g, mask_want, N, p);
        CHECK(status == ANN_OK && same(g, dx_want, N * sizeof(float)),
              "dropout_backward in place, %d threads: dx differs", t);
    }
    /* every draw matters: a pass of n = 1 moves the stream one draw on, as the serial loop */
    uint64_t one = 99, plain = 99;
    float y1, x1 = 0.5f;
    uint8_t m1;
    CHECK(ann_dropout_forward(&y1, &m1, &x1, 1, p, &one) == ANN_OK, "dropout_forward, n = 1");
    (void)ann_random_uniform(&plain);
    CHECK(one == plain, "dropout_forward, n = 1: the stream ends elsewhere");
    free(x), free(want), free(y), free(g), free(dx), free(dx_want), free(mask_want), free(mask);
}

/* ---- the optimizers -------------------------------------------------------------------- */

typedef struct {
    float *params, *m, *v, *grads;
} opt_state;

static opt_state state_copy(const opt_state *from)
{
    opt_state s = {floats(N), floats(N), floats(N), floats(N)};
    memcpy(s.params, from->params, N * sizeof(float));
    memcpy(s.m, from->m, N * sizeof(float));
    memcpy(s.v, from->v, N * sizeof(float));
    memcpy(s.grads, from->grads, N * sizeof(float));
    return s;
}

static void state_free(opt_state *s) { free(s->params), free(s->m), free(s->v), free(s->grads); }

static int state_same(const opt_state *a, const opt_state *b)
{
    const size_t bytes = N * sizeof(float);
    return same(a->params, b->params, bytes) && same(a->m, b->m, bytes) && same(a->v, b->v, bytes);
}

/* The plain loops, as the optimizers' formulas read (ann.h, docs/optimizers.md). */
static void adam_plain(opt_state *s, float lr, float b1, float b2, float eps, int64_t t)
{
    const float c1 = (float)(1.0 - pow(b1, (double)t)), c2 = (float)(1.0 - pow(b2, (double)t));
    for (int64_t i = 0; i < N; i++) {
        const float g = s->grads[i];
        s->m[i] = b1 * s->m[i] + (1.0f - b1) * g;
        s->v[i] = b2 * s->v[i] + (1.0f - b2) * g * g;
        s->params[i] -= lr * (s->m[i] / c1) / (sqrtf(s->v[i] / c2) + eps);
    }
}

static void momentum_plain(opt_state *s, float lr, float mu, int nesterov)
{
    for (int64_t i = 0; i < N; i++) {
        s->m[i] = mu * s->m[i] + s->grads[i];
        s->params[i] -= lr * (nesterov ? s->grads[i] + mu * s->m[i] : s->m[i]);
    }
}

static void sgd_plain(opt_state *s, float lr)
{
    for (int64_t i = 0; i < N; i++) s->params[i] -= lr * s->grads[i];
}

static void test_optimizers(void)
{
    opt_state start = {floats(N), floats(N), floats(N), floats(N)};
    for (int64_t i = 0; i < N; i++) {
        start.params[i] = uniform_pm(0.1f);
        start.m[i] = uniform_pm(1e-3f);
        start.v[i] = 1e-6f * ann_random_uniform(&g_rng);
        start.grads[i] = i % 5 == 0 ? 0.0f : uniform_pm(1e-2f);   /* some zero, as for pixels */
    }
    const char *names[] = {"adam", "momentum", "nesterov", "sgd"};
    for (int rule = 0; rule < 4; rule++) {
        opt_state want = state_copy(&start);
        if (rule == 0) adam_plain(&want, 2e-3f, 0.9f, 0.999f, 1e-8f, 7);
        if (rule == 1 || rule == 2) momentum_plain(&want, 0.05f, 0.9f, rule == 2);
        if (rule == 3) sgd_plain(&want, 0.05f);
        for (int c = 0; c < N_COUNTS; c++) {
            const int t = thread_counts[c];
            ann_set_num_threads(t);
            opt_state got = state_copy(&start);
            int status;
            if (rule == 0)
                status = ann_adam_update(got.params, got.m, got.v, got.grads, N, 2e-3f, 0.9f,
                                         0.999f, 1e-8f, 7);
            else if (rule < 3)
                status = ann_momentum_update(got.params, got.m, got.grads, N, 0.05f, 0.9f,
                                             rule == 2);
            else
                status = ann_sgd_update(got.params, got.grads, N, 0.05f);
            CHECK(status == ANN_OK, "%s, %d threads: status %d", names[rule], t, status);
            CHECK(state_same(&got, &want), "%s, %d threads: differs from the plain loop",
                  names[rule], t);
            state_free(&got);
        }
        state_free(&want);
    }
    state_free(&start);
}

int main(void)
{
    test_dropout();
    test_optimizers();
    ann_set_num_threads(0);
    printf("test_passes: %s (%d failures)\n", failures ? "FAILED" : "passed", failures);
    return failures != 0;
}
