"""QR helpers for tests: decode images with a real decoder, film them for a fake camera.

zxing-cpp is an independent QR implementation, so a round trip through it proves the
images are readable by scanners, not merely that qrcode agrees with itself.
"""

from pathlib import Path

import png
import zxingcpp

# Y4M luma is nominally limited range, but Chromium and jsQR only need contrast.
_WHITE = 255
_NEUTRAL_CHROMA = 128


def png_luma(image: bytes) -> tuple[int, int, bytearray]:
    """(width, height, one 8-bit luma byte per pixel) of a PNG, transparency over white."""
    width, height, rows, _info = png.Reader(bytes=image).asRGBA8()
    luma = bytearray()
    for row in rows:
        for x in range(0, 4 * width, 4):
            red, green, blue, alpha = row[x : x + 4]
            value = (299 * red + 587 * green + 114 * blue) // 1000
            luma.append((value * alpha + _WHITE * (255 - alpha)) // 255)
    return width, height, luma


def decode_qr_luma(luma: bytes | bytearray, *, width: int, height: int) -> list[str]:
    """Texts of the QR codes zxing-cpp finds in an 8-bit greyscale image."""
    view = memoryview(luma).cast("B", (height, width))
    found = zxingcpp.read_barcodes(view, formats=zxingcpp.BarcodeFormats(zxingcpp.QRCode))
    return [code.text for code in found]


def decode_qr_png(image: bytes) -> list[str]:
    """Texts of the QR codes zxing-cpp finds in a PNG."""
    width, height, luma = png_luma(image)
    return decode_qr_luma(luma, width=width, height=height)


def write_y4m_video(image: bytes, path: Path, *, frames: int = 30, size: int = 640) -> None:
    """A still `size`×`size` Y4M clip of the PNG centred on white, for Chromium's fake camera.

    Use with `--use-fake-device-for-media-stream --use-file-for-fake-video-capture=PATH`
    (Chromium loops the clip and picks its parser by the `.y4m` suffix). The image is
    enlarged by the largest whole factor that fits, nearest neighbour, so module edges stay
    sharp for a JS decoder such as jsQR; render the PNG at 6 or more pixels per module
    (`render_png`'s default 8 is fine).

    Raises ValueError if the image is larger than the frame or the size is odd (4:2:0
    chroma needs even dimensions).
    """
    if size % 2 or size <= 0 or frames <= 0:
        raise ValueError("size must be even and positive, frames positive")
    width, height, luma = png_luma(image)
    factor = min(size // width, size // height)
    if factor < 1:
        raise ValueError(f"a {width}x{height} image does not fit in a {size}x{size} frame")
    left = (size - width * factor) // 2
    top = (size - height * factor) // 2
    plane = bytearray([_WHITE]) * (size * size)
    for y in range(height):
        source = luma[y * width : (y + 1) * width]
        row = bytes(value for value in source for _ in range(factor))
        for repeat in range(factor):
            start = (top + y * factor + repeat) * size + left
            plane[start : start + len(row)] = row
    chroma = bytes([_NEUTRAL_CHROMA]) * ((size // 2) * (size // 2) * 2)
    frame = b"FRAME\n" + bytes(plane) + chroma
    header = f"YUV4MPEG2 W{size} H{size} F30:1 Ip A1:1 C420jpeg\n".encode("ascii")
    with path.open("wb") as video:
        video.write(header)
        for _ in range(frames):
            video.write(frame)
