/*
 * net_internal.h -- the inside of an ann_net, shared by net.c (the textbook step) and
 * net_fused.c (its speed-ups); not part of the API.
 *
 * Shapes: B batch rows, L layers, sizes[l] the width of activation l (sizes[0] = D inputs,
 * sizes[L] = K outputs), P parameters, S running statistics.
 */
#ifndef ANN_NET_INTERNAL_H
#define ANN_NET_INTERNAL_H
#include <stdint.h>

#include "ann.h"

/* Where layer l's tensors sit in the network's buffers. */
typedef struct {
    int n_in, n_out;
    int64_t w, b;               /* offsets in params (and grads) of W and b */
    int64_t gamma, beta;        /* offsets in params of the batch-norm scale and shift, or -1 */
    int64_t run_mean, run_var;  /* offsets in state, or -1 */
    int hidden;                 /* 1 for every layer but the last */
    int act;                    /* a hidden layer's activation: ANN_IDENTITY ... ANN_GELU */
    float slope;                /* its negative slope, read by ANN_LEAKY_RELU */
} layer_info;

/*
 * The per-row buffers of one pass over up to `cap` rows. A training pass needs them all and
 * uses the network's own (net->work); an inference pass needs only act and brings its own, so
 * that passes on one network can run at the same time (ann_net_predict).
 */
typedef struct {
    int cap;                    /* rows the buffers hold (0: none yet) */
    float **act;                /* (L + 1): act[0] (cap, D) the inputs, act[l+1] (cap, sizes[l+1])
                                 * layer l's output a: after the activation, before dropout
                                 * (the logits z on top) */
    float **pre;                /* (L + 1), training: pre[l+1] (cap, sizes[l+1]) the activation's
                                 * input z of a hidden layer whose derivative reads it (GELU),
                                 * else NULL (the activation then runs in place in act) */
    float **drop;               /* (L + 1), training: drop[l+1] (cap, sizes[l+1]) the output h of
                                 * dropout after a hidden layer, when dropout is on, else NULL;
                                 * the next layer reads h (ann__net_layer_input) */
    float **dact;               /* (L + 1), training: dact[l] (cap, sizes[l]) = dLoss/d(the input
                                 * of layer l), i.e. of drop[l] if it is there, else of act[l] */
    float **xhat;               /* (L + 1), training: xhat[l+1] (cap, sizes[l+1]) the normalized
                                 * z of a batch-normalized layer, else NULL */
    uint8_t **mask;             /* (L + 1), training: mask[l+1] (cap, sizes[l+1]) the dropout
                                 * keep flags of a layer with dropout, else NULL */
    int32_t *labels;            /* (cap): the labels of the batch, when the data has them */
    float *targets;             /* (cap, K): the head's float targets of the batch (ann_data) */
    int has_labels, has_targets; /* what load_batch found in the data for this batch */
    float *bn_mean, *bn_var;    /* (sum of hidden widths), training: the batch statistics of
                                 * each batch-normalized layer */
    uint64_t dropout_rng;       /* training: the dropout stream as this batch draws from it;
                                 * the network's moves on to it only after a finite loss */
    float *floats;              /* the one allocation behind act, pre, drop, dact, xhat, targets */
    uint8_t *bytes;             /* the one behind mask */
} net_work;

struct ann_net {
    int L;
    int32_t *sizes;             /* (L + 1) */
    layer_info *layers;         /* (L) */
    int batchnorm;
    float dropout;
    int head;                   /* ANN_SOFTMAX_CE ... ANN_SIGMOID_MSE */
    int64_t P, S;
    float *params, *grads;      /* (P) each */
    float *state;               /* (S) batch-norm running mean and variance */
    /* settings (ann_net_set_*) */
    int opt_kind;
    float momentum, beta1, beta2, eps, l2;
    int64_t step;               /* Adam's t */
    float *opt_m, *opt_v;       /* (P) each, or NULL when the rule needs none */
    uint64_t dropout_rng;       /* the dropout stream */
    int fused;                  /* 1: run the speed-ups of net_fused.c (the default) */
    float max_norm;             /* > 0: the max-norm bound c on hidden units' incoming weights */
    double *col_norm;           /* (widest hidden layer) squared column norms, for max_norm */
    float *in_mean, *in_std;    /* (D) each: input standardisation, or both NULL (none) */
    int augment;                /* 1: distort each training batch by aug (augment.c) */
    ann_augment aug;
    int aug_h, aug_w;           /* the image shape, aug_h * aug_w = sizes[0] */
    int64_t aug_step;           /* training batches distorted since ann_net_set_augment */
    net_work work;              /* the buffers of a training pass */
};

/* Textbook steps of net.c that the speed-ups reuse as they are. */
const float *ann__net_layer_input(const net_work *w, int l);
float *ann__net_layer_z(const net_work *w, int l);
int ann__net_dropout_forward(const ann_net *net, net_work *w, int l, int B, int training);
int ann__net_activation_backward(ann_net *net, net_work *w, int l, int B);

/* The speed-ups (net_fused.c), each equal to textbook steps of net.c, as said there. */
int ann__net_layer_forward_bias_act(const ann_net *net, net_work *w, int l, int B,
                                    int training);
int ann__net_backward_sgd(ann_net *net, net_work *w, int B, float lr);
int ann__net_layer_backward(ann_net *net, net_work *w, int l, int B);

#endif
