/*
 * test_net.c -- out of memory at any allocation of the network leaves it as it was; and the
 * core computes with denormals flushed to zero while its caller keeps gradual underflow.
 *
 * cflags: -DANN_TEST_ALLOC
 * (the line above is read by the build scripts: this driver is compiled, with every .c file of
 * csrc/, with ANN_TEST_ALLOC defined, which makes the network allocate through the two
 * functions below instead of malloc and calloc; see internal.h)
 *
 *   make c-test          builds and runs it (with test_gemm)
 *   test_net --no-denormal-check   all but the denormal check, for valgrind, which computes
 *                        floats in software and ignores the flush-to-zero mode
 *
 * The hook counts the allocations and fails the one numbered g_fail_at (then no other), so a
 * test can run a scenario once clean, count its allocations, and then again failing each one
 * in turn. ann.h's promise checked for every one of them: the call that ran out of memory
 * returns ANN_E_NOMEM, the network still predicts, the same call made again succeeds, and the
 * scenario ends with the same bits as the clean run, so the failed call left nothing behind.
 * Everything runs on one thread (ann_set_num_threads(1)), so the allocations come in the same
 * order every time and the counter needs no lock.
 *
 * The denormal check (platform.h) runs here, in C, so that the cross builds check the x86 code
 * under wine and the aarch64 code under qemu.
 */
#include "ann.h"
#include "check.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the allocation hook (internal.h) ------------------------------------------------------ */

static long g_allocs;     /* allocations since the hook was last armed */
static long g_fail_at;    /* fail allocation number g_fail_at (1, 2, ...); 0: fail none */
static int g_fired;       /* 1 once the failure has happened */

static void arm(long fail_at)
{
    g_allocs = 0;
    g_fail_at = fail_at;
    g_fired = 0;
}

static int should_fail(void)
{
    if (++g_allocs != g_fail_at) return 0;
    g_fired = 1;
    return 1;
}

void *ann__test_malloc(size_t size) { return should_fail() ? NULL : malloc(size); }
void *ann__test_calloc(size_t count, size_t size)
{
    return should_fail() ? NULL : calloc(count, size);
}

/* ---- data ---------------------------------------------------------------------------------- */

enum { N = 40, H = 4, W = 4, D = H * W, K = 3, B = 10 };

static float g_features[N * D];
static int32_t g_labels[N];
static const ann_data g_data = {g_features, ANN_F32, g_labels, N, NULL, 0};

static void make_data(void)
{
    uint64_t state = 3;
    for (int i = 0; i < N * D; i++) g_features[i] = ann_random_uniform(&state);
    for (int i = 0; i < N; i++) g_labels[i] = (int32_t)(ann_random_uniform(&state) * K);
}

/* The network still answers: a failed call must not have left it half set up. */
static int predicts(ann_net *net)
{
    int32_t classes[N];
    return ann_net_predict(net, NULL, classes, NULL, NULL, &g_data, NULL, N) == ANN_OK;
}

/* ---- 1. each allocation of a whole scenario fails once -------------------------------------- */

/* Run `call`; if it ran out of memory because of the injected failure, check that the network
 * still predicts and run it again (the hook fails once only). It must end with ANN_OK. */
