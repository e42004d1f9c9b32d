/*
 * train_smoke.c -- a short training run through the C API alone, for valgrind and the
 * sanitizers: no Python in the process, so every report is about the core.
 *
 * Builds a learnable synthetic task (the class is the brightest of K pixel bands), trains a
 * small network with each optimizer, with and without batch norm and dropout, checks that the
 * loss falls, exercises prediction on index lists and float inputs, and feeds every entry
 * point a few bad arguments that must come back as error codes. Then every activation with
 * every head, on labels and on float targets (train_design).
 *
 *   cd csrc && gcc -O1 -g -pthread -I. ../tests/c/train_smoke.c *.c -lm -o /tmp/train_smoke
 * (from csrc/, so that the glob's slash-star does not open a comment here: -Wcomment)
 */
#include "ann.h"
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N = 600, D = 48, K = 4 };

/* mostly_zero != 0: 90 % of the background pixels are 0, as 81 % of MNIST's are */
static void make_data(uint8_t *images, int32_t *labels, int mostly_zero)
{
    uint64_t state = 42;
    for (int i = 0; i < N; i++) {
        int label = (int)(ann_random_uniform(&state) * K);
        labels[i] = label;
        for (int j = 0; j < D; j++) {
            int bright = j / (D / K) == label;
            float background = ann_random_uniform(&state) * 60;
            if (mostly_zero && ann_random_uniform(&state) < 0.9f) background = 0.0f;
            images[i * D + j] = (uint8_t)(background + (bright ? 150 : 0));
        }
    }
}

