/*
 * net_fused.c -- the speed-ups of the training step: each does two textbook steps of net.c in
 * one pass over memory, and runs instead of them when net->fused is set (the default;
 * ann_net_set_fused(net, 0) turns them off, leaving the plain path of net.c alone).
 *
 * Read net.c first: these functions are that file's steps with a loop merged or a buffer
 * skipped, and each names the plain functions it replaces. tests/test_fused_plain.py trains
 * the same network both ways and holds them equal: bit for bit, except where the comment of
 * ann__net_backward_sgd says why the rounding differs. docs/fused.md derives both.
 *
 * Shapes: B batch rows; layer l maps x (B, n_in) to z (B, n_out) with W (n_in, n_out), b (n_out).
 */
#include "ann.h"
#include "internal.h"
#include "net_internal.h"

/* Replaces layer_forward (net.c) for a hidden layer without batch norm, which runs
 * ann_dense_forward (GEMM, then the bias add over the whole output) and then the activation's
 * forward op (over the whole output again): here the bias add and the activation run row by
 * row while the row is in cache, a = f(x W + b) (ann__bias_activation, ops.c), which saves
 * reading and writing the (B, n_out) output once. Same arithmetic in the same order, so the same
 * bits (tests/test_fused_plain.py, test_fused_and_plain_paths_agree_bit_for_bit). It pays most
 * for the cheap activations (ReLU, leaky ReLU, identity), whose time is all memory traffic.
 * Dropout follows as in layer_forward. */
int ann__net_layer_forward_bias_act(const ann_net *net, net_work *w, int l, int B,
                                    int training)
{
    const layer_info *li = &net->layers[l];
    float *z = ann__net_layer_z(w, l);                  /* (B, n_out) */
    int status = ann_sgemm(0, 0, B, li->n_out, li->n_in, ann__net_layer_input(w, l), li->n_in,
                           net->params + li->w, li->n_out, 0.0f, z, li->n_out);
    if (status != ANN_OK) return status;
    ann__bias_activation(w->act[l + 1], z, net->params + li->b, B, li->n_out, li->act,
                         li->slope);
    return ann__net_dropout_forward(net, w, l, B, training);
}

/* Replaces ann__net_activation_backward (net.c) for a ReLU layer without batch norm, which
 * runs ann_dropout_backward and then ReLU's backward over dact[l + 1]: here both are one
 * sweep, ann__relu_dropout_backward (ops.c). Same bits (tests/test_fused_plain.py). */
static int activation_backward_relu(const ann_net *net, net_work *w, int l, int B)
{
    float *g = w->dact[l + 1];                          /* (B, n_out) */
    const float *a = w->act[l + 1];                     /* (B, n_out) the ReLU's output */
    const int64_t count = (int64_t)B * net->layers[l].n_out;
    if (w->mask[l + 1]) ann__relu_dropout_backward(g, a, w->mask[l + 1], count, net->dropout);
    else ann_relu_backward(g, g, a, count);
    return ANN_OK;
}

/* The activation backward of hidden layer l as the network runs it: the fused sweep above for
 * ReLU without batch norm, else the textbook steps. */
static int activation_backward(ann_net *net, net_work *w, int l, int B)
{
    const layer_info *li = &net->layers[l];
    if (li->gamma < 0 && li->act == ANN_RELU) return activation_backward_relu(net, w, l, B);
    return ann__net_activation_backward(net, w, l, B);
}

/* Replaces layer_backward (net.c) for a hidden layer: activation_backward above, then the same
 * ann_dense_backward. Every optimizer but fused plain SGD takes this path. */
int ann__net_layer_backward(ann_net *net, net_work *w, int l, int B)
{
    const layer_info *li = &net->layers[l];
    int status = activation_backward(net, w, l, B);
    if (status != ANN_OK) return status;
    return ann_dense_backward(l > 0 ? w->dact[l] : NULL, net->grads + li->w,
                              net->grads + li->b, w->dact[l + 1], ann__net_layer_input(w, l),
                              net->params + li->w, B, li->n_in, li->n_out);
}

/*
 * Replaces layer_backward (step 3) and, for this layer's parameters, update (step 4) of net.c,
 * for plain SGD without L2. With dW = x^T dy,
 *   W - lr dW = W + x^T (-lr dy),
 * so scaling dy by -lr (B x n_out values) and running the weight-gradient GEMM with beta = 1
 * into W itself updates W in one pass over it, without storing dW and reading it back. dx uses
 * the old W, so it is computed first. b, gamma and beta get the plain SGD step from their
 * gradients, which are stored. The result equals layer_backward + update up to float32
 * rounding: lr multiplies each product before the sum instead of the sum, and W is added
 * inside the GEMM (tests/test_fused_plain.py,
 * test_folded_sgd_step_matches_plain_sgd_within_rounding). Only plain SGD without L2 can skip
 * dW: L2 adds l2 W to it, and momentum and Adam keep per-parameter state that needs each
 * gradient.
 */
static int layer_backward_sgd(ann_net *net, net_work *w, int l, int B, float lr)
{
    const layer_info *li = &net->layers[l];
    const int n_in = li->n_in, n_out = li->n_out;
    float *W = net->params + li->w, *b = net->params + li->b, *db = net->grads + li->b;
    float *dy = w->dact[l + 1];                         /* (B, n_out) */
    int status = li->hidden ? activation_backward(net, w, l, B) : ANN_OK;
    if (status == ANN_OK && l > 0)
        status = ann_sgemm(0, 1, B, n_in, n_out, dy, n_out, W, n_out, 0.0f, w->dact[l], n_in);
    if (status != ANN_OK) return status;
    ann__sum_rows(db, dy, B, n_out);
    /* b, then gamma and beta if the layer has them, sit side by side after W */
    status = ann_sgd_update(b, db, (li->gamma >= 0 ? 3 : 1) * (int64_t)n_out, lr);
    if (status != ANN_OK) return status;
    for (int64_t i = 0; i < (int64_t)B * n_out; i++) dy[i] *= -lr;
    return ann_sgemm(1, 0, n_in, n_out, B, ann__net_layer_input(w, l), n_in, dy, n_out, 1.0f, W,
                     n_out);
}

/* Replaces backward, l2_forward_backward (nothing to do: l2 == 0) and update of net.c's
 * ann_net_train_step: steps 3 and 4 for every layer, from the top, by layer_backward_sgd. */
int ann__net_backward_sgd(ann_net *net, net_work *w, int B, float lr)
{
    for (int l = net->L - 1; l >= 0; l--) {
        int status = layer_backward_sgd(net, w, l, B, lr);
        if (status != ANN_OK) return status;
    }
    return ANN_OK;
}