#define STEP(net, call)                                                                     \
    do {                                                                                    \
        int status_ = (call);                                                               \
        if (status_ == ANN_E_NOMEM && g_fired && !retried) {                                \
            retried = 1;                                                                    \
            CHECK(!(net) || predicts(net), "fail_at %ld: %s left a network that cannot "    \
                  "predict", fail_at, #call);                                               \
            status_ = (call);                                                               \
        }                                                                                   \
        CHECK(status_ == ANN_OK, "fail_at %ld: %s: %s", fail_at, #call, ann_strerror(status_)); \
        if (status_ != ANN_OK) goto done;                                                   \
    } while (0)

/* Create, set up and train a network, failing allocation fail_at (0: none), and leave its
 * predicted probabilities (N, K) in probs. Returns the allocations counted. */
static long scenario(long fail_at, float *probs)
{
    static const int32_t sizes[] = {D, 12, 8, K};
    const ann_augment aug = {10.0f, 0.1f, 0.1f, 1.0f, 2.0f, 1.5f, 7};
    float mean[D], std[D];
    for (int i = 0; i < D; i++) mean[i] = 0.5f, std[i] = 0.3f;
    int32_t order[N];
    for (int i = 0; i < N; i++) order[i] = (i * 7) % N;
    ann_net *net = NULL;
    int retried = 0;
    memset(probs, 0, sizeof(float) * N * K);
    arm(fail_at);
    STEP(net, ann_net_create(&net, sizes, 4, 1, 0.2f));
    STEP(net, ann_net_init(net, 5, ANN_INIT_UNIFORM));
    STEP(net, ann_net_set_optimizer(net, ANN_ADAM, 0.0f, 0.9f, 0.999f, 1e-8f, 1e-4f));
    STEP(net, ann_net_set_max_norm(net, 3.0f));
    STEP(net, ann_net_set_standardization(net, mean, std));
    STEP(net, ann_net_set_augment(net, &aug, H, W));
    for (int s = 0; s < 3; s++) {
        double loss = 0.0;
        STEP(net, ann_net_train_step(net, &loss, NULL, &g_data, order + s * B, B, 0.01f));
    }
    STEP(net, ann_net_set_optimizer(net, ANN_MOMENTUM, 0.9f, 0.0f, 0.0f, 0.0f, 0.0f));
    for (int s = 0; s < 2; s++) {
        double loss = 0.0;
        STEP(net, ann_net_train_step(net, &loss, NULL, &g_data, order + s * B, B, 0.05f));
    }
    STEP(net, ann_net_predict(net, probs, NULL, NULL, NULL, &g_data, NULL, N));
    CHECK(fail_at == 0 || g_fired, "fail_at %ld: the failure was never injected", fail_at);
    CHECK(g_fired == retried, "fail_at %ld: the injected failure went unreported", fail_at);
done:
    ann_net_destroy(net);
    return g_allocs;
}

static void test_every_allocation_can_fail(void)
{
    static float clean[N * K], probs[N * K];
    const long allocs = scenario(0, clean);
    CHECK(allocs > 10, "only %ld allocations counted: is the hook compiled in?", allocs);
    for (long fail_at = 1; fail_at <= allocs; fail_at++) {
        scenario(fail_at, probs);
        CHECK(memcmp(probs, clean, sizeof clean) == 0,
              "fail_at %ld: the run ended with other bits than the clean run", fail_at);
    }
    printf("  out of memory at each of %ld allocations: handled\n", allocs);
}

/* ---- 2. the two setters that allocate twice ------------------------------------------------- */

/* A D-8-K network, initialised, every allocation allowed; NULL (a failure counted) if not. */
static ann_net *small_net(void)
{
    static const int32_t sizes[] = {D, 8, K};
    ann_net *net = NULL;
    arm(0);
    const int status = ann_net_create(&net, sizes, 3, 0, 0.0f);
    CHECK(status == ANN_OK, "create: %s", ann_strerror(status));
    if (net) ann_net_init(net, 1, ANN_INIT_UNIFORM);
    return net;
}

/* ann_net_set_standardization allocates mean and std: if the second allocation fails, the
 * network must keep no standardisation at all (not a mean without a std, which failed every
 * later batch with ANN_E_NULL), and predict exactly as before the call. */
static void test_standardization_runs_out_of_memory_halfway(void)
{
    float mean[D], std[D], before[N * K], after[N * K];
    for (int i = 0; i < D; i++) mean[i] = 0.5f, std[i] = 0.25f;
    ann_net *net = small_net();
    if (!net) return;
    CHECK(ann_net_predict(net, before, NULL, NULL, NULL, &g_data, NULL, N) == ANN_OK, "predict");
    for (long fail_at = 1; fail_at <= 2; fail_at++) {
        arm(fail_at);
        int status = ann_net_set_standardization(net, mean, std);
        CHECK(status == ANN_E_NOMEM && g_fired, "allocation %ld of 2 failed: status %d", fail_at,
              status);
        arm(0);
        status = ann_net_predict(net, after, NULL, NULL, NULL, &g_data, NULL, N);
        CHECK(status == ANN_OK, "allocation %ld of 2 failed, then predict: %s", fail_at,
              ann_strerror(status));
        CHECK(memcmp(before, after, sizeof before) == 0,
              "allocation %ld of 2 failed, and the predictions changed", fail_at);
    }
    arm(0);
    CHECK(ann_net_set_standardization(net, mean, std) == ANN_OK, "standardization");
    CHECK(ann_net_predict(net, after, NULL, NULL, NULL, &g_data, NULL, N) == ANN_OK &&
              memcmp(before, after, sizeof before) != 0,
          "standardization set, and the predictions did not change");
    ann_net_destroy(net);
}

/* Choosing Adam allocates m and v: if v fails, the network keeps its old rule and no buffer
 * of the new one (ann_net_opt_m stays NULL for plain SGD). */
static void test_optimizer_runs_out_of_memory_halfway(void)
{
    ann_net *net = small_net();
    if (!net) return;
    arm(2);
    CHECK(ann_net_set_optimizer(net, ANN_ADAM, 0.0f, 0.9f, 0.999f, 1e-8f, 0.0f) == ANN_E_NOMEM
              && g_fired, "the second allocation of Adam failed, yet it returned another code");
    CHECK(ann_net_opt_m(net) == NULL && ann_net_opt_v(net) == NULL,
          "a failed Adam left a buffer behind");
    arm(0);
    double loss = 0.0;
    int32_t order[B];
    for (int i = 0; i < B; i++) order[i] = i;
    CHECK(ann_net_train_step(net, &loss, NULL, &g_data, order, B, 0.1f) == ANN_OK,
          "SGD after a failed Adam");
    ann_net_destroy(net);
}

/* ---- 3. denormals ------------------------------------------------------------------------ */

#if defined(__x86_64__) || defined(_M_X64) || defined(__SSE__) || defined(__aarch64__)
#define CORE_FLUSHES 1
#else
#define CORE_FLUSHES 0 /* platform.c leaves the mode alone on this target */
#endif

/* This thread's own arithmetic still makes denormals (volatile: computed now, not folded by
 * the compiler). */
static int caller_keeps_gradual_underflow(void)
{
    volatile float tiny = FLT_MIN, half = 0.5f;
    volatile float below = tiny * half;
    return below != 0.0f;
}

/* ann_sgd_update with theta = 1.5 FLT_MIN, g = FLT_MIN, lr = 1: theta - g = 0.5 FLT_MIN is
 * denormal, so the core must write 0, on the calling thread (n = 5) and on the pool's workers
 * (n above ops.c's 4 x 65,536, 4 threads); and the caller's mode must come back. */
static void test_denormals_are_flushed_and_the_mode_given_back(void)
{
    CHECK(caller_keeps_gradual_underflow(), "the test's own thread flushes before any call");
    enum { BIG = 4 * 65536 + 5 };
    static float params[BIG], grads[BIG];
    const int sizes[] = {5, BIG};
    ann_set_num_threads(4);
    for (int t = 0; t < 2; t++) {
        const int n = sizes[t];
        for (int i = 0; i < n; i++) params[i] = 1.5f * FLT_MIN, grads[i] = FLT_MIN;
        CHECK(ann_sgd_update(params, grads, n, 1.0f) == ANN_OK, "sgd_update");
        int zeros = 0;
        for (int i = 0; i < n; i++) zeros += params[i] == 0.0f;
        CHECK(zeros == (CORE_FLUSHES ? n : 0), "%d of %d denormal results flushed (expected %s)",
              zeros, n, CORE_FLUSHES ? "all" : "none");
        CHECK(caller_keeps_gradual_underflow(), "the caller's mode was not given back");
    }
    ann_set_num_threads(1);
    printf("  denormals %s in the core, kept by the caller\n",
           CORE_FLUSHES ? "flushed" : "kept (no flushing mode on this target)");
}

int main(int argc, char **argv)
{
    ann_set_num_threads(1);
    make_data();
    test_standardization_runs_out_of_memory_halfway();
    test_optimizer_runs_out_of_memory_halfway();
    test_every_allocation_can_fail();
    if (argc > 1 && strcmp(argv[1], "--no-denormal-check") == 0)
        printf("  denormals: not checked (--no-denormal-check)\n");
    else
        test_denormals_are_flushed_and_the_mode_given_back();
    printf("test_net: %s (%d failures)\n", failures ? "FAILED" : "passed", failures);
    return failures != 0;
}
