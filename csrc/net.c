/*
 * net.c -- a whole multilayer perceptron, trained one mini-batch per foreign call: the textbook
 * step, one plain function per step and layer.
 *
 * Each hidden layer l computes   z = x W + b  ->  [batch norm]  ->  activation  ->  [dropout]
 * (the activation ReLU, leaky ReLU, sigmoid, tanh, GELU or the identity, chosen per layer) and
 * the last layer computes the logits z = x W + b, followed by the head: the output function and
 * the loss in one op (softmax + cross-entropy, sigmoid + binary cross-entropy, identity + mean
 * squared error, sigmoid + mean squared error).
 *
 * Memory, allocated when the network is created (or when a larger batch first arrives):
 *   params (P)   every trained value, layer by layer: W (n_in, n_out), b (n_out), and for a
 *                batch-normalized hidden layer gamma (n_out), beta (n_out)
 *   grads  (P)   the same layout, so an optimizer step is one loop over P values
 *   opt_m, opt_v (P each, only for the optimizers that need them): velocity / Adam moments
 *   state  (S)   batch-norm running mean and variance of each hidden layer
 *   work         a training pass's activations and their gradients (a net_work) for `cap`
 *                rows; the training loop never allocates once a batch size has been seen.
 *                Inference brings a net_work of its own to each call, so that calls can run
 *                at the same time (ann.h says what may).
 * The struct itself is in net_internal.h, which net_fused.c shares.
 *
 * Shapes: B batch rows, L layers, sizes[l] the width of activation l (sizes[0] = D inputs,
 * sizes[L] = K outputs).
 *
 * Reading order: creation; the buffers of a pass; the settings (every ann_net_set_*); a batch
 * in; the textbook steps, each one function for one layer (forward, loss, backward, L2, update,
 * the max-norm projection); one training step (ann_net_train_step), which calls them in order;
 * inference.
 *
 * The speed-ups are in net_fused.c: each does two textbook steps in one pass over memory, and
 * runs instead of them when net->fused is set (the default; ann_net_set_fused(net, 0) runs
 * only the functions of this file). Exactly three places below choose between the two:
 * forward(), backward() and train_step(), each saying so.
 */
#include "ann.h"
#include "internal.h"
#include "net_internal.h"
#include "platform.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ANN_MAX_WIDTH (1 << 24)
#define ANN_PREDICT_BLOCK 256    /* rows per inference block: big enough for efficient GEMMs */
#define ANN_BN_MOMENTUM 0.1f     /* running = (1 - m) running + m batch, as PyTorch */
#define ANN_BN_EPS 1e-5f

/* ---- creation ------------------------------------------------------------------------------ */

int ann_net_create(ann_net **out, const int32_t *sizes, int n_sizes, int batchnorm,
                   float dropout)
{
    if (!out || !sizes) return ANN_E_NULL;
    *out = NULL;
    if (n_sizes < 2 || n_sizes > 1024) return ANN_E_SIZE;
    for (int i = 0; i < n_sizes; i++)
        if (sizes[i] < 1 || sizes[i] > ANN_MAX_WIDTH) return ANN_E_SIZE;
    if (!(dropout >= 0.0f && dropout < 1.0f)) return ANN_E_ARG;
    int L = n_sizes - 1;
    ann_net *net = ann__calloc(1, sizeof *net);
    if (!net) return ANN_E_NOMEM;
    net->L = L;
    net->batchnorm = batchnorm != 0;
    net->dropout = dropout;
    net->sizes = ann__malloc((size_t)n_sizes * sizeof *net->sizes);
    net->layers = ann__calloc((size_t)L, sizeof *net->layers);
    if (!net->sizes || !net->layers) {
        ann_net_destroy(net);
        return ANN_E_NOMEM;
    }
    memcpy(net->sizes, sizes, (size_t)n_sizes * sizeof *sizes);
    int64_t P = 0, S = 0;
    for (int l = 0; l < L; l++) {
        layer_info *li = &net->layers[l];
        li->n_in = sizes[l];
        li->n_out = sizes[l + 1];
        li->hidden = l < L - 1;
        li->w = P;
        P += (int64_t)li->n_in * li->n_out;
        li->b = P;
        P += li->n_out;
        li->gamma = li->beta = li->run_mean = li->run_var = -1;
        li->act = ANN_RELU;
        li->slope = 0.01f;      /* PyTorch's default negative slope, used if leaky ReLU is set */
        if (net->batchnorm && li->hidden) {
            li->gamma = P;
            li->beta = P + li->n_out;
            P += 2 * (int64_t)li->n_out;
            li->run_mean = S;
            li->run_var = S + li->n_out;
            S += 2 * (int64_t)li->n_out;
        }
        if (P > ((int64_t)1 << 34)) {   /* 64 GiB of weights: surely a mistake */
            ann_net_destroy(net);
            return ANN_E_SIZE;
        }
    }
    net->P = P;
    net->S = S;
    net->params = ann__calloc((size_t)P, sizeof(float));
    net->grads = ann__calloc((size_t)P, sizeof(float));
    net->state = ann__calloc((size_t)(S > 0 ? S : 1), sizeof(float));
    if (!net->params || !net->grads || !net->state) {
        ann_net_destroy(net);
        return ANN_E_NOMEM;
    }
    net->opt_kind = ANN_SGD;
    net->head = ANN_SOFTMAX_CE;
    net->fused = 1;
    *out = net;
    return ANN_OK;
}

static void work_free(net_work *w);

void ann_net_destroy(ann_net *net)
{
    if (!net) return;
    free(net->sizes);
    free(net->layers);
    free(net->params);
    free(net->grads);
    free(net->state);
    free(net->opt_m);
    free(net->opt_v);
    free(net->col_norm);
    free(net->in_mean);
    free(net->in_std);
    work_free(&net->work);
    free(net);
}

int64_t ann_net_num_params(const ann_net *net) { return net ? net->P : 0; }
int64_t ann_net_num_state(const ann_net *net) { return net ? net->S : 0; }
float *ann_net_params(ann_net *net) { return net ? net->params : NULL; }
float *ann_net_grads(ann_net *net) { return net ? net->grads : NULL; }
float *ann_net_state(ann_net *net) { return net ? net->state : NULL; }