/* floats != NULL: train on these float32 features (the pixels / 255) instead of the pixels */
static void train(const uint8_t *images, const float *floats, const int32_t *labels,
                  int optimizer, int batchnorm, float dropout, float lr, int fused)
{
    const ann_data data = {floats ? (const void *)floats : images, floats ? ANN_F32 : ANN_U8,
                           labels, N, NULL, 0};
    const int32_t sizes[] = {D, 20, 8, K};     /* 20: not a multiple of 8, so padded */
    ann_net *net = NULL;
    int status = ann_net_create(&net, sizes, 4, batchnorm, dropout);
    CHECK(status == ANN_OK, "create: %s", ann_strerror(status));
    if (!net) return;
    ann_net_init(net, 7, ANN_INIT_UNIFORM);
    CHECK(ann_net_set_fused(net, fused) == ANN_OK, "set_fused");   /* 0: net.c's plain path */
    /* plain SGD without L2 takes the fused update path of net_fused.c; the others add L2 */
    status = ann_net_set_optimizer(net, optimizer, 0.9f, 0.9f, 0.999f, 1e-8f,
                                   optimizer == ANN_SGD ? 0.0f : 1e-4f);
    CHECK(status == ANN_OK, "set_optimizer: %s", ann_strerror(status));

    int32_t order[N];
    for (int i = 0; i < N; i++) order[i] = i;
    uint64_t shuffle_state = 1;
    double first = 0.0, last = 0.0;
    for (int epoch = 0; epoch < 8; epoch++) {
        ann_shuffle(order, N, &shuffle_state);
        double total = 0.0;
        for (int start = 0; start < N; start += 50) {
            int B = N - start < 50 ? N - start : 50;
            double loss = 0.0;
            int64_t correct = 0;
            status = ann_net_train_step(net, &loss, &correct, &data, order + start, B, lr);
            CHECK(status == ANN_OK, "train_step: %s", ann_strerror(status));
            total += loss * B;
        }
        if (epoch == 0) first = total / N;
        last = total / N;
    }
    CHECK(last < 0.5 * first, "loss did not fall: %g -> %g (opt %d bn %d dropout %g fused %d)",
          first, last, optimizer, batchnorm, dropout, fused);

    double loss_sum = 0.0;
    int64_t correct = 0;
    int32_t *classes = malloc(N * sizeof *classes);
    float *probs = malloc((size_t)N * K * sizeof *probs);
    status = ann_net_predict(net, probs, classes, &loss_sum, &correct, &data, NULL, N);
    CHECK(status == ANN_OK, "predict: %s", ann_strerror(status));
    CHECK(correct > 0.8 * N, "accuracy too low: %lld/%d", (long long)correct, N);
    float *x = malloc((size_t)3 * D * sizeof *x);
    for (int i = 0; i < 3 * D; i++) x[i] = images[i] / 255.0f;
    int32_t classes_f[3];
    const ann_data three = {x, ANN_F32, NULL, 3, NULL, 0};
    status = ann_net_predict(net, NULL, classes_f, NULL, NULL, &three, NULL, 3);
    CHECK(status == ANN_OK && classes_f[0] == classes[0] && classes_f[2] == classes[2],
          "float32 prediction disagrees with uint8");
    /* standardised with mean 0 and std 1: the same floats, the same classes */
    float mean[D], std[D];
    for (int i = 0; i < D; i++) mean[i] = 0.0f, std[i] = 1.0f;
    CHECK(ann_net_set_standardization(net, mean, std) == ANN_OK, "set_standardization");
    status = ann_net_predict(net, NULL, classes_f, NULL, NULL, &three, NULL, 3);
    CHECK(status == ANN_OK && classes_f[1] == classes[1], "identity standardisation changed it");
    std[2] = 0.0f;
    CHECK(ann_net_set_standardization(net, mean, std) == ANN_E_ARG, "std 0 accepted");
    CHECK(ann_net_set_standardization(net, NULL, NULL) == ANN_OK, "clearing standardization");
    x[5] = NAN;
    CHECK(ann_net_predict(net, NULL, classes_f, NULL, NULL, &three, NULL, 3) == ANN_E_NONFINITE,
          "NaN accepted");
    const ann_data bad_type = {x, 9, NULL, 3, NULL, 0};
    CHECK(ann_net_predict(net, NULL, classes_f, NULL, NULL, &bad_type, NULL, 3) == ANN_E_ARG,
          "unknown feature type accepted");

    /* bad arguments come back as codes */
    int32_t bad_idx[2] = {0, N};
    double loss = 0.0;
    CHECK(ann_net_train_step(net, &loss, NULL, &data, bad_idx, 2, lr) == ANN_E_INDEX,
          "index past the end accepted");
    CHECK(ann_net_train_step(net, &loss, NULL, &data, order, 0, lr) == ANN_E_SIZE,
          "batch 0 accepted");
    CHECK(ann_net_train_step(net, &loss, NULL, &data, order, 5, -1.0f) == ANN_E_ARG,
          "negative lr accepted");
    int32_t bad_labels[N];
    memcpy(bad_labels, labels, sizeof bad_labels);
    const ann_data bad = {images, ANN_U8, bad_labels, N, NULL, 0};
    bad_labels[order[3]] = K;
    CHECK(ann_net_train_step(net, &loss, NULL, &bad, order, 5, lr) == ANN_E_LABEL,
          "label out of range accepted");
    bad_labels[order[3]] = -1;
    CHECK(ann_net_train_step(net, &loss, NULL, &bad, order, 5, lr) == ANN_E_LABEL,
          "negative label accepted");
    const ann_data unlabelled = {images, ANN_U8, NULL, N, NULL, 0};
    CHECK(ann_net_train_step(net, &loss, NULL, &unlabelled, order, 5, lr) == ANN_E_NULL,
          "training without labels accepted");
    free(x);
    free(classes);
    free(probs);
    ann_net_destroy(net);
}

/* Every activation with every head: the loss falls, the outputs are what the head gives, the
 * targets read from labels (one-hot) train as the same targets given as floats, and what the
 * head cannot read comes back as an error code that leaves the network as it was. */
