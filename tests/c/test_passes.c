/*
 * test_passes.c -- the elementwise passes that run on the thread pool (csrc/ops.c through
 * ann__parallel_range in csrc/pool.c): each against the plain serial loop it replaces, written
 * out here, and for 1, 2, 3 and 8 threads, which must all give the same bits.
 *
 * Passes: dropout forward (whose random draws are cut between threads: the stream must come
 * out as one serial loop would draw it) and backward (in place and not), the Adam, momentum,
 * Nesterov and SGD updates; and ann_net_predict, which shares whole blocks of rows out
 * between threads (against the blocks predicted one call at a time). Sizes are large enough that the pool splits them, and not a
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

/* ---- prediction -------------------------------------------------------------------------- */

/* ann_net_predict shares whole blocks of 256 rows out between threads when it has two blocks
 * per thread or more: the outputs, the loss sum (added in block order) and the hits must be
 * those of one thread, which are those of the blocks predicted one call at a time. */
#define PRED_N 3000   /* 12 blocks, the last one short */
#define PRED_D 48
#define PRED_K 4

static void test_predict(void)
{
    float *x = floats((size_t)PRED_N * PRED_D);
    int32_t *labels = malloc(PRED_N * sizeof(int32_t)), *idx = malloc(PRED_N * sizeof(int32_t));
    if (!labels || !idx) exit(2);
    /* rows of very different scales, so that the blocks' losses differ by orders of magnitude
     * and a sum in another order would round differently */
    for (int64_t i = 0; i < (int64_t)PRED_N * PRED_D; i++)
        x[i] = uniform_pm(1.0f) * (float)(1 + (i / PRED_D) % 97) * (float)(1 + (i / PRED_D) % 13);
    for (int i = 0; i < PRED_N; i++) {
        labels[i] = i % PRED_K;
        idx[i] = (i * 7) % PRED_N;   /* a permutation: 7 and 3000 are coprime */
    }
    const ann_data data = {x, ANN_F32, labels, PRED_N};
    const int32_t sizes[] = {PRED_D, 64, 32, PRED_K};
    ann_net *net = NULL;
    if (ann_net_create(&net, sizes, 4, 0, 0.0f) != ANN_OK || ann_net_init(net, 5) != ANN_OK) {
        CHECK(0, "predict: cannot make the network");
        return;
    }
    /* the reference: one block per call, on one thread, loss sums added in block order */
    float *want_probs = floats((size_t)PRED_N * PRED_K), *probs = floats((size_t)PRED_N * PRED_K);
    int32_t *want_classes = malloc(PRED_N * sizeof(int32_t));
    int32_t *classes = malloc(PRED_N * sizeof(int32_t));
    if (!want_classes || !classes) exit(2);
    double want_loss = 0.0;
    int64_t want_correct = 0;
    ann_set_num_threads(1);
    for (int start = 0; start < PRED_N; start += 256) {
        const int rows = PRED_N - start < 256 ? PRED_N - start : 256;
        double loss = 0.0;
        int64_t hits = 0;
        const int status = ann_net_predict(net, want_probs + (size_t)start * PRED_K,
                                           want_classes + start, &loss, &hits, &data,
                                           idx + start, rows);
        CHECK(status == ANN_OK, "predict, block at %d: status %d", start, status);
        want_loss += loss;
        want_correct += hits;
    }
    for (int c = 0; c < N_COUNTS; c++) {
        const int t = thread_counts[c];
        ann_set_num_threads(t);
        double loss = -1.0;
        int64_t hits = -1;
        int status = ann_net_predict(net, probs, classes, &loss, &hits, &data, idx, PRED_N);
        CHECK(status == ANN_OK, "predict, %d threads: status %d", t, status);
        CHECK(same(probs, want_probs, (size_t)PRED_N * PRED_K * sizeof(float)),
              "predict, %d threads: probabilities differ", t);
        CHECK(same(classes, want_classes, PRED_N * sizeof(int32_t)),
              "predict, %d threads: classes differ", t);
        CHECK(loss == want_loss, "predict, %d threads: loss sum %.17g, want %.17g", t, loss,
              want_loss);
        CHECK(hits == want_correct, "predict, %d threads: %lld correct, want %lld", t,
              (long long)hits, (long long)want_correct);
        /* a bad row index in the sixth block fails the call, on any thread count */
        idx[5 * 256 + 3] = PRED_N;
        status = ann_net_predict(net, probs, classes, &loss, &hits, &data, idx, PRED_N);
        CHECK(status == ANN_E_INDEX, "predict with a bad index, %d threads: status %d", t,
              status);
        idx[5 * 256 + 3] = (5 * 256 + 3) * 7 % PRED_N;
    }
    ann_net_destroy(net);
    free(x), free(labels), free(idx), free(want_probs), free(probs), free(want_classes);
    free(classes);
}

int main(void)
{
    test_dropout();
    test_optimizers();
    test_predict();
    ann_set_num_threads(0);
    printf("test_passes: %s (%d failures)\n", failures ? "FAILED" : "passed", failures);
    return failures != 0;
}
