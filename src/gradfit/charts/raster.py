"""A small raster heatmap as a PNG data URL (numpy and zlib only), for an image mark.

Thousands of rect marks render slowly; one smooth image of the objective renders fast
and keeps the report small.
"""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np

__all__ = ["BLUES", "colorize", "png_bytes", "png_data_url"]

#: d3's "blues" scheme anchors, light to dark
BLUES = ["#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5",
         "#08519c", "#08306b"]


def _rgb(hexes) -> np.ndarray:
    return np.array([[int(h[i:i + 2], 16) for i in (1, 3, 5)] for h in hexes], dtype=float)


def colorize(t: np.ndarray, anchors=BLUES) -> np.ndarray:
    """Map values in [0, 1] (NaN as 0) to RGB bytes along `anchors`, shape ``t.shape + (3,)``."""
    t = np.clip(np.nan_to_num(np.asarray(t, dtype=float), nan=0.0), 0.0, 1.0)
    rgb = _rgb(anchors)
    pos = t * (len(rgb) - 1)
    lo = np.minimum(pos.astype(int), len(rgb) - 2)
    frac = (pos - lo)[..., None]
    return np.round(rgb[lo] * (1 - frac) + rgb[lo + 1] * frac).astype(np.uint8)


def png_bytes(rgb: np.ndarray) -> bytes:
    """Encode an ``(h, w, 3)`` uint8 array (row 0 at the top) as an RGB PNG."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[i].tobytes() for i in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def png_data_url(rgb: np.ndarray) -> str:
    """``data:image/png;base64,...`` of :func:`png_bytes`."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(rgb)).decode("ascii")