int ann_net_tensor(int64_t *offset, int64_t *count, const ann_net *net, int layer, int kind)
{
    if (!offset || !count || !net) return ANN_E_NULL;
    if (layer < 0 || layer >= net->L) return ANN_E_ARG;
    const layer_info *li = &net->layers[layer];
    int64_t where;
    switch (kind) {
    case ANN_WEIGHTS: where = li->w; break;
    case ANN_BIASES: where = li->b; break;
    case ANN_BN_GAMMA: where = li->gamma; break;
    case ANN_BN_BETA: where = li->beta; break;
    case ANN_BN_MEAN: where = li->run_mean; break;
    case ANN_BN_VAR: where = li->run_var; break;
    default: return ANN_E_ARG;
    }
    if (where < 0) return ANN_E_ARG;
    *offset = where;
    *count = kind == ANN_WEIGHTS ? (int64_t)li->n_in * li->n_out : li->n_out;
    return ANN_OK;
}

float *ann_net_opt_m(ann_net *net) { return net ? net->opt_m : NULL; }
float *ann_net_opt_v(ann_net *net) { return net ? net->opt_v : NULL; }
int64_t ann_net_opt_step(const ann_net *net) { return net ? net->step : 0; }

static void clear_optimizer_state(ann_net *net)
{
    net->step = 0;
    if (net->opt_m) memset(net->opt_m, 0, (size_t)net->P * sizeof(float));
    if (net->opt_v) memset(net->opt_v, 0, (size_t)net->P * sizeof(float));
}

/* The bound a of W ~ U(-a, a) for layer l under `scheme` (ann.h lists them;
 * docs/initialisation.md derives them). He and Glorot are computed in double, then rounded. */
static float init_bound(const ann_net *net, int l, int scheme)
{
    const layer_info *li = &net->layers[l];
    const double n_in = li->n_in, n_out = li->n_out;
    if (scheme == ANN_INIT_AUTO) {
        const int rectifier =
            li->hidden && (li->act == ANN_RELU || li->act == ANN_LEAKY_RELU || li->act == ANN_GELU);
        scheme = rectifier ? ANN_INIT_HE : ANN_INIT_GLOROT;
    }
    switch (scheme) {
    case ANN_INIT_HE: {
        /* Var W = 2 / ((1 + s^2) n_in) keeps E[x^2] through the layer and its (leaky) ReLU */
        const double s = li->hidden && li->act == ANN_LEAKY_RELU ? li->slope : 0.0;
        return (float)sqrt(6.0 / ((1.0 + s * s) * n_in));
    }
    case ANN_INIT_GLOROT:
        /* Var W = 2 / (n_in + n_out): the compromise between the forward and backward passes */
        return (float)sqrt(6.0 / (n_in + n_out));
    default:
        return 1.0f / sqrtf((float)li->n_in);           /* ANN_INIT_UNIFORM */
    }
}

int ann_net_init(ann_net *net, uint64_t seed, int scheme)
{
    if (!net) return ANN_E_NULL;
    if (scheme < ANN_INIT_UNIFORM || scheme > ANN_INIT_AUTO) return ANN_E_ARG;
    uint64_t state = seed;
    for (int l = 0; l < net->L; l++) {
        const layer_info *li = &net->layers[l];
        const float limit = init_bound(net, l, scheme);
        float *W = net->params + li->w;                 /* (n_in, n_out) */
        for (int64_t i = 0; i < (int64_t)li->n_in * li->n_out; i++)
            W[i] = (2.0f * ann_random_uniform(&state) - 1.0f) * limit;
        memset(net->params + li->b, 0, (size_t)li->n_out * sizeof(float));
        if (li->gamma >= 0) {
            for (int j = 0; j < li->n_out; j++) {
                net->params[li->gamma + j] = 1.0f;
                net->params[li->beta + j] = 0.0f;
                net->state[li->run_mean + j] = 0.0f;
                net->state[li->run_var + j] = 1.0f;
            }
        }
    }
    net->dropout_rng = seed ^ 0xD80F0D80FULL;
    clear_optimizer_state(net);
    return ANN_OK;
}

int ann_net_init_biases_uniform(ann_net *net, uint64_t seed)
{
    if (!net) return ANN_E_NULL;
    uint64_t state = seed ^ 0xB1A5B1A5ULL;
    for (int l = 0; l < net->L; l++) {
        const layer_info *li = &net->layers[l];
        float limit = 1.0f / sqrtf((float)li->n_in);
        float *b = net->params + li->b;                 /* (n_out) */
        for (int j = 0; j < li->n_out; j++)
            b[j] = (2.0f * ann_random_uniform(&state) - 1.0f) * limit;
    }
    return ANN_OK;
}

/* ---- the buffers of a pass ------------------------------------------------------------------
 *
 * A training pass uses the network's own net_work (net->work), grown when a larger batch
 * first arrives, so the training loop never allocates once a batch size has been seen. An
 * inference pass (ann_net_predict) brings its own, for ANN_PREDICT_BLOCK rows at most, so that
 * passes on one network can run at the same time: the forward pass below only reads the
 * network (its argument is const) and writes nothing but its net_work. */

static void work_free(net_work *w)
{
    free(w->act);
    free(w->pre);
    free(w->drop);
    free(w->dact);
    free(w->xhat);
    free(w->mask);
    free(w->labels);
    free(w->bn_mean);
    free(w->bn_var);
    free(w->floats);
    free(w->bytes);
    memset(w, 0, sizeof *w);
}

/* Does hidden layer l keep its activation's input z for the backward pass? Only where the
 * derivative cannot be read from the output: GELU (ann_gelu_backward reads x). */
static int keeps_z(const ann_net *net, int l)
{
    return net->layers[l].hidden && net->layers[l].act == ANN_GELU;
}

/*
 * Make w hold `rows` rows of the buffers of a pass: act, labels and targets for every pass; in
 * training also dact, pre (layers that keep z), drop (layers with dropout), xhat
 * (batch-normalized layers), mask (layers with dropout) and the batch statistics. Per row that
 * is sum_l sizes[l] + K floats for inference, 2 sum_l sizes[l] + K + a hidden layer's width for
 * each of pre, drop, xhat it has, in training (and a byte per unit with dropout). Allocates
 * only when it must grow; out of memory leaves w as it was.
 */
