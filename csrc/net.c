/*
 * net.c -- a whole multilayer perceptron: dense layers, ReLU between them, softmax +
 * cross-entropy on top, trained by mini-batch SGD. One foreign call per mini-batch.
 *
 * Memory: params (P) and grads (P) are one allocation each, laid out layer by layer as
 * W (n_in, n_out) then b (n_out). The per-batch workspace (activations and their gradients)
 * is one more allocation, sized for `cap` rows and grown only when a larger batch arrives,
 * so the training loop itself never allocates.
 *
 * Shapes: B batch rows, L layers, sizes[l] the width of activation l (sizes[0] = D inputs,
 * sizes[L] = K classes).
 */
#include "ann.h"
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ANN_MAX_WIDTH (1 << 24)
#define ANN_PREDICT_BLOCK 256   /* rows per inference block: big enough for the GEMM to be efficient */

struct ann_net {
    int L;                  /* dense layers */
    int32_t *sizes;         /* (L + 1) */
    int64_t P;              /* trainable parameters */
    int64_t *w_off;         /* (L) offset of W_l in params */
    int64_t *b_off;         /* (L) offset of b_l in params */
    float *params;          /* (P) */
    float *grads;           /* (P) */
    /* workspace for `cap` rows */
    int cap;
    float *work;            /* one allocation holding everything below */
    float **act;            /* (L + 1): act[0] (cap, D) inputs; act[l+1] (cap, sizes[l+1]) outputs of
                             * layer l: ReLU(x W + b) for hidden layers, logits for the last */
    float **dact;           /* (L + 1): dact[l] (cap, sizes[l]) = dLoss/dact[l], l >= 1 */
    int32_t *labels;        /* (cap) labels of the current batch */
};

/* ---- creation ------------------------------------------------------------------------- */

int ann_net_create(ann_net **out, const int32_t *sizes, int n_sizes)
{
    if (!out || !sizes) return ANN_E_NULL;
    *out = NULL;
    if (n_sizes < 2 || n_sizes > 1024) return ANN_E_SIZE;
    for (int i = 0; i < n_sizes; i++)
        if (sizes[i] < 1 || sizes[i] > ANN_MAX_WIDTH) return ANN_E_SIZE;
    int L = n_sizes - 1;
    int64_t P = 0;
    for (int l = 0; l < L; l++) {
        P += (int64_t)sizes[l] * sizes[l + 1] + sizes[l + 1];
        if (P > ((int64_t)1 << 34)) return ANN_E_SIZE;   /* 64 GiB of weights: surely a mistake */
    }
    ann_net *net = calloc(1, sizeof *net);
    if (!net) return ANN_E_NOMEM;
    net->L = L;
    net->P = P;
    net->sizes = malloc((size_t)n_sizes * sizeof *net->sizes);
    net->w_off = malloc((size_t)L * sizeof *net->w_off);
    net->b_off = malloc((size_t)L * sizeof *net->b_off);
    net->act = calloc((size_t)n_sizes, sizeof *net->act);
    net->dact = calloc((size_t)n_sizes, sizeof *net->dact);
    net->params = calloc((size_t)P, sizeof(float));
    net->grads = calloc((size_t)P, sizeof(float));
    if (!net->sizes || !net->w_off || !net->b_off || !net->act || !net->dact ||
        !net->params || !net->grads) {
        ann_net_destroy(net);
        return ANN_E_NOMEM;
    }
    memcpy(net->sizes, sizes, (size_t)n_sizes * sizeof *sizes);
    int64_t off = 0;
    for (int l = 0; l < L; l++) {
        net->w_off[l] = off;
        off += (int64_t)sizes[l] * sizes[l + 1];
        net->b_off[l] = off;
        off += sizes[l + 1];
    }
    *out = net;
    return ANN_OK;
}

void ann_net_destroy(ann_net *net)
{
    if (!net) return;
    free(net->sizes);
    free(net->w_off);
    free(net->b_off);
    free(net->act);
    free(net->dact);
    free(net->params);
    free(net->grads);
    free(net->work);
    free(net->labels);
    free(net);
}

int64_t ann_net_num_params(const ann_net *net) { return net ? net->P : 0; }
float *ann_net_params(ann_net *net) { return net ? net->params : NULL; }
float *ann_net_grads(ann_net *net) { return net ? net->grads : NULL; }

int ann_net_tensor(int64_t *offset, int64_t *count, const ann_net *net, int layer, int kind)
{
    if (!offset || !count || !net) return ANN_E_NULL;
    if (layer < 0 || layer >= net->L || (kind != 0 && kind != 1)) return ANN_E_ARG;
    int64_t n_in = net->sizes[layer], n_out = net->sizes[layer + 1];
    *offset = kind == 0 ? net->w_off[layer] : net->b_off[layer];
    *count = kind == 0 ? n_in * n_out : n_out;
    return ANN_OK;
}

