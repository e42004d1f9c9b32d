"""The C core's random numbers, written in Python bit for bit (csrc/ops.c, csrc/augment.c).

One generator, splitmix64, drives everything random in ann: the initial weights, each epoch's
shuffle, the dropout masks and the augmentation of each image. The pure-Python backend must
draw exactly the numbers the C core draws (so both backends train the same network from the
same seed), and so must the float64 twin of augmentation and ``ann trace``: they all take them
from here. Each function names its C twin.

A leaf module: it imports nothing from ann, so any module may use it.
"""

from __future__ import annotations

from array import array

MASK64 = 0xFFFFFFFFFFFFFFFF


def splitmix64(state: int) -> tuple[int, int]:
    """(next 64 random bits, new state): ``ann__splitmix64`` of csrc/ops.c."""
    state = (state + 0x9E3779B97F4A7C15) & MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31), state


def uniform(state: int) -> tuple[float, int]:
    """(u in [0, 1), new state): ``ann_random_uniform``, the top 24 bits of the next draw
    times 2^-24 (exact: 24 bits fit a float32 and a double alike)."""
    bits, state = splitmix64(state)
    return (bits >> 40) * 2.0**-24, state


def shuffle(idx: array[int], state: int) -> int:
    """Fisher-Yates shuffle of idx in place, as ``ann_shuffle`` does; returns the new state."""
    state &= MASK64
    for i in range(len(idx) - 1, 0, -1):
        bits, state = splitmix64(state)
        j = bits % (i + 1)
        idx[i], idx[j] = idx[j], idx[i]
    return state


def augment_stream(seed: int, step: int, row: int) -> int:
    """The initial state of the stream of image ``row`` of batch ``step``
    (``ann_augment_stream``): every image draws its own numbers, whatever the thread count."""
    s = (seed ^ 0xA06E7A06E7) & MASK64
    bits, _ = splitmix64(s)
    s = bits ^ (step & MASK64)
    bits, _ = splitmix64(s)
    s = bits ^ (row & MASK64)
    bits, _ = splitmix64(s)
    return bits