static int work_reserve(net_work *w, const ann_net *net, int rows, int training)
{
    if (rows <= w->cap) return ANN_OK;
    const int L = net->L;
    if (L < 1) return ANN_E_SIZE;   /* ann_net_create makes L >= 1; this tells the compiler */
    const int K = net->sizes[L];
    int64_t per_row = K, mask_per_row = 0, hidden_width = 0;
    for (int l = 0; l <= L; l++) {
        per_row += (training ? 2 : 1) * (int64_t)net->sizes[l];
        if (training && l > 0 && l < L) {
            if (keeps_z(net, l - 1)) per_row += net->sizes[l];
            if (net->dropout > 0.0f) per_row += net->sizes[l];
            if (net->batchnorm) per_row += net->sizes[l];
            if (net->dropout > 0.0f) mask_per_row += net->sizes[l];
            hidden_width += net->sizes[l];
        }
    }
    if ((double)per_row * rows * sizeof(float) > 1e12) return ANN_E_SIZE;
    net_work fresh = {0};
    fresh.cap = rows;
    fresh.act = ann__calloc((size_t)L + 1, sizeof *fresh.act);
    fresh.floats = ann__malloc((size_t)(per_row * rows) * sizeof(float));
    fresh.labels = ann__malloc((size_t)rows * sizeof(int32_t));
    int ok = fresh.act && fresh.floats && fresh.labels;
    if (training) {
        fresh.pre = ann__calloc((size_t)L + 1, sizeof *fresh.pre);
        fresh.drop = ann__calloc((size_t)L + 1, sizeof *fresh.drop);
        fresh.dact = ann__calloc((size_t)L + 1, sizeof *fresh.dact);
        fresh.xhat = ann__calloc((size_t)L + 1, sizeof *fresh.xhat);
        fresh.mask = ann__calloc((size_t)L + 1, sizeof *fresh.mask);
        fresh.bn_mean = ann__malloc((size_t)(hidden_width + 1) * sizeof(float));
        fresh.bn_var = ann__malloc((size_t)(hidden_width + 1) * sizeof(float));
        fresh.bytes = ann__malloc((size_t)(mask_per_row * rows + 1));
        ok = ok && fresh.pre && fresh.drop && fresh.dact && fresh.xhat && fresh.mask &&
             fresh.bn_mean && fresh.bn_var && fresh.bytes;
    }
    if (!ok) {
        work_free(&fresh);
        return ANN_E_NOMEM;
    }
    float *p = fresh.floats;
    uint8_t *m = fresh.bytes;
    for (int l = 0; l <= L; l++) {
        const size_t block = (size_t)rows * net->sizes[l];
        const int hidden = l > 0 && l < L;
        fresh.act[l] = p;
        p += block;
        if (!training) continue;
        fresh.dact[l] = p;
        p += block;
        if (hidden && keeps_z(net, l - 1)) {
            fresh.pre[l] = p;
            p += block;
        }
        if (hidden && net->dropout > 0.0f) {
            fresh.drop[l] = p;
            p += block;
        }
        if (hidden && net->batchnorm) {
            fresh.xhat[l] = p;
            p += block;
        }
        if (hidden && net->dropout > 0.0f) {
            fresh.mask[l] = m;
            m += block;
        }
    }
    fresh.targets = p;      /* (rows, K) */
    work_free(w);
    *w = fresh;
    return ANN_OK;
}

/* ---- settings: every ann_net_set_* -------------------------------------------------------- */

int ann_net_set_optimizer(ann_net *net, int kind, float momentum, float beta1, float beta2,
                          float eps, float l2)
{
    if (!net) return ANN_E_NULL;
    if (kind < ANN_SGD || kind > ANN_ADAM) return ANN_E_ARG;
    if (!(l2 >= 0.0f) || !isfinite(l2)) return ANN_E_ARG;
    if ((kind == ANN_MOMENTUM || kind == ANN_NESTEROV) && !(momentum >= 0.0f && momentum < 1.0f))
        return ANN_E_ARG;
    if (kind == ANN_ADAM && (!(beta1 >= 0.0f && beta1 < 1.0f) ||
                             !(beta2 >= 0.0f && beta2 < 1.0f) || !(eps > 0.0f)))
        return ANN_E_ARG;
    /* Both buffers the rule needs are allocated before either is kept, so running out of
     * memory leaves the network with its old rule and buffers, as if never called. */
    const size_t bytes = (size_t)net->P * sizeof(float);
    float *m = net->opt_m, *v = net->opt_v;
    if (kind != ANN_SGD && !m) m = ann__malloc(bytes);
    if (kind == ANN_ADAM && !v) v = ann__malloc(bytes);
    if ((kind != ANN_SGD && !m) || (kind == ANN_ADAM && !v)) {
        if (m != net->opt_m) free(m);
        if (v != net->opt_v) free(v);
        return ANN_E_NOMEM;
    }
    net->opt_m = m;
    net->opt_v = v;
    net->opt_kind = kind;
    net->momentum = momentum;
    net->beta1 = beta1;
    net->beta2 = beta2;
    net->eps = eps;
    net->l2 = l2;
    clear_optimizer_state(net);
    return ANN_OK;
}

int ann_net_set_opt_step(ann_net *net, int64_t step)
{
    if (!net) return ANN_E_NULL;
    if (step < 0) return ANN_E_ARG;
    net->step = step;
    return ANN_OK;
}

int ann_net_set_standardization(ann_net *net, const float *mean, const float *std)
{
    if (!net) return ANN_E_NULL;
    if (!mean != !std) return ANN_E_NULL;
    int D = net->sizes[0];
    if (!mean) {
        free(net->in_mean);
        free(net->in_std);
        net->in_mean = net->in_std = NULL;
        return ANN_OK;
    }
    for (int i = 0; i < D; i++)
        if (!isfinite(mean[i]) || !(std[i] > 0.0f) || !isfinite(std[i])) return ANN_E_ARG;
    if (!net->in_mean) {
        /* both or neither: one without the other would fail every later batch */
        float *new_mean = ann__malloc((size_t)D * sizeof(float));
        float *new_std = ann__malloc((size_t)D * sizeof(float));
        if (!new_mean || !new_std) {
            free(new_mean);
            free(new_std);
            return ANN_E_NOMEM;
        }
        net->in_mean = new_mean;
        net->in_std = new_std;
    }
    memcpy(net->in_mean, mean, (size_t)D * sizeof(float));
    memcpy(net->in_std, std, (size_t)D * sizeof(float));
    return ANN_OK;
}

int ann_net_set_max_norm(ann_net *net, float c)
{
    if (!net) return ANN_E_NULL;
    if (!(c >= 0.0f) || !isfinite(c)) return ANN_E_ARG;
    if (c > 0.0f && !net->col_norm) {
        int widest = 1;
        for (int l = 0; l < net->L - 1; l++)
            if (net->layers[l].n_out > widest) widest = net->layers[l].n_out;
        net->col_norm = ann__malloc((size_t)widest * sizeof(double));
        if (!net->col_norm) return ANN_E_NOMEM;
    }
    net->max_norm = c;
    return ANN_OK;
}