int ann_net_init(ann_net *net, uint64_t seed)
{
    if (!net) return ANN_E_NULL;
    uint64_t state = seed;
    for (int l = 0; l < net->L; l++) {
        int64_t n_in = net->sizes[l], n_out = net->sizes[l + 1];
        float limit = 1.0f / sqrtf((float)n_in);
        float *W = net->params + net->w_off[l];          /* (n_in, n_out) */
        for (int64_t i = 0; i < n_in * n_out; i++)
            W[i] = (2.0f * ann_random_uniform(&state) - 1.0f) * limit;
        memset(net->params + net->b_off[l], 0, (size_t)n_out * sizeof(float));
    }
    return ANN_OK;
}

/* Make the workspace hold at least `rows` rows. Allocates only when it must grow. */
static int ensure_capacity(ann_net *net, int rows)
{
    if (rows <= net->cap) return ANN_OK;
    int64_t per_row = 0;
    for (int l = 0; l <= net->L; l++) per_row += 2 * (int64_t)net->sizes[l];
    if ((double)per_row * rows * sizeof(float) > 1e12) return ANN_E_SIZE;
    float *work = malloc((size_t)(per_row * rows) * sizeof(float));
    int32_t *labels = malloc((size_t)rows * sizeof(int32_t));
    if (!work || !labels) {
        free(work);
        free(labels);
        return ANN_E_NOMEM;
    }
    free(net->work);
    free(net->labels);
    net->work = work;
    net->labels = labels;
    net->cap = rows;
    float *p = work;
    for (int l = 0; l <= net->L; l++) {
        net->act[l] = p;
        p += (size_t)rows * net->sizes[l];
        net->dact[l] = p;
        p += (size_t)rows * net->sizes[l];
    }
    return ANN_OK;
}

/* ---- forward and backward -------------------------------------------------------------- */

/* act[1..L] from act[0] for B rows: hidden layers end in ReLU, the last one gives logits. */
static int forward(ann_net *net, int B)
{
    for (int l = 0; l < net->L; l++) {
        int n_in = net->sizes[l], n_out = net->sizes[l + 1];
        int status = ann_dense_forward(net->act[l + 1], net->act[l],
                                       net->params + net->w_off[l], net->params + net->b_off[l],
                                       B, n_in, n_out);
        if (status != ANN_OK) return status;
        if (l < net->L - 1) ann_relu_forward(net->act[l + 1], net->act[l + 1], (int64_t)B * n_out);
    }
    return ANN_OK;
}

/* Index of the largest of z[0..K-1] (the first one on ties). */
static int argmax(const float *z, int K)
{
    int best = 0;
    for (int k = 1; k < K; k++) if (z[k] > z[best]) best = k;
    return best;
}

/* Rows of logits (B, K) whose argmax equals the label. */
static int64_t count_correct(const float *logits, const int32_t *labels, int B, int K)
{
    int64_t hits = 0;
    for (int r = 0; r < B; r++) hits += argmax(logits + (size_t)r * K, K) == labels[r];
    return hits;
}

/* Copy a batch in: x = images[idx] / 255, labels likewise. Validates every index and label. */
static int load_batch(ann_net *net, const uint8_t *images, const uint8_t *labels, int64_t N,
                      const int32_t *idx, int B)
{
    int K = net->sizes[net->L];
    int status = ann_gather_u8(net->act[0], images, N, idx, B, net->sizes[0]);
    if (status != ANN_OK) return status;
    for (int r = 0; r < B; r++) {
        net->labels[r] = labels[idx[r]];
        if (net->labels[r] >= K) return ANN_E_LABEL;
    }
    return ANN_OK;
}

int ann_net_forward_backward(ann_net *net, double *loss, int64_t *correct,
                             const uint8_t *images, const uint8_t *labels, int64_t N,
                             const int32_t *idx, int B)
{
    if (!net || !loss || !images || !labels || !idx) return ANN_E_NULL;
    if (B < 1 || N < 1) return ANN_E_SIZE;
    int status = ensure_capacity(net, B);
    if (status == ANN_OK) status = load_batch(net, images, labels, N, idx, B);
    if (status == ANN_OK) status = forward(net, B);
    if (status != ANN_OK) return status;

    int L = net->L, K = net->sizes[L];
    if (correct) *correct = count_correct(net->act[L], net->labels, B, K);
    /* dact[L] (B, K) = dLoss/dlogits = (softmax(logits) - onehot(labels)) / B */
    status = ann_softmax_cross_entropy(net->dact[L], NULL, loss, net->act[L], net->labels, B, K);
    if (status != ANN_OK) return status;
    for (int l = L - 1; l >= 0; l--) {
        int n_in = net->sizes[l], n_out = net->sizes[l + 1];
        float *dx = l > 0 ? net->dact[l] : NULL;   /* nobody needs dLoss/dpixels */
        status = ann_dense_backward(dx, net->grads + net->w_off[l], net->grads + net->b_off[l],
                                    net->dact[l + 1], net->act[l], net->params + net->w_off[l],
                                    B, n_in, n_out);
        if (status != ANN_OK) return status;
        /* act[l] = ReLU(z): pass the gradient only where the unit was active */
        if (l > 0) ann_relu_backward(dx, dx, net->act[l], (int64_t)B * n_in);
    }
    return ANN_OK;
}

