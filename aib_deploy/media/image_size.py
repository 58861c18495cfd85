"""An encoded image's format and size, read from its header without decoding it.

A few hundred bytes can declare a 30000 x 30000 image; decoding it first and
checking afterwards lets one request take gigabytes and seconds (a
decompression bomb). Every path that decodes pictures asks here first.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import cv2
import numpy as np

from ..runtime.preprocess import FrameError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8"
# JPEG start-of-frame markers (baseline, progressive, lossless, ...); C4, C8 and CC are other segments.
JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # markers without a length field
# The formats the wire contract takes (JPEG, PNG); files on disk may also be BMP, WebP or TIFF.
WIRE_FORMATS = ("jpeg", "png")
# Wire frames decode straight to 3-channel BGR, as to_bgr would make them (alpha dropped, gray repeated):
# a BGRA picture and its BGR copy would hold 7 bytes a pixel at once, this holds 3. EXIF orientation is
# ignored, as it always was on the wire: the client sends the pixels it means.
WIRE_DECODE_FLAGS = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
WIRE_CHANNELS = 3


class ImageHeaderError(FrameError):
    """The bytes are not an image of a known format, its header is cut short, or it declares too many pixels."""


@dataclass(frozen=True)
class ImageSize:
    format: str
    width: int
    height: int
    bits_per_sample: int = 8  # PNG says so in its header; 16-bit samples decode to twice the memory

    @property
    def pixels(self) -> int:
        return self.width * self.height


def _jpeg_size(data: bytes) -> tuple[int, int]:
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            raise ImageHeaderError(f"JPEG: corrupt header (no segment marker at byte {position})")
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in JPEG_STANDALONE:
            position += 2
            continue
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        if marker in JPEG_SOF:
            if position + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            return width, height
        if marker == 0xDA or length < 2:  # image data before any frame header
            raise ImageHeaderError("JPEG: no frame header (SOF) before the image data")
        position += 2 + length
    raise ImageHeaderError(f"JPEG: cut short; no frame header (SOF) in its {len(data)} bytes")


def _webp_size(data: bytes) -> tuple[int, int]:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    raise ImageHeaderError("WebP: unknown or truncated header")


def _tiff_size(data: bytes) -> tuple[int, int]:
    order = "<" if data[:2] == b"II" else ">"
    try:
        (offset,) = struct.unpack(order + "I", data[4:8])
        (count,) = struct.unpack(order + "H", data[offset : offset + 2])
        size = {}
        for index in range(count):
            entry = data[offset + 2 + 12 * index : offset + 14 + 12 * index]
            tag, kind = struct.unpack(order + "HH", entry[:4])
            if tag in (256, 257):  # ImageWidth, ImageLength: SHORT or LONG
                size[tag] = struct.unpack(order + ("H" if kind == 3 else "I"), entry[8:10] if kind == 3 else entry[8:12])[0]
        return size[256], size[257]
    except (struct.error, KeyError):
        raise ImageHeaderError("TIFF: no width and height in the first directory") from None


def image_size(data: bytes) -> ImageSize:
    """Format and size of JPEG, PNG, BMP, WebP or TIFF bytes, from the header alone."""
    if data.startswith(PNG_SIGNATURE):
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise ImageHeaderError("PNG: no IHDR header")
        width, height = struct.unpack(">II", data[16:24])
        return ImageSize("png", width, height, data[24] if len(data) > 24 else 8)
    if data.startswith(JPEG_SOI):
        return ImageSize("jpeg", *_jpeg_size(data))
    if data.startswith(b"BM") and len(data) >= 26:
        width, height = struct.unpack("<ii", data[18:26])
        return ImageSize("bmp", abs(width), abs(height))
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ImageSize("webp", *_webp_size(data))
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return ImageSize("tiff", *_tiff_size(data))
    raise ImageHeaderError("not a JPEG, PNG, BMP, WebP or TIFF image")


def check_image(data: bytes, max_pixels: int, formats: tuple[str, ...] | None = None, what: str = "image") -> ImageSize:
    """The header's size, or one line saying why these bytes must not be decoded."""
    try:
        size = image_size(data)
    except ImageHeaderError as error:
        raise ImageHeaderError(f"{what}: {error}") from None
    if formats is not None and size.format not in formats:
        raise ImageHeaderError(
            f"{what}: {size.format.upper()} is not accepted; expected {' or '.join(f.upper() for f in formats)}"
        )
    if size.width == 0 or size.height == 0:
        raise ImageHeaderError(f"{what}: empty image ({size.width}x{size.height})")
    if size.pixels > max_pixels:
        raise ImageHeaderError(f"{what}: {size.width}x{size.height} exceeds the limit of {max_pixels} pixels (not decoded)")
    return size


def decode_wire_image(data: bytes, max_pixels: int, what: str = "encoded image") -> np.ndarray:
    """A JPEG or PNG from the wire as a uint8 BGR array, decoded only after its header passed `check_image`;
    a FrameError naming what is wrong otherwise (both servers and the Triton Python backend use it)."""
    if not data:
        raise FrameError(f"{what}: empty bytes")
    size = check_image(data, max_pixels, WIRE_FORMATS, what=what)
    if size.bits_per_sample > 8:
        raise ImageHeaderError(f"{what}: PNG of {size.bits_per_sample}-bit samples; send 8-bit PNG or JPEG (not decoded)")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), WIRE_DECODE_FLAGS)
    if image is None:
        raise FrameError(f"{what}: cannot decode {len(data)} bytes as {size.format.upper()}")
    if image.shape[:2] != (size.height, size.width):
        raise FrameError(f"{what}: decoded {image.shape[1]}x{image.shape[0]}, its header says {size.width}x{size.height}")
    return image
