"""The few protocol-buffer encodings an ONNX file needs, so that writing one needs no
``onnx`` or ``protobuf`` package.

A message is a sequence of fields, each a key (field number << 3 | wire type) as a varint,
then the value: wire type 0 a varint (ints, enums: negative ones as their 64-bit two's
complement), 5 four little-endian bytes (float), 2 a varint length and that many bytes
(strings, bytes, embedded messages). Repeated fields are the field written once per element
(the unpacked form, which every reader accepts). A field left at its default is omitted.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

VARINT, FIXED32, LENGTH_DELIMITED = 0, 5, 2


def varint(value: int) -> bytes:
    """Little-endian base-128: 7 bits a byte, the high bit set on all but the last."""
    if value < 0:
        value += 1 << 64  # int64 fields: two's complement, always ten bytes
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def int_field(number: int, value: int) -> bytes:
    return _key(number, VARINT) + varint(value)


def float_field(number: int, value: float) -> bytes:
    return _key(number, FIXED32) + struct.pack("<f", value)


def bytes_field(number: int, value: bytes) -> bytes:
    return _key(number, LENGTH_DELIMITED) + varint(len(value)) + value


def string_field(number: int, value: str) -> bytes:
    return bytes_field(number, value.encode("utf-8"))


def message(fields: Iterable[bytes]) -> bytes:
    """A message: its encoded fields, one after the other."""
    return b"".join(fields)