int ann_net_set_augment(ann_net *net, const ann_augment *params, int H, int W)
{
    if (!net) return ANN_E_NULL;
    if (!params) {
        net->augment = 0;
        return ANN_OK;
    }
    if (H < 1 || W < 1 || (int64_t)H * W != net->sizes[0]) return ANN_E_SIZE;
    int status = ann_augment_check(params);
    if (status != ANN_OK) return status;
    net->aug = *params;
    net->aug_h = H;
    net->aug_w = W;
    net->aug_step = 0;
    net->augment = 1;
    return ANN_OK;
}

int ann_net_set_fused(ann_net *net, int fused)
{
    if (!net) return ANN_E_NULL;
    net->fused = fused != 0;
    return ANN_OK;
}

int ann_net_set_activation(ann_net *net, int layer, int kind, float negative_slope)
{
    if (!net) return ANN_E_NULL;
    if (layer < 0 || layer >= net->L - 1) return ANN_E_ARG;   /* hidden layers only */
    if (kind < ANN_IDENTITY || kind > ANN_GELU) return ANN_E_ARG;
    if (!(negative_slope >= 0.0f) || !isfinite(negative_slope)) return ANN_E_ARG;
    layer_info *li = &net->layers[layer];
    if (keeps_z(net, layer) != (kind == ANN_GELU))
        work_free(&net->work);  /* the next training pass allocates the buffers it now needs */
    li->act = kind;
    li->slope = negative_slope;
    return ANN_OK;
}

int ann_net_set_head(ann_net *net, int head)
{
    if (!net) return ANN_E_NULL;
    if (head < ANN_SOFTMAX_CE || head > ANN_SIGMOID_MSE) return ANN_E_ARG;
    net->head = head;
    return ANN_OK;
}

/* ---- a batch in ------------------------------------------------------------------------ */

/* Read B rows of data (rows idx[r], or first..first+B-1 when idx is NULL) into x (B, D):
 * uint8 pixels as x / 255 (ann_gather_u8's loop, ops.c), float32 features as they are
 * (ann_gather_f32's), then the network's input standardisation, if it has one. */
static int load_rows(float *x, const ann_net *net, const ann_data *data, const int32_t *idx,
                     int64_t first, int B)
{
    int D = net->sizes[0], status;
    switch (data->type) {
    case ANN_U8:
        status = ann__gather_rows(x, data->features, data->N, idx, first, B, D);
        /* the uint8 batch is ready here, as pixels / 255 */
        break;
    case ANN_F32:
        status = ann__gather_rows_f32(x, data->features, data->N, idx, first, B, D);
        break;
    default:
        return ANN_E_ARG;
    }
    if (status != ANN_OK) return status;
    /* x (B, D) now holds the gathered batch, pixels / 255 or float features as given; the
     * standardisation, if any, is the last step before the forward pass. */
    if (net->in_mean) status = ann_standardize(x, net->in_mean, net->in_std, B, D);
    return status;
}

/* Offset of hidden layer l's batch statistics in a net_work's bn_mean / bn_var. */
static int64_t stats_offset(const ann_net *net, int l)
{
    int64_t off = 0;
    for (int i = 0; i < l; i++) off += net->layers[i].n_out;
    return off;
}

/* Index of the largest of z[0..K-1] (the first one on ties). */
static int argmax(const float *z, int K)
{
    int best = 0;
    for (int k = 1; k < K; k++) if (z[k] > z[best]) best = k;
    return best;
}

static int sigmoid_head(const ann_net *net)
{
    return net->head == ANN_SIGMOID_BCE || net->head == ANN_SIGMOID_MSE;
}

/* The class a row of logits z (K) predicts: the argmax for K > 1; for one output, whether the
 * output is past 1/2 (the sigmoid's p > 1/2 is z > 0; the identity's value z > 1/2). */
static int predicted_class(const ann_net *net, const float *z, int K)
{
    if (K > 1) return argmax(z, K);
    if (sigmoid_head(net)) return z[0] > 0.0f;
    return net->head == ANN_IDENTITY_MSE ? z[0] > 0.5f : 0;
}

/* Rows of logits (B, K) classified right (ann.h, ann_net_forward_backward): against the labels
 * when there are some; else, for a sigmoid head, rows whose every output is on its target's side
 * of 1/2 (all labels of a multi-label row right); else none. */
static int64_t count_correct(const ann_net *net, const float *logits, const net_work *w, int B)
{
    const int K = net->sizes[net->L];
    int64_t hits = 0;
    for (int r = 0; r < B; r++) {
        const float *z = logits + (size_t)r * K;
        if (w->has_labels) {
            hits += predicted_class(net, z, K) == w->labels[r];
        } else if (w->has_targets && sigmoid_head(net)) {
            const float *t = w->targets + (size_t)r * K;
            int all = 1;
            for (int k = 0; k < K; k++) all &= (z[k] > 0.0f) == (t[k] > 0.5f);
            hits += all;
        }
    }
    return hits;
}

/* Does data hold what the head reads (labels for softmax + cross-entropy, targets or labels for
 * the others)? */
static int data_fits_head(const ann_net *net, const ann_data *data)
{
    return data->labels || (data->targets && net->head != ANN_SOFTMAX_CE);
}

/* Bring in B rows of data (rows idx[r], or first + r when idx is NULL) as x (B, D), the input
 * of layer 0, and what the head reads: labels into w->labels (B) when data has them, and for a
 * head with float targets, w->targets (B, K) from data->targets or else made from the labels
 * (one-hot for K > 1, the label itself for K = 1). Validates every index, label and the width
 * of the targets; sets w->has_labels and w->has_targets. */
static int load_batch(float *x, net_work *w, const ann_net *net, const ann_data *data,
                      const int32_t *idx, int64_t first, int B)
{
    const int K = net->sizes[net->L];
    /* labels run 0..K-1, or for one output of a float head 0..1 (the target itself) */
    const int classes = K == 1 && net->head != ANN_SOFTMAX_CE ? 2 : K;
    w->has_labels = w->has_targets = 0;
    if (data->targets && data->T != K) return ANN_E_SIZE;
    int status = load_rows(x, net, data, idx, first, B);
    if (status != ANN_OK) return status;
    if (data->labels) {
        for (int r = 0; r < B; r++) {
            w->labels[r] = data->labels[idx ? idx[r] : first + r];
            if (w->labels[r] < 0 || w->labels[r] >= classes) return ANN_E_LABEL;
        }
        w->has_labels = 1;
    }
    if (net->head == ANN_SOFTMAX_CE || !data_fits_head(net, data)) return ANN_OK;
    float *t = w->targets;                              /* (B, K) */
    for (int r = 0; r < B; r++) {
        const int64_t row = idx ? idx[r] : first + r;
        float *tr = t + (size_t)r * K;
        if (data->targets) {
            memcpy(tr, data->targets + (size_t)row * K, (size_t)K * sizeof(float));
        } else if (K == 1) {
            tr[0] = (float)w->labels[r];
        } else {
            memset(tr, 0, (size_t)K * sizeof(float));
            tr[w->labels[r]] = 1.0f;
        }
    }
    w->has_targets = 1;
    return ANN_OK;
}

