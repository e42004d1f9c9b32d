/*
 * test_passes.c -- the elementwise passes that run on the thread pool (csrc/ops.c through
 * ann__parallel_range in csrc/pool.c): each against the plain serial loop it replaces, written
 * out here, and for 1, 2, 3 and 8 threads, which must all give the same bits.
 *
 * Passes: dropout forward (whose random draws are cut between threads: the stream must come
 * out as one serial loop would draw it) and backward (in place and not), the Adam, momentum,
 * Nesterov and SGD updates; the row passes of a dense layer (bias add, bias + ReLU, ReLU and
 * its backward, dropout + ReLU backward in one sweep, column sums, the uint8 batch gather);
 * and ann_net_predict, which shares whole blocks of rows out between threads (against the
 * blocks predicted one call at a time). Sizes are large enough that the pool splits them
 * (checked with ann__pool_split_jobs), and not a multiple of any vector width. Last, the
 * small-work threshold: calls too small to gain from a second thread must not use one.
 *
 * The vectorized passes come in copies for each instruction set, picked with the matrix
 * kernel ($ANN_KERNEL): `make c-test` runs this program once per kernel the CPU has (a
 * kernel it lacks makes the program say so and stop, passing). tools/sanitize.sh and the
 * cross builds run it too (every driver of tests/c/).
 */
#include "../../csrc/ann.h"
#include "../../csrc/internal.h"
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

/* ---- the row passes of a dense layer ----------------------------------------------------- */

#define ROWS 4099    /* rows of a batch: large enough to split, odd */
#define COLS 517     /* units of a layer: not a multiple of any vector width */

static void test_row_passes(void)
{
    const size_t n = (size_t)ROWS * COLS;
    float *z = floats(n), *b = floats(COLS), *want = floats(n), *got = floats(n);
    float *g = floats(n), *y = floats(n), *sum_want = floats(COLS), *sum_got = floats(COLS);
    uint8_t *mask = malloc(n), *pixels = malloc(n);
    int32_t *idx = malloc(ROWS * sizeof(int32_t));
    if (!mask || !pixels || !idx) exit(2);
    for (size_t i = 0; i < n; i++) {
        z[i] = uniform_pm(1.0f);
        g[i] = uniform_pm(1e-2f);
        pixels[i] = (uint8_t)(ann_random_uniform(&g_rng) * 256.0f);
    }
    for (int j = 0; j < COLS; j++) b[j] = uniform_pm(0.5f);
    for (int r = 0; r < ROWS; r++) idx[r] = (r * 13) % ROWS;   /* 13 and 4099 are coprime */
    /* y = relu(z), and a dropout(0.25) mask, for the fused backward */
    const float p = 0.25f;
    for (size_t i = 0; i < n; i++) {
        mask[i] = ann_random_uniform(&g_rng) >= p;
        y[i] = z[i] > 0.0f ? z[i] : 0.0f;
    }
    for (int c = 0; c < N_COUNTS; c++) {
        const int t = thread_counts[c];
        ann_set_num_threads(t);
        const int split_before = ann__pool_split_jobs();

        /* bias add: y (B, n) += b (n), the plain loop */
        for (size_t i = 0; i < n; i++) want[i] = z[i] + b[i % COLS];
        memcpy(got, z, n * sizeof(float));
        ann__add_bias(got, b, ROWS, COLS);
        CHECK(same(got, want, n * sizeof(float)), "add_bias, %d threads: differs", t);

        /* bias + ReLU */
        for (size_t i = 0; i < n; i++) want[i] = want[i] > 0.0f ? want[i] : 0.0f;
        memcpy(got, z, n * sizeof(float));
        ann__bias_activation(got, got, b, ROWS, COLS, ANN_RELU, 0.0f);
        CHECK(same(got, want, n * sizeof(float)), "bias_activation (ReLU), %d threads: differs",
              t);

        /* ReLU forward, in place */
        for (size_t i = 0; i < n; i++) want[i] = z[i] > 0.0f ? z[i] : 0.0f;
        memcpy(got, z, n * sizeof(float));
        CHECK(ann_relu_forward(got, got, (int64_t)n) == ANN_OK &&
                  same(got, want, n * sizeof(float)), "relu_forward, %d threads: differs", t);

        /* ReLU backward, in place, mask from the output */
        for (size_t i = 0; i < n; i++) want[i] = y[i] > 0.0f ? g[i] : 0.0f;
        memcpy(got, g, n * sizeof(float));
        CHECK(ann_relu_backward(got, got, y, (int64_t)n) == ANN_OK &&
                  same(got, want, n * sizeof(float)), "relu_backward, %d threads: differs", t);

        /* dropout + ReLU backward in one sweep against the two textbook ops one after the
         * other (on one thread: the reference) */
        ann_set_num_threads(1);
        memcpy(want, g, n * sizeof(float));
        CHECK(ann_dropout_backward(want, want, mask, (int64_t)n, p) == ANN_OK &&
                  ann_relu_backward(want, want, y, (int64_t)n) == ANN_OK,
              "dropout and relu backward: status");
        ann_set_num_threads(t);
        memcpy(got, g, n * sizeof(float));
        ann__relu_dropout_backward(got, y, mask, (int64_t)n, p);
        CHECK(same(got, want, n * sizeof(float)),
              "relu_dropout_backward, %d threads: differs from the two passes", t);

        /* column sums, rows added in order */
        for (int j = 0; j < COLS; j++) sum_want[j] = 0.0f;
        for (int r = 0; r < ROWS; r++)
            for (int j = 0; j < COLS; j++) sum_want[j] += g[(size_t)r * COLS + j];
        ann__sum_rows(sum_got, g, ROWS, COLS);
        CHECK(same(sum_got, sum_want, COLS * sizeof(float)), "sum_rows, %d threads: differs", t);

        /* the uint8 batch gather: rows idx[r] / 255 */
        for (int r = 0; r < ROWS; r++)
            for (int j = 0; j < COLS; j++)
                want[(size_t)r * COLS + j] =
                    (float)pixels[(size_t)idx[r] * COLS + j] * (1.0f / 255.0f);
        CHECK(ann_gather_u8(got, pixels, ROWS, idx, ROWS, COLS) == ANN_OK &&
                  same(got, want, n * sizeof(float)), "gather_u8, %d threads: differs", t);
        idx[ROWS - 1] = ROWS;   /* a bad index is still refused */
        CHECK(ann_gather_u8(got, pixels, ROWS, idx, ROWS, COLS) == ANN_E_INDEX,
              "gather_u8 with a bad index, %d threads", t);
        idx[ROWS - 1] = (ROWS - 1) * 13 % ROWS;

        /* with more than one thread, these sizes did go to the pool (else nothing was split) */
        if (t > 1)
            CHECK(ann__pool_split_jobs() - split_before >= 7,
                  "row passes, %d threads: only %d of them split", t,
                  ann__pool_split_jobs() - split_before);
    }
    free(z), free(b), free(want), free(got), free(g), free(y), free(sum_want), free(sum_got);
    free(mask), free(pixels), free(idx);
}

