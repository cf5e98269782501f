"""Headless Chromium screenshots of a page, read back as pixels (no imaging library needed)."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from collections import Counter
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def screenshot(url: str, out: Path, profile: Path, size: tuple[int, int] = (1000, 2400)) -> Path:
    """Chromium's PNG of `url` at `size` (width, height) CSS pixels."""
    subprocess.run(
        [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}",
            f"--window-size={size[0]},{size[1]}", f"--screenshot={out}", url,
        ],  # fmt: skip
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return out


def _unfilter(rows: bytes, width: int, height: int, bpp: int) -> list[bytearray]:
    stride = width * bpp
    out: list[bytearray] = []
    previous = bytearray(stride)
    at = 0
    for _ in range(height):
        kind, line = rows[at], bytearray(rows[at + 1 : at + 1 + stride])
        at += 1 + stride
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up = previous[i]
            corner = previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + pred) & 0xFF
        out.append(line)
        previous = line
    return out


def colours(png: Path) -> Counter[tuple[int, int, int]]:
    """How many pixels of each RGB colour an 8-bit RGB(A) PNG holds."""
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    at, chunks, header = 8, [], b""
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        at += 12 + length
    width, height, depth, colour_type = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour_type in (2, 6) and header[12] == 0, "8-bit RGB(A) only"
    bpp = 4 if colour_type == 6 else 3
    counts: Counter[tuple[int, int, int]] = Counter()
    for line in _unfilter(zlib.decompress(b"".join(chunks)), width, height, bpp):
        counts.update(zip(line[0::bpp], line[1::bpp], line[2::bpp], strict=True))
    return counts