/* The input x (B, n_in) of layer l: act[l] (the input batch, or layer l - 1's activation), or
 * drop[l] after dropout in training. (Not static: net_fused.c reads it.) */
const float *ann__net_layer_input(const net_work *w, int l)
{
    return w->drop && w->drop[l] ? w->drop[l] : w->act[l];
}

/* Where layer l's z = x W + b goes: pre[l + 1] when the layer keeps it for its backward pass
 * (training, GELU), else act[l + 1], where the activation then runs in place. */
float *ann__net_layer_z(const net_work *w, int l)
{
    return w->pre && w->pre[l + 1] ? w->pre[l + 1] : w->act[l + 1];
}

/* ---- the textbook steps ------------------------------------------------------------------
 *
 * One training step is four steps, and a fifth when a max-norm bound is set, in this order
 * (ann_net_train_step, below, calls them):
 *   1. forward, layer by layer:  z = x W + b  ->  [batch norm]  ->  activation  ->  [dropout]
 *   2. loss: the head (e.g. softmax + cross-entropy) over the logits (plus the L2 penalty,
 *      added in step 3)
 *   3. backward, layer by layer from the top: dropout, the activation, batch norm, then the
 *      dense layer
 *   4. update: the optimizer moves every parameter against its gradient
 *   5. (only with ann_net_set_max_norm) the max-norm projection of the updated weights
 * Each function below is one of these steps for one layer, written the plain way: it calls the
 * op of ops.c that ann.h documents, and leaves every gradient in net->grads. Activations and
 * their gradients live in the pass's net_work w (act, dact, ...). The forward functions take
 * the network as const: a forward pass, in training too, only reads it (commit_forward,
 * after the loss, moves what training moves). */

/* Step 1, batch norm of hidden layer l, in place on z (B, n_out). In training it normalises
 * with the batch statistics and keeps xhat and the batch mean and variance, for the backward
 * pass and for commit_forward (below); at inference it uses the running statistics. */
static int batchnorm_forward(const ann_net *net, net_work *w, float *z, int l, int B,
                             int training)
{
    const layer_info *li = &net->layers[l];
    const float *gamma = net->params + li->gamma, *beta = net->params + li->beta;
    const float *run_mean = net->state + li->run_mean, *run_var = net->state + li->run_var;
    if (!training)
        return ann_batchnorm_inference(z, z, gamma, beta, run_mean, run_var, B, li->n_out,
                                       ANN_BN_EPS);
    float *mean = w->bn_mean + stats_offset(net, l);   /* (n_out) */
    float *var = w->bn_var + stats_offset(net, l);     /* (n_out) */
    return ann_batchnorm_forward(z, w->xhat[l + 1], mean, var, z, gamma, beta, B, li->n_out,
                                 ANN_BN_EPS);
}

/* Step 1, dropout after hidden layer l's activation: h = drop[l + 1] from a = act[l + 1], only
 * in training, only if it is on. The keep mask is kept for the backward pass. (Not static:
 * net_fused.c reuses it.) */
int ann__net_dropout_forward(const ann_net *net, net_work *w, int l, int B, int training)
{
    if (!training || !w->mask[l + 1]) return ANN_OK;
    return ann_dropout_forward(w->drop[l + 1], w->mask[l + 1], w->act[l + 1],
                               (int64_t)B * net->layers[l].n_out, net->dropout, &w->dropout_rng);
}

/* Step 1 for layer l: its output act[l + 1] (B, n_out) from its input (B, n_in). */
static int layer_forward(const ann_net *net, net_work *w, int l, int B, int training)
{
    const layer_info *li = &net->layers[l];
    float *z = ann__net_layer_z(w, l);                  /* (B, n_out) */
    int status = ann_dense_forward(z, ann__net_layer_input(w, l), net->params + li->w,
                                   net->params + li->b, B, li->n_in, li->n_out);
    if (status != ANN_OK || !li->hidden) return status; /* the top layer's z are the logits */
    if (li->gamma >= 0) status = batchnorm_forward(net, w, z, l, B, training);
    if (status == ANN_OK)
        status = ann_activation_forward(w->act[l + 1], z, (int64_t)B * li->n_out, li->act,
                                        li->slope);
    if (status == ANN_OK) status = ann__net_dropout_forward(net, w, l, B, training);
    return status;
}

/* Step 2, the head over the logits z (B, K): *loss its mean loss over the batch, and when asked
 * for, out (B, K) its outputs and dz (B, K) = dLoss/dz. Each head is one op of ops.c, the output
 * function and the loss fused, because together their gradient is simple (p - t, 2 (y - t),
 * ...) where each alone is not. Softmax reads labels, the others targets. */
static int head_forward_backward(const ann_net *net, float *dz, float *out, double *loss,
                                 const float *z, const int32_t *labels, const float *targets,
                                 int B)
{
    const int K = net->sizes[net->L];
    switch (net->head) {
    case ANN_SIGMOID_BCE: return ann_sigmoid_bce(dz, out, loss, z, targets, B, K);
    case ANN_IDENTITY_MSE: return ann_identity_mse(dz, out, loss, z, targets, B, K);
    case ANN_SIGMOID_MSE: return ann_sigmoid_mse(dz, out, loss, z, targets, B, K);
    default: return ann_softmax_cross_entropy(dz, out, loss, z, labels, B, K);
    }
}

/* Step 2: *loss = the head's mean loss of the B rows (against w->labels or w->targets), and
 * dact[L] (B, K) = dLoss/dlogits. *correct, if asked for, counts the rows classified right. */
static int loss_forward_backward(const ann_net *net, net_work *w, int B, double *loss,
                                 int64_t *correct)
{
    const int L = net->L;
    if (correct) *correct = count_correct(net, w->act[L], w, B);
    return head_forward_backward(net, w->dact[L], NULL, loss, w->act[L], w->labels, w->targets,
                                 B);
}