int ann_net_train_step(ann_net *net, double *loss, int64_t *correct,
                       const uint8_t *images, const uint8_t *labels, int64_t N,
                       const int32_t *idx, int B, float lr)
{
    if (!(lr >= 0.0f) || !isfinite(lr)) return ANN_E_ARG;
    int status = ann_net_forward_backward(net, loss, correct, images, labels, N, idx, B);
    if (status != ANN_OK) return status;     /* a NaN loss never reaches the weights */
    return ann_sgd_update(net->params, net->grads, net->P, lr);
}

/* ---- inference ------------------------------------------------------------------------- */

/* From logits act[L] (rows, K): probabilities, argmax classes, and loss / hits against labels. */
static int finish_block(ann_net *net, float *probs, int32_t *classes, double *loss_sum,
                        int64_t *correct, const int32_t *block_labels, int rows)
{
    int K = net->sizes[net->L];
    const float *logits = net->act[net->L];               /* (rows, K) */
    for (int r = 0; r < rows; r++) {
        int best = argmax(logits + (size_t)r * K, K);
        if (classes) classes[r] = best;
        if (correct && block_labels && best == block_labels[r]) (*correct)++;
    }
    if (!probs && !(loss_sum && block_labels)) return ANN_OK;
    /* The fused kernel needs labels; without them any valid label gives the same probs. */
    const int32_t *lab = block_labels;
    if (!lab) {
        memset(net->labels, 0, (size_t)rows * sizeof(int32_t));
        lab = net->labels;
    }
    double mean = 0.0;
    int status = ann_softmax_cross_entropy(NULL, probs, &mean, logits, lab, rows, K);
    if (status != ANN_OK) return status;
    if (loss_sum && block_labels) *loss_sum += mean * rows;
    return ANN_OK;
}

int ann_net_predict_u8(ann_net *net, float *probs, int32_t *classes,
                       double *loss_sum, int64_t *correct,
                       const uint8_t *images, const uint8_t *labels, int64_t N,
                       const int32_t *idx, int64_t n)
{
    if (!net || !images) return ANN_E_NULL;
    if (n < 1 || N < 1 || (!idx && n > N)) return ANN_E_SIZE;
    int status = ensure_capacity(net, ANN_PREDICT_BLOCK);
    if (status != ANN_OK) return status;
    int D = net->sizes[0], K = net->sizes[net->L];
    if (loss_sum) *loss_sum = 0.0;
    if (correct) *correct = 0;
    int32_t rows_idx[ANN_PREDICT_BLOCK];
    int32_t block_labels[ANN_PREDICT_BLOCK];
    for (int64_t start = 0; start < n; start += ANN_PREDICT_BLOCK) {
        int rows = (int)(n - start < ANN_PREDICT_BLOCK ? n - start : ANN_PREDICT_BLOCK);
        for (int r = 0; r < rows; r++) rows_idx[r] = idx ? idx[start + r] : (int32_t)(start + r);
        status = ann_gather_u8(net->act[0], images, N, rows_idx, rows, D);
        if (status != ANN_OK) return status;
        if (labels) {
            for (int r = 0; r < rows; r++) {
                block_labels[r] = labels[rows_idx[r]];
                if (block_labels[r] >= K) return ANN_E_LABEL;
            }
        }
        status = forward(net, rows);
        if (status == ANN_OK)
            status = finish_block(net, probs ? probs + start * K : NULL,
                                  classes ? classes + start : NULL, loss_sum, correct,
                                  labels ? block_labels : NULL, rows);
        if (status != ANN_OK) return status;
    }
    return ANN_OK;
}

int ann_net_predict_f32(ann_net *net, float *probs, int32_t *classes, const float *x, int64_t n)
{
    if (!net || !x) return ANN_E_NULL;
    if (n < 1) return ANN_E_SIZE;
    int status = ensure_capacity(net, ANN_PREDICT_BLOCK);
    if (status != ANN_OK) return status;
    int D = net->sizes[0], K = net->sizes[net->L];
    for (int64_t start = 0; start < n; start += ANN_PREDICT_BLOCK) {
        int rows = (int)(n - start < ANN_PREDICT_BLOCK ? n - start : ANN_PREDICT_BLOCK);
        const float *src = x + start * D;
        for (int64_t i = 0; i < (int64_t)rows * D; i++)
            if (!isfinite(src[i])) return ANN_E_NONFINITE;
        memcpy(net->act[0], src, (size_t)rows * D * sizeof(float));
        status = forward(net, rows);
        if (status == ANN_OK)
            status = finish_block(net, probs ? probs + start * K : NULL,
                                  classes ? classes + start : NULL, NULL, NULL, NULL, rows);
        if (status != ANN_OK) return status;
    }
    return ANN_OK;
}
