"""Image headers read without decoding: every format OpenCV writes here, and the ways a header can lie or end."""

import cv2
import numpy as np
import pytest

from aib_deploy.media.image_size import WIRE_CHANNELS, ImageHeaderError, check_image, decode_wire_image, image_size
from aib_deploy.runtime.preprocess import to_bgr

IMAGE = (np.random.default_rng(0).random((37, 53, 3)) * 255).astype(np.uint8)


@pytest.mark.parametrize(
    "suffix, flags, kind",
    [
        (".png", [], "png"),
        (".jpg", [], "jpeg"),
        (".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1], "jpeg"),
        (".bmp", [], "bmp"),
        (".webp", [], "webp"),
        (".webp", [cv2.IMWRITE_WEBP_QUALITY, 101], "webp"),
        (".tiff", [], "tiff"),
    ],
    ids=["png", "jpeg", "progressive-jpeg", "bmp", "webp", "lossless-webp", "tiff"],
)
def test_size_from_the_header_matches_the_decoded_image(suffix, flags, kind):
    _ok, data = cv2.imencode(suffix, IMAGE, flags)
    size = image_size(data.tobytes())
    assert (size.format, size.width, size.height) == (kind, 53, 37)


def test_limits_and_formats_are_checked_before_decoding():
    jpeg = cv2.imencode(".jpg", IMAGE)[1].tobytes()
    assert check_image(jpeg, 53 * 37, ("jpeg", "png")).pixels == 53 * 37
    with pytest.raises(ImageHeaderError, match="53x37 exceeds the limit of 1000 pixels"):
        check_image(jpeg, 1000)
    with pytest.raises(ImageHeaderError, match="frame: BMP is not accepted; expected JPEG or PNG"):
        check_image(cv2.imencode(".bmp", IMAGE)[1].tobytes(), 10_000, ("jpeg", "png"), what="frame")


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "not a JPEG, PNG"),
        (b"GIF89a....", "not a JPEG, PNG"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "PNG: no IHDR"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "JPEG: cut short"),
        (b"\xff\xd8 broken", "JPEG: corrupt header"),
        (b"\xff\xd8\xff\xda\x00\x08", r"no frame header \(SOF\) before the image data"),
    ],
    ids=["empty", "gif", "png-without-ihdr", "jpeg-cut", "jpeg-corrupt", "jpeg-scan-first"],
)
def test_bad_headers_are_one_clear_error(data, message):
    with pytest.raises(ImageHeaderError, match=message):
        image_size(data)


def _png(image: np.ndarray) -> bytes:
    return cv2.imencode(".png", image)[1].tobytes()


@pytest.mark.parametrize(
    "picture",
    [
        pytest.param(np.random.default_rng(1).integers(0, 256, (9, 7, 4), np.uint8), id="BGRA"),
        pytest.param(np.random.default_rng(2).integers(0, 256, (9, 7), np.uint8), id="gray"),
        pytest.param(np.random.default_rng(3).integers(0, 256, (9, 7, 3), np.uint8), id="BGR"),
    ],
)
def test_wire_frames_decode_to_the_bgr_pixels_of_a_full_decode(picture):
    """Decoding straight to BGR (3 bytes a pixel, what the byte budget counts) gives exactly the pixels the
    full decode and its BGR conversion give: alpha dropped, gray repeated."""
    data = _png(picture)
    full = to_bgr(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED))
    wire = decode_wire_image(data, 1 << 20)
    assert wire.shape == (9, 7, WIRE_CHANNELS) and wire.dtype == np.uint8
    np.testing.assert_array_equal(wire, full)


def test_wire_jpeg_keeps_its_stored_orientation():
    """EXIF orientation is not applied on the wire: the server answers for the pixels the client sent, in the
    layout their header declares (the size check compares that layout)."""
    picture = np.zeros((16, 32, 3), np.uint8)
    picture[:, :16] = 255
    jpeg = cv2.imencode(".jpg", picture)[1].tobytes()
    exif = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00\x00\x00\x00\x00"
    rotated = jpeg[:2] + b"\xff\xe1" + (len(exif) + 2).to_bytes(2, "big") + exif + jpeg[2:]  # orientation 6: 90 degrees
    assert cv2.imdecode(np.frombuffer(rotated, np.uint8), cv2.IMREAD_COLOR).shape[:2] == (32, 16)  # OpenCV would turn it
    assert decode_wire_image(rotated, 1 << 20).shape == (16, 32, 3)