/*
 * After step 2, once the loss is known to be finite: what the training forward drew from the
 * network's own state moves on. Until here the forward has only read that state, so a batch
 * whose loss is NaN or infinite (or that fails earlier) leaves the network exactly as it was.
 *   - the running averages of each batch-normalized layer, toward this batch's statistics
 *     (momentum m = ANN_BN_MOMENTUM, as PyTorch, with the unbiased variance var B / (B - 1)):
 *       running_mean += m (mean - running_mean)      running_var += m (var B/(B-1) - running_var)
 *   - the dropout stream, to where this batch's masks left it (w->dropout_rng)
 *   - the augmentation step count, past this batch
 */
static void commit_forward(ann_net *net, const net_work *w, int B)
{
    for (int l = 0; l < net->L; l++) {
        const layer_info *li = &net->layers[l];
        if (li->gamma < 0) continue;
        const float *mean = w->bn_mean + stats_offset(net, l);        /* (n_out) */
        const float *var = w->bn_var + stats_offset(net, l);          /* (n_out) */
        float *run_mean = net->state + li->run_mean, *run_var = net->state + li->run_var;
        float unbias = B > 1 ? (float)B / (float)(B - 1) : 1.0f;
        for (int j = 0; j < li->n_out; j++) {
            run_mean[j] += ANN_BN_MOMENTUM * (mean[j] - run_mean[j]);
            run_var[j] += ANN_BN_MOMENTUM * (var[j] * unbias - run_var[j]);
        }
    }
    net->dropout_rng = w->dropout_rng;
    if (net->augment) net->aug_step++;
}

/* Step 3 through the nonlinear part of hidden layer l: turns g = dact[l + 1] (B, n_out), the
 * gradient of the layer's output, in place into dLoss/dz, back through dropout (dL/dh to
 * dL/da), the activation (dL/da to dL/dz: its derivative read from the output a = act[l + 1],
 * or for GELU from the kept input z = pre[l + 1]) and batch norm (whose dgamma, dbeta go to
 * grads). (Not static: net_fused.c reuses it.) */
int ann__net_activation_backward(ann_net *net, net_work *w, int l, int B)
{
    const layer_info *li = &net->layers[l];
    float *g = w->dact[l + 1];                          /* (B, n_out) */
    int64_t count = (int64_t)B * li->n_out;
    int status = ANN_OK;
    if (w->mask[l + 1])
        status = ann_dropout_backward(g, g, w->mask[l + 1], count, net->dropout);
    if (status == ANN_OK)
        status = ann_activation_backward(g, g, w->pre[l + 1], w->act[l + 1], count, li->act,
                                         li->slope);
    if (status == ANN_OK && li->gamma >= 0)
        status = ann_batchnorm_backward(g, net->grads + li->gamma, net->grads + li->beta, g,
                                        w->xhat[l + 1], w->bn_var + stats_offset(net, l),
                                        net->params + li->gamma, B, li->n_out, ANN_BN_EPS);
    return status;
}

/* Step 3 for layer l: from dact[l + 1], the layer's dW and db into grads and, below the first
 * layer, dact[l] (B, n_in) = the gradient of its input. */
static int layer_backward(ann_net *net, net_work *w, int l, int B)
{
    const layer_info *li = &net->layers[l];
    int status = li->hidden ? ann__net_activation_backward(net, w, l, B) : ANN_OK;
    if (status != ANN_OK) return status;
    return ann_dense_backward(l > 0 ? w->dact[l] : NULL, net->grads + li->w,
                              net->grads + li->b, w->dact[l + 1], ann__net_layer_input(w, l),
                              net->params + li->w, B, li->n_in, li->n_out);
}

/* Steps 2 and 3 for the L2 penalty (l2/2) sum W^2: added to *loss, and l2 W added to every
 * layer's dW. Runs after the backward pass (it adds to the dW that pass wrote). */
static int l2_forward_backward(ann_net *net, double *loss)
{
    if (net->l2 == 0.0f) return ANN_OK;
    for (int l = 0; l < net->L; l++) {
        const layer_info *li = &net->layers[l];
        double penalty = 0.0;
        int status = ann_l2_penalty(&penalty, net->grads + li->w, net->params + li->w,
                                    (int64_t)li->n_in * li->n_out, net->l2);
        if (status != ANN_OK) return status;
        *loss += penalty;
    }
    return isfinite(*loss) ? ANN_OK : ANN_E_NONFINITE;
}

/* Step 4: the chosen optimizer over all P parameters and their gradients. (For a wide network
 * the ops split this loop over the thread pool in fixed blocks, which changes no value.) */
static int update(ann_net *net, float lr)
{
    switch (net->opt_kind) {
    case ANN_MOMENTUM:
    case ANN_NESTEROV:
        return ann_momentum_update(net->params, net->opt_m, net->grads, net->P, lr,
                                   net->momentum, net->opt_kind == ANN_NESTEROV);
    case ANN_ADAM:
        net->step++;
        return ann_adam_update(net->params, net->opt_m, net->opt_v, net->grads, net->P, lr,
                               net->beta1, net->beta2, net->eps, net->step);
    default:
        return ann_sgd_update(net->params, net->grads, net->P, lr);
    }
}

/* Step 5, for the max-norm constraint (Srivastava et al. 2014, section 5.1): every hidden
 * unit j's incoming weight vector, column j of its layer's W (n_in, n_out), is scaled back
 * onto the ball of L2 norm c when the update took it outside:
 *   w_j <- w_j * min(1, c / ||w_j||)
 * This is a projection after the gradient step (projected gradient descent), not a term of
 * the loss, so it has no derivative and the backward pass does not change: the optimizer
 * moves freely, and the constraint only pulls back the columns that grew too long. The top
 * layer (the logits) is left free, as in the paper. W is walked row by row (contiguous) with
 * the squared norms of all n_out columns accumulated in double, in the same order for any
 * thread count. */
static int max_norm_project(ann_net *net)
{
    if (net->max_norm <= 0.0f) return ANN_OK;
    const double c = net->max_norm;
    for (int l = 0; l < net->L; l++) {
        const layer_info *li = &net->layers[l];
        if (!li->hidden) continue;
        float *W = net->params + li->w;                 /* (n_in, n_out) */
        double *norm = net->col_norm;                   /* (n_out) */
        const int n_in = li->n_in, n_out = li->n_out;
        for (int j = 0; j < n_out; j++) norm[j] = 0.0;
        for (int i = 0; i < n_in; i++) {
            const float *row = W + (size_t)i * n_out;
            for (int j = 0; j < n_out; j++) norm[j] += (double)row[j] * row[j];
        }
        /* norm[j] becomes the factor for column j: c / ||w_j||, or 1 inside the ball */
        for (int j = 0; j < n_out; j++) norm[j] = norm[j] > c * c ? c / sqrt(norm[j]) : 1.0;
        for (int i = 0; i < n_in; i++) {
            float *row = W + (size_t)i * n_out;
            for (int j = 0; j < n_out; j++)
                if (norm[j] != 1.0) row[j] = (float)(row[j] * norm[j]);
        }
    }
    return ANN_OK;
}

