"""QR rendering: images decode with an independent decoder, the renderer caches and never
renders on the event loop, and the fake-camera clip shows a readable code."""

import asyncio
import random
import re
import string
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import scanner.qr
from scanner.qr import QrRenderer, qr_version, render_png, render_svg
from tests.qr_support import decode_qr_luma, decode_qr_png, png_luma, write_y4m_video

_BASE64URL = string.ascii_letters + string.digits + "-_"
_SVG = "{http://www.w3.org/2000/svg}"


def voucher_token(seed: int = 7) -> str:
    """Shaped like a signed voucher token: EdDSA JWT header, claims, signature."""
    rng = random.Random(seed)
    claims, signature = ("".join(rng.choices(_BASE64URL, k=n)) for n in (90, 86))
    return f"eyJhbGciOiJFZERTQSJ9.{claims}.{signature}"


def modules_across(payload: str) -> int:
    return 17 + 4 * qr_version(payload) + 2 * scanner.qr.QUIET_ZONE


def test_png_of_a_voucher_token_decodes_back_to_exactly_the_token() -> None:
    token = voucher_token()
    assert len(token) == 198
    assert decode_qr_png(render_png(token)) == [token]


def test_png_has_scale_pixels_per_module_and_a_four_module_quiet_zone() -> None:
    token = voucher_token(seed=1)
    for scale in (1, 3, 8):
        width, height, luma = png_luma(render_png(token, scale=scale))
        assert width == height == modules_across(token) * scale
        quiet = scanner.qr.QUIET_ZONE * scale
        assert set(luma[: quiet * width]) == {255}  # top rows are white
        assert 0 in luma[quiet * width : (quiet + 1) * width]  # then the finder pattern
    with pytest.raises(ValueError, match="scale"):
        render_png(token, scale=0)


def test_voucher_token_fits_in_a_version_13_code_or_smaller() -> None:
    version = qr_version(voucher_token())
    assert 1 <= version <= 13


def _rasterize_svg_path(document: str, *, scale: int) -> tuple[int, bytearray]:
    """Paint the unit squares of qrcode's path ("Mx,yH..V..H..z") to decode the SVG itself."""
    root = ET.fromstring(document)  # noqa: S314 - our own output, not untrusted input
    size = int(root.attrib["viewBox"].split()[2])
    pixels = bytearray([255]) * (size * scale) ** 2
    path = root.find(f"{_SVG}path")
    assert path is not None
    squares = re.findall(r"M(\d+),(\d+)H(\d+)V(\d+)H\d+z", path.attrib["d"])
    assert squares
    for left, top, right, bottom in squares:
        for y in range(int(top) * scale, int(bottom) * scale):
            start = y * size * scale
            pixels[start + int(left) * scale : start + int(right) * scale] = bytes(
                (int(right) - int(left)) * scale
            )
    return size * scale, pixels


def test_svg_is_inline_ready_xml_with_a_module_viewbox_and_decodes() -> None:
    token = voucher_token(seed=2)
    document = render_svg(token)
    assert document.startswith("<svg ")  # no XML declaration before it in HTML
    assert " id=" not in document  # two codes on one page must not repeat an id
    root = ET.fromstring(document)  # noqa: S314 - our own output, not untrusted input
    assert root.tag == f"{_SVG}svg"
    across = modules_across(token)
    assert root.attrib["viewBox"] == f"0 0 {across} {across}"
    assert len(root.findall(f"{_SVG}path")) == 1
    side, pixels = _rasterize_svg_path(document, scale=4)
    assert decode_qr_luma(pixels, width=side, height=side) == [token]


async def test_renderer_serves_the_second_request_from_its_cache() -> None:
    renderer = QrRenderer()
    token = voucher_token(seed=3)
    first = await renderer.png(token)
    second = await renderer.png(token)
    assert second is first
    assert (renderer.stats.hits, renderer.stats.misses) == (1, 1)
    svg = await renderer.svg(token)  # same payload, other format: its own entry
    assert svg == render_svg(token)
    assert (renderer.stats.hits, renderer.stats.misses) == (1, 2)
    assert len(renderer) == 2