static void train_design(const uint8_t *images, const int32_t *labels, int act, int head)
{
    float *onehot = malloc((size_t)N * K * sizeof *onehot);
    for (int i = 0; i < N * K; i++) onehot[i] = (i % K) == labels[i / K] ? 1.0f : 0.0f;
    const ann_data by_labels = {images, ANN_U8, labels, N, NULL, 0};
    const ann_data by_targets = {images, ANN_U8, NULL, N, onehot, K};
    const int32_t sizes[] = {D, 12, 8, K};
    ann_net *nets[2] = {NULL, NULL};
    for (int n = 0; n < 2; n++) {
        CHECK(ann_net_create(&nets[n], sizes, 4, 0, 0.1f) == ANN_OK, "create");
        if (!nets[n]) return;
        for (int l = 0; l < 2; l++)
            CHECK(ann_net_set_activation(nets[n], l, act, 0.1f) == ANN_OK, "set_activation");
        CHECK(ann_net_set_head(nets[n], head) == ANN_OK, "set_head");
        CHECK(ann_net_init(nets[n], 3, ANN_INIT_AUTO) == ANN_OK, "init");
        CHECK(ann_net_set_optimizer(nets[n], ANN_ADAM, 0.0f, 0.9f, 0.999f, 1e-8f, 0.0f) == ANN_OK,
              "optimizer");
    }
    int32_t order[N];
    for (int i = 0; i < N; i++) order[i] = i;
    double first = 0.0, last = 0.0;
    for (int epoch = 0; epoch < 6; epoch++) {
        double total = 0.0;
        for (int start = 0; start < N; start += 50) {
            double loss[2] = {0.0, 0.0};
            for (int n = 0; n < 2; n++) {
                /* softmax reads labels only; the others read the one-hot targets either way */
                const ann_data *data = n == 1 && head != ANN_SOFTMAX_CE ? &by_targets : &by_labels;
                int status = ann_net_train_step(nets[n], &loss[n], NULL, data, order + start, 50,
                                                0.01f);
                CHECK(status == ANN_OK, "act %d head %d: %s", act, head, ann_strerror(status));
            }
            CHECK(loss[0] == loss[1], "act %d head %d: labels and one-hot targets differ", act,
                  head);
            total += loss[0];
        }
        if (epoch == 0) first = total;
        last = total;
    }
    CHECK(last < 0.8 * first, "act %d head %d: the loss did not fall: %g -> %g", act, head,
          first, last);
    float *out = malloc((size_t)N * K * sizeof *out);
    int32_t *classes = malloc(N * sizeof *classes);
    double loss_sum = 0.0;
    int64_t correct = 0;
    CHECK(ann_net_predict(nets[0], out, classes, &loss_sum, &correct, &by_labels, NULL, N) ==
              ANN_OK, "predict");
    CHECK(correct > N / 2, "act %d head %d: %lld of %d right", act, head, (long long)correct, N);
    for (int r = 0; r < N; r++) {
        double sum = 0.0;
        for (int k = 0; k < K; k++) {
            const float v = out[r * K + k];
            sum += v;
            if (head == ANN_SIGMOID_BCE || head == ANN_SIGMOID_MSE)
                CHECK(v >= 0.0f && v <= 1.0f, "a sigmoid output of %g", v);
        }
        if (head == ANN_SOFTMAX_CE) CHECK(fabs(sum - 1.0) < 1e-5, "softmax row sums to %g", sum);
    }
    /* what the head cannot read, and targets of the wrong width or with a NaN: error codes,
     * the network as it was */
    float *params = malloc((size_t)ann_net_num_params(nets[0]) * sizeof *params);
    memcpy(params, ann_net_params(nets[0]), (size_t)ann_net_num_params(nets[0]) * sizeof *params);
    double loss = 0.0;
    const ann_data narrow = {images, ANN_U8, NULL, N, onehot, K - 1};
    const ann_data unlabelled = {images, ANN_U8, NULL, N, NULL, 0};
    if (head == ANN_SOFTMAX_CE) {
        CHECK(ann_net_train_step(nets[0], &loss, NULL, &by_targets, order, 5, 0.01f) ==
                  ANN_E_NULL, "softmax trained on float targets");
    } else {
        CHECK(ann_net_train_step(nets[0], &loss, NULL, &narrow, order, 5, 0.01f) == ANN_E_SIZE,
              "targets of K - 1 columns accepted");
        onehot[order[2] * K + 1] = NAN;
        CHECK(ann_net_train_step(nets[0], &loss, NULL, &by_targets, order, 5, 0.01f) ==
                  ANN_E_NONFINITE, "a NaN target trained");
        onehot[order[2] * K + 1] = 0.0f;
    }
    CHECK(ann_net_train_step(nets[0], &loss, NULL, &unlabelled, order, 5, 0.01f) == ANN_E_NULL,
          "trained with neither labels nor targets");
    CHECK(memcmp(params, ann_net_params(nets[0]),
                 (size_t)ann_net_num_params(nets[0]) * sizeof *params) == 0,
          "a refused step changed the parameters");
    for (int n = 0; n < 2; n++) ann_net_destroy(nets[n]);
    free(params);
    free(classes);
    free(out);
    free(onehot);
}

