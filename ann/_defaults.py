"""The defaults of training, written once.

``ann train``'s options, ``ann.Network`` and ``Network.fit`` take their defaults from here, and
the "seed" preset is these values: the network and recipe of the seed study (a 784-20-7-5-10
MLP trained with SGD at learning rate 0.009 on mini-batches of 64, 20 % of the training set
held out for validation and early stopping after 5 checks without improvement). A plain
module of constants.
"""

from typing import Final

INPUTS = 784  # MNIST's 28 x 28 pixels
CLASSES = 10  # MNIST's digits
HIDDEN = (20, 7, 5)  # the seed study's hidden layers
LAYERS = (INPUTS, *HIDDEN, CLASSES)

OPTIMIZER: Final = "sgd"  # Final: its type is the literal, as Preset.optimizer wants
LR = 0.009
BATCH_SIZE = 64
EPOCHS = 60  # ann train's; Network.fit's own default is a short run
MOMENTUM = 0.9  # momentum and Nesterov's mu
BETAS = (0.9, 0.999)  # Adam's
EPS = 1e-8  # Adam's

VAL_FRACTION = 0.2
PATIENCE = 5