/* ---- one training step -------------------------------------------------------------------- */

/* Step 1 for every layer: act[1..L] from act[0] for B rows.
 * Speed-up: with net->fused, a hidden layer without batch norm runs
 * ann__net_layer_forward_bias_act (net_fused.c) instead of layer_forward: the same bits. */
static int forward(const ann_net *net, net_work *w, int B, int training)
{
    for (int l = 0; l < net->L; l++) {
        const layer_info *li = &net->layers[l];
        int status = net->fused && li->hidden && li->gamma < 0
                         ? ann__net_layer_forward_bias_act(net, w, l, B, training)
                         : layer_forward(net, w, l, B, training);
        if (status != ANN_OK) return status;
    }
    return ANN_OK;
}

/* Step 3 for every layer, from the top.
 * Speed-up: with net->fused, a hidden layer runs ann__net_layer_backward (net_fused.c) instead
 * of layer_backward, whose dropout and ReLU backward passes are there one sweep: the same bits. */
static int backward(ann_net *net, net_work *w, int B)
{
    for (int l = net->L - 1; l >= 0; l--) {
        const int fused = net->fused && net->layers[l].hidden;
        int status = fused ? ann__net_layer_backward(net, w, l, B) : layer_backward(net, w, l, B);
        if (status != ANN_OK) return status;
    }
    return ANN_OK;
}

/* Checks the arguments of a training call, loads its B rows and what the head reads into the
 * network's own net_work (act[0], labels, targets) and gives the batch a copy of the dropout
 * stream to draw from (see commit_forward). */
static int begin_batch(ann_net *net, double *loss, const ann_data *data, const int32_t *idx,
                       int B)
{
    if (!net || !loss || !data || !data->features || !idx) return ANN_E_NULL;
    if (!data_fits_head(net, data)) return ANN_E_NULL;
    if (B < 1 || data->N < 1) return ANN_E_SIZE;
    /* A one-row batch has variance 0: batch norm would train on xhat = 0 and blend that 0
     * into the running variance, mis-normalising every later prediction (PyTorch refuses
     * it too). The training loop merges a lone last row into the batch before it. */
    if (B < 2 && net->batchnorm && net->L > 1) return ANN_E_SIZE;
    net_work *w = &net->work;
    int status = work_reserve(w, net, B, 1);
    if (status != ANN_OK) return status;
    status = load_batch(w->act[0], w, net, data, idx, 0, B);
    w->dropout_rng = net->dropout_rng;
    if (status != ANN_OK || !net->augment) return status;
    /* the training batch has just been gathered: the one place augmentation happens */
    return ann_augment_batch(w->act[0], &net->aug, net->aug_step, B, net->aug_h, net->aug_w);
}

/* ann_net_forward_backward (ann.h): steps 1 to 3. */
static int forward_backward(ann_net *net, double *loss, int64_t *correct, const ann_data *data,
                            const int32_t *idx, int B)
{
    int status = begin_batch(net, loss, data, idx, B);
    if (status == ANN_OK) status = forward(net, &net->work, B, 1);
    if (status == ANN_OK) status = loss_forward_backward(net, &net->work, B, loss, correct);
    if (status != ANN_OK) return status;        /* the network is as it was */
    commit_forward(net, &net->work, B);
    status = backward(net, &net->work, B);
    if (status == ANN_OK) status = l2_forward_backward(net, loss);
    return status;
}

/* ann_net_train_step (ann.h): steps 1 to 5, in order. */
static int train_step(ann_net *net, double *loss, int64_t *correct, const ann_data *data,
                      const int32_t *idx, int B, float lr)
{
    if (!net) return ANN_E_NULL;
    if (!(lr >= 0.0f) || !isfinite(lr)) return ANN_E_ARG;
    net_work *w = &net->work;
    int status = begin_batch(net, loss, data, idx, B);
    if (status == ANN_OK) status = forward(net, w, B, 1);
    if (status == ANN_OK) status = loss_forward_backward(net, w, B, loss, correct);
    if (status != ANN_OK) return status;        /* a NaN loss leaves the network as it was */
    commit_forward(net, w, B);
    if (net->fused && net->opt_kind == ANN_SGD && net->l2 == 0.0f && lr > 0.0f) {
        /* speed-up: steps 3 and 4 in one pass, ann__net_backward_sgd (net_fused.c), equal to
         * the three lines below up to float32 rounding */
        status = ann__net_backward_sgd(net, w, B, lr);
    } else {
        status = backward(net, w, B);
        if (status == ANN_OK) status = l2_forward_backward(net, loss);
        if (status == ANN_OK) status = update(net, lr);
    }
    if (status == ANN_OK) status = max_norm_project(net);  /* on the updated weights */
    return status;
}

/* The two entry points run the step with denormals flushed to zero on this thread, as on the
 * pool's, and give the caller back its own floating-point mode (platform.h). */
int ann_net_forward_backward(ann_net *net, double *loss, int64_t *correct,
                             const ann_data *data, const int32_t *idx, int B)
{
    const ann__fpmode fp = ann__flush_denormals();
    const int status = forward_backward(net, loss, correct, data, idx, B);
    ann__restore_fpmode(fp);
    return status;
}

int ann_net_train_step(ann_net *net, double *loss, int64_t *correct,
                       const ann_data *data, const int32_t *idx, int B, float lr)
{
    const ann__fpmode fp = ann__flush_denormals();
    const int status = train_step(net, loss, correct, data, idx, B, lr);
    ann__restore_fpmode(fp);
    return status;
}

/* ---- inference ------------------------------------------------------------------------- */

/* From the logits act[L] (rows, K) of w: the head's outputs, the predicted classes, and the
 * loss and hits against what load_batch brought in (when the data fits the head). Without it,
 * the head still runs for its outputs, on labels 0 or zero targets: any valid ones give the
 * same outputs. */