async def test_renderer_renders_misses_in_a_worker_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    threads: list[int] = []

    def recording_render(payload: str) -> bytes:
        threads.append(threading.get_ident())
        return render_png(payload)

    monkeypatch.setattr(scanner.qr, "render_png", recording_render)
    renderer = QrRenderer()
    token = voucher_token(seed=4)
    assert decode_qr_png(await renderer.png(token)) == [token]
    await renderer.png(token)
    assert len(threads) == 1  # the hit did not render again
    assert threads[0] != threading.get_ident()  # the test runs on the loop's thread


async def test_renderer_keeps_the_loop_responsive_while_rendering_many_codes() -> None:
    renderer = QrRenderer()
    ticks = 0
    rendering = True

    async def heartbeat() -> None:
        nonlocal ticks
        while rendering:
            ticks += 1
            await asyncio.sleep(0)

    beat = asyncio.create_task(heartbeat())
    images = await asyncio.gather(*(renderer.png(voucher_token(seed)) for seed in range(20)))
    rendering = False
    await beat
    assert len(set(images)) == 20
    assert ticks > 20  # the loop kept running other tasks during the renders


async def test_renderer_evicts_the_least_recently_used_image() -> None:
    renderer = QrRenderer(max_entries=2)
    await renderer.svg("a")
    await renderer.svg("b")
    await renderer.svg("a")  # "b" is now the oldest
    await renderer.svg("c")
    assert len(renderer) == 2
    misses = renderer.stats.misses
    await renderer.svg("a")
    assert renderer.stats.misses == misses
    await renderer.svg("b")
    assert renderer.stats.misses == misses + 1
    with pytest.raises(ValueError, match="max_entries"):
        QrRenderer(max_entries=0)


def test_rendering_works_without_pillow() -> None:
    # Pillow is only a dev dependency (via type stubs): prove the runtime path never needs it.
    script = (
        "import sys; sys.modules['PIL'] = None\n"
        "from scanner.qr import render_png, render_svg\n"
        "assert render_png('kizuna').startswith(b'\\x89PNG')\n"
        "assert render_svg('kizuna').startswith('<svg ')\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)  # noqa: S603 - fixed script


def test_y4m_clip_has_its_header_and_frames_and_its_first_frame_decodes(
    tmp_path: Path,
) -> None:
    token = voucher_token(seed=5)
    clip = tmp_path / "camera.y4m"
    write_y4m_video(render_png(token), clip, frames=12, size=640)
    data = clip.read_bytes()
    header, _, frames = data.partition(b"\n")
    assert header == b"YUV4MPEG2 W640 H640 F30:1 Ip A1:1 C420jpeg"
    frame_size = len(b"FRAME\n") + 640 * 640 * 3 // 2
    assert len(frames) == 12 * frame_size
    assert all(frames[i * frame_size : i * frame_size + 6] == b"FRAME\n" for i in range(12))
    luma = frames[6 : 6 + 640 * 640]
    assert decode_qr_luma(luma, width=640, height=640) == [token]
    # Crisp for a JS decoder: only black and white, and at least 6 pixels per module.
    assert set(luma) == {0, 255}
    first_row = next(y for y in range(640) if 0 in luma[y * 640 : (y + 1) * 640])
    row = luma[first_row * 640 : (first_row + 1) * 640]
    symbol_width = row.rindex(0) - row.index(0) + 1  # whole symbol edge to edge
    assert symbol_width / (modules_across(token) - 8) >= 6


def test_y4m_writer_refuses_images_larger_than_the_frame(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not fit"):
        write_y4m_video(render_png(voucher_token(), scale=12), tmp_path / "big.y4m", size=640)