/* The setters of the design refuse what they cannot do. */
static void bad_designs(void)
{
    const int32_t sizes[] = {D, 8, K};
    ann_net *net = NULL;
    CHECK(ann_net_create(&net, sizes, 3, 0, 0.0f) == ANN_OK, "create");
    if (!net) return;
    CHECK(ann_net_set_activation(net, 1, ANN_TANH, 0.0f) == ANN_E_ARG, "output activation set");
    CHECK(ann_net_set_activation(net, -1, ANN_TANH, 0.0f) == ANN_E_ARG, "layer -1 accepted");
    CHECK(ann_net_set_activation(net, 0, ANN_GELU + 1, 0.0f) == ANN_E_ARG, "unknown kind");
    CHECK(ann_net_set_activation(net, 0, ANN_LEAKY_RELU, -0.1f) == ANN_E_ARG, "negative slope");
    CHECK(ann_net_set_activation(net, 0, ANN_LEAKY_RELU, NAN) == ANN_E_ARG, "NaN slope");
    CHECK(ann_net_set_head(net, ANN_SIGMOID_MSE + 1) == ANN_E_ARG, "unknown head");
    CHECK(ann_net_set_head(NULL, ANN_SOFTMAX_CE) == ANN_E_NULL, "set_head(NULL)");
    CHECK(ann_net_init(net, 1, ANN_INIT_AUTO + 1) == ANN_E_ARG, "unknown init scheme");
    ann_net_destroy(net);
}

int main(void)
{
    uint8_t *images = malloc((size_t)N * D);
    int32_t *labels = malloc(N * sizeof *labels);
    float *floats = malloc((size_t)N * D * sizeof *floats);
    for (int mostly_zero = 0; mostly_zero <= 1; mostly_zero++) {
        make_data(images, labels, mostly_zero);
        for (int i = 0; i < N * D; i++) floats[i] = images[i] / 255.0f;
        for (int fused = 1; fused >= 0; fused--) {
            train(images, NULL, labels, ANN_SGD, 0, 0.0f, 0.2f, fused);
            train(images, NULL, labels, ANN_MOMENTUM, 1, 0.0f, 0.05f, fused);
            train(images, NULL, labels, ANN_NESTEROV, 0, 0.2f, 0.05f, fused);
            train(images, NULL, labels, ANN_ADAM, 1, 0.1f, 0.01f, fused);
            train(images, floats, labels, ANN_SGD, 0, 0.0f, 0.2f, fused);
            train(images, floats, labels, ANN_ADAM, 1, 0.0f, 0.01f, fused);
        }
    }
    for (int act = ANN_IDENTITY; act <= ANN_GELU; act++)
        for (int head = ANN_SOFTMAX_CE; head <= ANN_SIGMOID_MSE; head++)
            train_design(images, labels, act, head);
    bad_designs();
    CHECK(ann_net_set_fused(NULL, 0) == ANN_E_NULL, "set_fused(NULL) accepted");
    int32_t zero_sizes[] = {D, 0, K};
    ann_net *net = NULL;
    CHECK(ann_net_create(&net, zero_sizes, 3, 0, 0.0f) == ANN_E_SIZE && net == NULL,
          "zero width accepted");
    CHECK(ann_net_create(&net, zero_sizes, 1, 0, 0.0f) == ANN_E_SIZE, "one size accepted");
    ann_set_num_threads(1);   /* and back: the pool must shut down cleanly at exit */
    free(images);
    free(floats);
    free(labels);
    printf("train_smoke: %s (%d failures)\n", failures ? "FAILED" : "passed", failures);
    return failures != 0;
}
