/*
 * net_internal.h -- the inside of an ann_net, shared by net.c (the textbook step) and
 * net_fused.c (its speed-ups); not part of the API.
 *
 * Shapes: B batch rows, L layers, sizes[l] the width of activation l (sizes[0] = D inputs,
 * sizes[L] = K classes), P parameters, S running statistics.
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
} layer_info;

struct ann_net {
    int L;
    int32_t *sizes;             /* (L + 1) */
    layer_info *layers;         /* (L) */
    int batchnorm;
    float dropout;
    int64_t P, S;
    float *params, *grads;      /* (P) each */
    float *state;               /* (S) batch-norm running mean and variance */
    float *bn_mean, *bn_var;    /* (sum of hidden widths) batch statistics of the last training
                                 * forward, kept for its backward pass */
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
    /* workspace for `cap` rows */
    int cap;
    float *work;
    float **act;                /* (L + 1): act[0] (cap, D) inputs, act[l+1] (cap, sizes[l+1])
                                 * the output of layer l (after ReLU and dropout; logits on top) */
    float **dact;               /* (L + 1): dact[l] (cap, sizes[l]) = dLoss/dact[l] */
    float **xhat;               /* (L + 1): xhat[l+1] (cap, sizes[l+1]) normalized z, if BN */
    uint8_t **mask;             /* (L + 1): mask[l+1] (cap, sizes[l+1]) dropout keep flags */
    uint8_t *mask_work;
    int32_t *labels;            /* (cap) */
    uint64_t batch_rng;         /* the dropout stream as the current training batch draws from
                                 * it; dropout_rng moves on to it only after a finite loss */
};

/* Textbook steps of net.c that the speed-ups reuse as they are. */
int ann__net_dropout_forward(ann_net *net, int l, int B, int training);
int ann__net_activation_backward(ann_net *net, int l, int B);

/* The speed-ups (net_fused.c), each equal to textbook steps of net.c, as said there. */
int ann__net_layer_forward_bias_relu(ann_net *net, int l, int B, int training);
int ann__net_backward_sgd(ann_net *net, int B, float lr);

#endif
