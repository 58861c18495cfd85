"""Bounds on what a request message may hold, checked on its wire bytes before it is parsed.

A message's byte size says little about its cost: 32 MB of empty `inputs`
entries parse into 16 million message objects (gigabytes, seconds of the
event loop). So before protobuf builds anything, a scan guided by the
message's descriptor counts each repeated field's entries and all fields
together, and stops at the first count over its bound. The scan's own cost is
bounded by those counts, never by the message's length: long fields are
skipped by their length prefix, and packed numbers are counted without a
Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from google.protobuf.descriptor import Descriptor, FieldDescriptor

# Repeated fields that carry tensor data: bounded by the message size alone (numbers in one packed field).
DATA_FIELDS = frozenset(
    f"inference.InferTensorContents.{kind}_contents" for kind in ("bool", "int", "int64", "uint", "uint64", "fp32", "fp64")
)
FIXED_WIDTH = {1: 8, 5: 4}  # wire type -> bytes of one value
PACKED_WIDTH = {  # field type -> bytes of one value in a packed field; the other numbers are varints
    FieldDescriptor.TYPE_DOUBLE: 8,
    FieldDescriptor.TYPE_FIXED64: 8,
    FieldDescriptor.TYPE_SFIXED64: 8,
    FieldDescriptor.TYPE_FLOAT: 4,
    FieldDescriptor.TYPE_FIXED32: 4,
    FieldDescriptor.TYPE_SFIXED32: 4,
}
MAX_DEPTH = 16


@dataclass(frozen=True)
class StructureLimits:
    """The most entries any one repeated field (map entries and BYTES elements included) may hold, and
    the most fields one request may carry in all, at every depth."""

    repeated: int = 64
    fields: int = 4096
    string_bytes: int = 4096  # names, datatypes, keys, ids: text, never data (pictures travel as bytes)
    exempt: frozenset[str] = field(default=DATA_FIELDS)


class OverLimit(Exception):
    """A count over its bound, with the field it was counted in."""


def varint(data: memoryview, position: int) -> tuple[int, int]:
    """The varint at `position` and the position after it."""
    value, shift = 0, 0
    while True:
        if position >= len(data) or shift > 63:
            raise ValueError(f"a truncated or overlong varint at byte {position}")
        byte = data[position]
        value |= (byte & 0x7F) << shift
        position += 1
        if byte < 0x80:
            return value, position
        shift += 7


@dataclass
class Scan:
    limits: StructureLimits
    fields_seen: int = 0

    def bounded(self, known: FieldDescriptor | None) -> bool:
        """A repeated field whose entries are counted (tensor data is bounded by bytes alone)."""
        return known is not None and known.is_repeated and known.full_name not in self.limits.exempt

    def message(self, data: memoryview, descriptor: Descriptor, depth: int = 0) -> None:
        """Count `data`'s fields as `descriptor` reads them; raise OverLimit at the first count over its bound."""
        if depth > MAX_DEPTH:
            raise OverLimit(f"{descriptor.full_name}: nested deeper than {MAX_DEPTH}")
        counts: dict[int, int] = {}
        position = 0
        while position < len(data):
            key, position = varint(data, position)
            number, wire_type = key >> 3, key & 7
            self.fields_seen += 1
            if self.fields_seen > self.limits.fields:
                raise OverLimit(f"{descriptor.full_name}: more than {self.limits.fields} fields in one request")
            known = descriptor.fields_by_number.get(number)
            entries = 1
            if wire_type == 0:
                _, position = varint(data, position)
            elif wire_type in FIXED_WIDTH:
                position += FIXED_WIDTH[wire_type]
            elif wire_type == 2:
                length, position = varint(data, position)
                if position + length > len(data):
                    raise ValueError(f"a field of {length} bytes at byte {position} runs past the end")
                body = data[position : position + length]
                position += length
                if known is not None and known.type == FieldDescriptor.TYPE_STRING and length > self.limits.string_bytes:
                    raise OverLimit(f"{known.full_name}: a {length}-byte string, more than {self.limits.string_bytes}")
                if known is not None and known.type == FieldDescriptor.TYPE_MESSAGE:
                    self.message(body, known.message_type, depth + 1)
                elif self.bounded(known):
                    entries = packed_count(body, known)
            else:  # groups (3, 4) belong to proto2 and none of these messages has one; 6 and 7 do not exist
                raise ValueError(f"wire type {wire_type} at byte {position}")
            if self.bounded(known):
                counts[number] = counts.get(number, 0) + entries
                if counts[number] > self.limits.repeated:
                    raise OverLimit(f"{known.full_name}: more than {self.limits.repeated} entries")


def packed_count(body: memoryview, known: FieldDescriptor) -> int:
    """How many values a length-delimited repeated field holds: one string or bytes, or packed numbers."""
    if known.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES):
        return 1
    width = PACKED_WIDTH.get(known.type)
    if width:
        return len(body) // width
    return int(np.count_nonzero(np.frombuffer(body, np.uint8) < 0x80))  # one varint ends at each byte below 0x80


def structure_problem(data: bytes, descriptor: Descriptor, limits: StructureLimits) -> str | None:
    """What in `data` is over `limits` or breaks the wire format, in one phrase, or None. Broken bytes are
    refused here too: the parser would only find the same break, after reading up to 32 MB to reach it."""
    try:
        Scan(limits).message(memoryview(data), descriptor)
    except OverLimit as error:
        return str(error)
    except ValueError as error:
        return f"broken wire format: {error}"
    return None
