"""Every default that more than one part of ann states, written once.

Most are the seed study's settings: the network and training run that ``ann train`` does with
no options, that ``Network`` and ``Network.fit`` default to, that the ``seed`` preset names and
that ``ann experiment`` varies. The help of ``ann train`` quotes these values, so changing one
here changes what the command says as well as what it does.
"""

from __future__ import annotations

from typing import Final

# ---- the seed study's network and training run --------------------------------------------------

INPUTS = 784  # MNIST's 28 x 28 pixels: a network's inputs when no data set says otherwise
CLASSES = 10  # MNIST's digits: its outputs likewise
HIDDEN = (20, 7, 5)  # hidden layer sizes, between any input and output
LAYERS = (INPUTS, *HIDDEN, CLASSES)  # the seed study's network, 784-20-7-5-10
OPTIMIZER: Final = "sgd"  # (Final: its type is the literal Preset.optimizer takes)
LR = 0.009  # the learning rate of SGD
BATCH_SIZE = 64  # examples per mini-batch
EPOCHS = 60  # most epochs of ann train (early stopping usually ends training sooner)
MOMENTUM = 0.9  # of the momentum and Nesterov optimizers
BETAS = (0.9, 0.999)  # Adam's decay rates of its first and second moments
EPS = 1e-8  # Adam's denominator guard
VAL_FRACTION = 0.2  # share of the training examples held out for validation
SEED = 0  # of the initial weights, the split and the batch order
ACTIVATION: Final = "relu"  # of every hidden layer
HEAD: Final = "softmax-ce"  # the output function and loss: softmax + cross-entropy
INIT: Final = "uniform"  # the weight initialisation (docs/initialisation.md)
NEGATIVE_SLOPE = 0.01  # leaky ReLU's slope below 0 (PyTorch's default)

# early stopping on the validation loss
PATIENCE = 5  # validation checks without improvement before training stops
MIN_DELTA = 0.0  # smallest drop of the validation loss that counts as one
CHECK_EVERY = 100  # optimizer steps between validation checks

# ---- learning-rate schedules --------------------------------------------------------------------

PLATEAU_FACTOR = 0.5  # the rate is multiplied by this on a plateau ...
PLATEAU_PATIENCE = 3  # ... of this many validation checks without improvement
ONECYCLE_DIV = 25.0  # one-cycle starts at max_lr / this ...
ONECYCLE_FINAL_DIV = 1e4  # ... and ends at max_lr / (ONECYCLE_DIV * this)

# ---- ann trace / Network.trace ------------------------------------------------------------------

TRACE_LR = 0.1  # a step large enough to see the parameters move
TRACE_SEED = 1  # the weights, pixels and labels of the docs' worked examples (ann trace --seed 1)
TRACE_SEED_DIGITS = 0  # ann trace --digits: 3 of its 4 hidden units active (1 with seed 1)
TRACE_BATCH = 2  # rows of the traced batch ...
TRACE_BATCH_BATCHNORM = 3  # ... and with batch norm, where two rows make every x-hat +-1
TRACE_MAX_STEPS = 100  # steps of one trace: it records every matrix of every step

# ---- ann gradcheck / the gradient check ---------------------------------------------------------

GRADCHECK_LAYERS = (12, 9, 7, 5, 4)  # the small test network: inputs, hidden sizes, classes
GRADCHECK_BATCH = 8  # rows of the random batch the gradients are taken on
GRADCHECK_TOLERANCE = 1e-3  # largest relative error that passes

# ---- ann export-c --int8 / ann.quantize ---------------------------------------------------------

CALIBRATION_ROWS = 1000  # training rows the int8 activation ranges are measured on (seed 0)