/* ---- the small-work threshold ------------------------------------------------------------- */

/* "Never slower with more threads": a call whose work is shorter than two chunks'
 * (ANN__MIN_CHUNK_NS, internal.h) runs on the calling thread alone, since handing work to
 * another thread costs more than it saves. Each call below is of a size the network makes
 * (batch 128 and narrower, the seed network's products, a 10-row prediction) and must not
 * reach the pool with 2 or 8 threads; the test would pass vacuously if nothing ever split, so
 * the large passes above are checked to split. */
static void test_small_calls_stay_on_one_thread(void)
{
    enum { SMALL = 20000 };
    float *a = floats(SMALL), *b2 = floats(SMALL), *c = floats(SMALL), *d = floats(SMALL);
    uint8_t *mask = malloc(SMALL), *pixels = malloc(SMALL);
    int32_t idx[16];
    if (!mask || !pixels) exit(2);
    for (int i = 0; i < SMALL; i++) {
        a[i] = uniform_pm(1.0f), b2[i] = uniform_pm(1.0f), c[i] = 0.0f, d[i] = 1e-4f;
        pixels[i] = (uint8_t)i;
    }
    for (int i = 0; i < 16; i++) idx[i] = i;
    const int counts[] = {2, 8};
    for (int k = 0; k < 2; k++) {
        ann_set_num_threads(counts[k]);
        const int before = ann__pool_split_jobs();
        uint64_t state = 1;
        CHECK(ann_sgd_update(a, b2, SMALL, 0.01f) == ANN_OK, "small sgd");
        CHECK(ann_momentum_update(a, c, b2, SMALL, 0.01f, 0.9f, 0) == ANN_OK, "small momentum");
        CHECK(ann_adam_update(a, c, d, b2, SMALL, 1e-3f, 0.9f, 0.999f, 1e-8f, 3) == ANN_OK,
              "small adam");
        CHECK(ann_dropout_forward(c, mask, a, SMALL, 0.1f, &state) == ANN_OK, "small dropout");
        CHECK(ann_dropout_backward(c, c, mask, SMALL, 0.1f) == ANN_OK, "small dropout back");
        CHECK(ann_relu_forward(c, a, SMALL) == ANN_OK, "small relu");
        CHECK(ann_relu_backward(c, b2, a, SMALL) == ANN_OK, "small relu backward");
        ann__bias_activation(c, c, a, 16, 1024, ANN_RELU, 0.0f);
        ann__sum_rows(d, c, 16, 1024);
        CHECK(ann_gather_u8(c, pixels, 16, idx, 16, 784) == ANN_OK, "small gather");
        /* the seed network's products at batch 256: (256, 784) x (784, 20) and the rest */
        CHECK(ann_sgemm(0, 0, 16, 20, 784, c, 784, a, 20, 0.0f, d, 20) == ANN_OK, "small sgemm");
        CHECK(ann_sgemm(1, 0, 20, 7, 256, a, 20, b2, 7, 0.0f, d, 7) == ANN_OK, "small sgemm AtB");
        CHECK(ann__pool_split_jobs() == before,
              "%d threads: %d small calls were split between threads", counts[k],
              ann__pool_split_jobs() - before);
    }
    free(a), free(b2), free(c), free(d), free(mask), free(pixels);
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
    const ann_data data = {x, ANN_F32, labels, PRED_N, NULL, 0};
    const int32_t sizes[] = {PRED_D, 64, 32, PRED_K};
    ann_net *net = NULL;
    if (ann_net_create(&net, sizes, 4, 0, 0.0f) != ANN_OK || ann_net_init(net, 5, ANN_INIT_UNIFORM) != ANN_OK) {
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
    /* run under $ANN_KERNEL by `make c-test`, once per kernel: one this CPU lacks is skipped */
    if (strcmp(ann_kernel_name(), "invalid ANN_KERNEL") == 0) {
        printf("test_passes: ANN_KERNEL=%s is not a kernel of this CPU: skipped\n",
               getenv("ANN_KERNEL"));
        return 0;
    }
    printf("test_passes: kernel %s\n", ann_kernel_name());
    test_dropout();
    test_optimizers();
    test_row_passes();
    test_small_calls_stay_on_one_thread();
    test_predict();
    ann_set_num_threads(0);
    printf("test_passes: %s (%d failures)\n", failures ? "FAILED" : "passed", failures);
    return failures != 0;
}
