"""Bytes that arrive where a message should be but do not parse, or hold more than the structure bounds
allow: handed to the servicer, which answers INVALID_ARGUMENT with one line, instead of failing inside
gRPC (UNKNOWN and the exception's text) or building the message first."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from google.protobuf.message import DecodeError, Message

from .wire_bounds import StructureLimits, structure_problem


@dataclass(frozen=True)
class MalformedMessage:
    """What arrived where a message should be: bytes that do not parse as `expected`."""

    expected: str
    size: int
    reason: str

    def describe(self) -> str:
        return f"a {self.size}-byte message is not a valid {self.expected}: {self.reason}"


def tolerant_parser(message: type[Message], limits: StructureLimits) -> Callable[[bytes], Message | MalformedMessage]:
    """A request deserializer that hands bad bytes to the servicer instead of raising inside gRPC
    (which would end the call with UNKNOWN and the exception's text), and refuses a message whose
    structure is over `limits` before parsing builds any of it."""
    name = message.DESCRIPTOR.full_name

    def parse(data: bytes) -> Message | MalformedMessage:
        problem = structure_problem(data, message.DESCRIPTOR, limits)
        if problem is not None:
            return MalformedMessage(name, len(data), problem)
        try:
            return message.FromString(data)
        except (DecodeError, UnicodeDecodeError, ValueError) as error:
            return MalformedMessage(name, len(data), str(error) or type(error).__name__)

    return parse
