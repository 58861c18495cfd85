"""Image headers read without decoding: every format OpenCV writes here, and the ways a header can lie or end."""

import cv2
import numpy as np
import pytest

from aib_deploy.media.image_size import ImageHeaderError, check_image, image_size

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