static int finish_block(float *outputs, int32_t *classes, double *loss_sum, int64_t *correct,
                        const ann_net *net, net_work *w, int rows)
{
    const int K = net->sizes[net->L];
    const float *logits = w->act[net->L];               /* (rows, K) */
    const int scored = net->head == ANN_SOFTMAX_CE ? w->has_labels : w->has_targets;
    if (classes)
        for (int r = 0; r < rows; r++) classes[r] = predicted_class(net, logits + (size_t)r * K, K);
    if (correct) *correct += count_correct(net, logits, w, rows);
    if (!outputs && !(loss_sum && scored)) return ANN_OK;
    if (!scored) {
        memset(w->labels, 0, (size_t)rows * sizeof(int32_t));
        memset(w->targets, 0, (size_t)rows * K * sizeof(float));
    }
    double mean = 0.0;
    int status = head_forward_backward(net, NULL, outputs, &mean, logits, w->labels, w->targets,
                                       rows);
    if (status != ANN_OK) return status;
    if (loss_sum && scored) *loss_sum += mean * rows;
    return ANN_OK;
}

/* One predict call, cut into blocks of ANN_PREDICT_BLOCK rows; block b's loss sum, hits and
 * status go to its own slots, so that blocks can run on any thread in any order. */
typedef struct {
    const ann_net *net;
    float *outputs;
    int32_t *classes;
    int want_loss, want_correct;
    const ann_data *data;
    const int32_t *idx;
    int64_t n;
    int blocks;
    net_work *works;            /* (threads) on the pool: thread w's buffers, made at first use */
    double *block_loss;         /* (blocks) */
    int64_t *block_correct;     /* (blocks) */
    int *block_status;          /* (blocks) */
} predict_job;

/* Blocks first..last-1 of the job, one after another in the net_work w. */
static void predict_blocks(const predict_job *job, net_work *w, int first, int last)
{
    const ann_net *net = job->net;
    const int K = net->sizes[net->L];
    for (int b = first; b < last; b++) {
        const int64_t start = (int64_t)b * ANN_PREDICT_BLOCK;
        const int rows = (int)(job->n - start < ANN_PREDICT_BLOCK ? job->n - start
                                                                  : ANN_PREDICT_BLOCK);
        double loss = 0.0;
        int64_t hits = 0;
        int status = load_batch(w->act[0], w, net, job->data,
                                job->idx ? job->idx + start : NULL, start, rows);
        if (status == ANN_OK) status = forward(net, w, rows, 0);
        if (status == ANN_OK)
            status = finish_block(job->outputs ? job->outputs + start * K : NULL,
                                  job->classes ? job->classes + start : NULL,
                                  job->want_loss ? &loss : NULL, job->want_correct ? &hits : NULL,
                                  net, w, rows);
        job->block_loss[b] = loss;
        job->block_correct[b] = hits;
        job->block_status[b] = status;
        if (status != ANN_OK) return;   /* predict() reads no status past the first failure */
    }
}

/* Block b of the job, on the pool's thread `worker`, in that thread's net_work (a task for
 * ann__parallel_for: a worker runs one task at a time, so its net_work needs no lock). */
static void predict_chunk(void *ctx, int b, int worker)
{
    const predict_job *job = ctx;
    net_work *w = &job->works[worker];
    const int status = work_reserve(w, job->net, ANN_PREDICT_BLOCK, 0);
    if (status == ANN_OK) predict_blocks(job, w, b, b + 1);
    else job->block_status[b] = status;
}

/*
 * ann_net_predict (ann.h). Reads the network and writes only its own buffers (net_works of
 * at most ANN_PREDICT_BLOCK rows, allocated here) and the caller's outputs: calls on one
 * network may run at the same time.
 *
 * Threads: with at least two blocks per thread, whole blocks go to the thread pool, each
 * thread with its own net_work, and each block's products run on one thread. That splits the
 * whole pass, batch gather and softmax included, with one wake-up of the pool per call (one
 * per product before: predicting 10,000 images with the seed network took longer on two
 * threads than on one). Fewer blocks run one after another, their products split between
 * threads as in training. A block computes the same values on any thread, and the loss sums
 * are added in block order, so results do not depend on the threads.
 */
static int predict(const ann_net *net, float *outputs, int32_t *classes, double *loss_sum,
                   int64_t *correct, const ann_data *data, const int32_t *idx, int64_t n)
{
    if (!net || !data || !data->features) return ANN_E_NULL;
    if (n < 1 || data->N < 1 || (!idx && n > data->N)) return ANN_E_SIZE;
    if (n > (int64_t)ANN_PREDICT_BLOCK * INT32_MAX) return ANN_E_SIZE;
    predict_job job = {net, outputs, classes, loss_sum != NULL, correct != NULL, data, idx, n,
                       (int)((n + ANN_PREDICT_BLOCK - 1) / ANN_PREDICT_BLOCK), NULL,
                       NULL, NULL, NULL};
    job.block_loss = ann__malloc((size_t)job.blocks * sizeof *job.block_loss);
    job.block_correct = ann__malloc((size_t)job.blocks * sizeof *job.block_correct);
    job.block_status = ann__malloc((size_t)job.blocks * sizeof *job.block_status);
    int status = job.block_loss && job.block_correct && job.block_status ? ANN_OK : ANN_E_NOMEM;
    const int threads = ann_get_num_threads();
    if (status == ANN_OK && threads > 1 && job.blocks >= 2 * threads) {
        /* a block per chunk, taken in turn: a thread that a busy core slows takes fewer */
        job.works = ann__calloc((size_t)threads, sizeof *job.works);
        if (!job.works) status = ANN_E_NOMEM;
        if (status == ANN_OK) ann__parallel_for(job.blocks, predict_chunk, &job);
        for (int t = 0; job.works && t < threads; t++) work_free(&job.works[t]);
        free(job.works);
    } else if (status == ANN_OK) {
        net_work w = {0};
        status = work_reserve(&w, net, (int)(n < ANN_PREDICT_BLOCK ? n : ANN_PREDICT_BLOCK), 0);
        if (status == ANN_OK) predict_blocks(&job, &w, 0, job.blocks);
        work_free(&w);
    }
    if (loss_sum) *loss_sum = 0.0;
    if (correct) *correct = 0;
    for (int b = 0; status == ANN_OK && b < job.blocks; b++) {
        status = job.block_status[b];
        if (loss_sum) *loss_sum += job.block_loss[b];
        if (correct) *correct += job.block_correct[b];
    }
    free(job.block_loss);
    free(job.block_correct);
    free(job.block_status);
    return status;
}

/* With denormals flushed to zero on this thread, as in training (platform.h). */
int ann_net_predict(ann_net *net, float *outputs, int32_t *classes, double *loss_sum,
                    int64_t *correct, const ann_data *data, const int32_t *idx, int64_t n)
{
    const ann__fpmode fp = ann__flush_denormals();
    const int status = predict(net, outputs, classes, loss_sum, correct, data, idx, n);
    ann__restore_fpmode(fp);
    return status;
}
