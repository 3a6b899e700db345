"""QR images of voucher and member-card tokens, as PNG (pure Python, no Pillow) or SVG.

Rendering a ~200-character token costs milliseconds of pure-Python CPU, so the async
`QrRenderer` keeps recent images in a bounded LRU cache and renders misses in a worker
thread: a burst of scans at checkout never stalls the event loop.

Error correction M (15 % of the symbol may be damaged) is the usual compromise for codes
shown on phone screens and printed receipts; the quiet zone is the 4 modules the standard
requires, which scanners need to find the code at all.
"""

import asyncio
import io
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, cast

import qrcode
import qrcode.constants
from qrcode.image.pure import PyPNGImage
from qrcode.image.svg import SvgPathFillImage

ERROR_CORRECTION = qrcode.constants.ERROR_CORRECT_M
QUIET_ZONE = 4
DEFAULT_CACHE_SIZE = 4096

# In SVG units: one module is one unit, so the viewBox reads as the symbol's size.
_SVG_BOX_SIZE = 10

type Format = Literal["png", "svg"]


def _encoded(payload: str, *, box_size: int) -> qrcode.QRCode[PyPNGImage]:
    code = qrcode.QRCode(
        error_correction=ERROR_CORRECTION,
        box_size=box_size,
        border=QUIET_ZONE,
        image_factory=PyPNGImage,
    )
    code.add_data(payload)
    code.make(fit=True)
    return code


def qr_version(payload: str) -> int:
    """The QR version (1–40, size 17 + 4·version modules) the payload needs at level M."""
    return _encoded(payload, box_size=1).version


def render_png(payload: str, *, scale: int = 8) -> bytes:
    """A 1-bit greyscale PNG, `scale` pixels per module, black on white with the quiet zone.

    Raises `qrcode.exceptions.DataOverflowError` when the payload does not fit in a QR code.
    """
    if scale < 1:
        raise ValueError("scale must be at least 1 pixel per module")
    buffer = io.BytesIO()
    _encoded(payload, box_size=scale).make_image().save(buffer)
    return buffer.getvalue()


def render_svg(payload: str) -> str:
    """A standalone SVG document, safe to inline in HTML (no XML declaration, no `id`).

    The modules are one `<path>` over a white background (the quiet zone must stay light
    on dark pages). The viewBox counts modules, so the image scales to any CSS size; the
    width and height attributes only give a default print size (1 mm per module).
    """
    image = _encoded(payload, box_size=_SVG_BOX_SIZE).make_image(image_factory=SvgPathFillImage)
    # qrcode names the path id="qr-path": two codes on one page would repeat an id.
    if image.path is not None:
        image.path.attrib.pop("id", None)
    return image.to_string(encoding="unicode")


@dataclass(slots=True)
class RenderStats:
    """Cache effectiveness, for metrics and tests."""

    hits: int = 0
    misses: int = 0


class QrRenderer:
    """Renders QR images off the event loop and remembers the most recent ones.

    Tokens are shown again and again (a member card on every visit, a voucher until it is
    redeemed), so a bounded LRU keyed by (format, payload) saves most of the CPU. Meant for
    one event loop: the cache is only touched from the loop's thread, and two concurrent
    misses for the same payload may both render (harmless, the results are equal).
    """

    def __init__(self, *, max_entries: int = DEFAULT_CACHE_SIZE) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._cache: OrderedDict[tuple[Format, str], bytes | str] = OrderedDict()
        self.stats = RenderStats()

    async def png(self, payload: str) -> bytes:
        """The PNG of `render_png(payload)` (default scale), cached."""
        return await self._get(("png", payload), render_png)

    async def svg(self, payload: str) -> str:
        """The SVG of `render_svg(payload)`, cached."""
        return await self._get(("svg", payload), render_svg)

    async def _get[T: (bytes, str)](self, key: tuple[Format, str], render: Callable[[str], T]) -> T:
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            self.stats.hits += 1
            return cast(T, cached)  # the key's format fixes the type of the image
        self.stats.misses += 1
        image = await asyncio.to_thread(render, key[1])
        self._cache[key] = image
        self._cache.move_to_end(key)
        while len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)
        return image

    def __len__(self) -> int:
        return len(self._cache)
