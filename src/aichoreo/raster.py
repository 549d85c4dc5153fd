"""Pixel kernels of the video renderer: anti-aliased lines, dots and shaded capsules painted into an
RGB buffer, and its conversion to the YUV 4:2:0 frames H.264 encodes (:class:`aichoreo.render.RasterRenderer`).

Why by hand: no drawing library that installs here paints what the video shows (capsules shaded
across their width, drawn far to near with anti-aliased rims) at the speed a video of a whole song
needs. Pillow's lines have no anti-aliasing; OpenCV's are anti-aliased but flat; matplotlib draws
about 40 frames/s. The same pictures as whole-array numpy took 2-4 ms a frame, more than the
encoder, because numpy cannot loop over a line's pixels without building arrays of them. These
loops are compiled by numba (a dependency of librosa, so already installed), once per installation:
numba's cache (:mod:`aichoreo.jitcache`) keeps the machine code, and :func:`kernels` loads or compiles
it under the cache's lock, so that processes started together cannot corrupt it.

Conventions of every kernel:

- ``pixels``: the frame, ``(height * width,)`` uint32 whose bytes are R, G, B, 255 (ffmpeg's
  ``rgb0``); pixel ``(x, y)`` covers ``[x, x+1] x [y, y+1]``, x right, y down, at flat index ``y *
  width + x``.
- a segment ``p0 -> p1`` in pixel coordinates is drawn ``reach`` px either side of its centre line
  (half the line's width plus half a pixel). A pixel's coverage is ``min(reach - d, 1)``, ``d`` the
  distance from its centre to the segment (with round ``caps``) or to the line through it (without:
  the line stops where the segment does), the usual anti-aliasing estimate; pixels of coverage <= 0
  are not touched. Coverage is kept in 1/255 steps (the resolution of an 8-bit pixel).
- the walk over a segment's pixels goes along its longer axis one pixel at a time and across it
  over ``reach * sqrt(2)`` px each side of the centre line (a line at 45 degrees touches pixel
  centres that far from it along that axis), so a long floor line costs its length, not its box.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np

from aichoreo.jitcache import compile_lock

LEVELS = 255  # coverage steps
SHADES = 64  # shading levels across a capsule, as the capsules' colour tables have them

# Compiled on first call, cached on disk; nogil: the video's frames can be drawn beside other work.
jit = functools.partial(numba.njit, cache=True, nogil=True, boundscheck=False)


@jit
def blend(pixels, p, colour, alpha):
    """Blend the packed ``colour`` over ``pixels[p]`` with ``alpha`` in [0, 1]: each byte
    ``old + (new - old) * alpha``, rounded."""
    old = pixels[p]
    out = np.uint32(0)
    for shift in range(0, 32, 8):
        o = np.float32((old >> shift) & 0xFF)
        n = np.float32((colour >> shift) & 0xFF)
        out |= np.uint32(np.int32(o + (n - o) * alpha + np.float32(0.5))) << shift
    pixels[p] = out


@jit
def scratch(n):
    """Room for ``n`` pixels of :func:`walk`: indices, coverages, distances."""
    return np.empty(n, np.int32), np.empty(n, np.float64), np.empty(n, np.float64)


@jit
def bound(x0, y0, x1, y1, reach, width, height):
    """At least the number of pixels :func:`walk` finds for this segment: pixels along the longer
    axis (its length, the caps, one more; at most the frame's size) times those across it."""
    along = min(math.hypot(x1 - x0, y1 - y0) + 2.0 * reach + 2.0, max(width, height))
    return int(along * (2.0 * reach * math.sqrt(2.0) + 2.0)) + 1


@jit(inline="always")
def along_major(x0, y0, x1, y1, width, height):
    """A segment in the axes of its walk: ``(steep, a0, b0, a1, b1, major_size, minor_size)``, ``a``
    along the longer axis (y where ``steep``) from the lower end, ``b`` across it, and the frame's
    size along each."""
    steep = abs(y1 - y0) > abs(x1 - x0)
    if steep:
        a0, b0, a1, b1, major_size, minor_size = y0, x0, y1, x1, height, width
    else:
        a0, b0, a1, b1, major_size, minor_size = x0, y0, x1, y1, width, height
    if a1 < a0:
        a0, b0, a1, b1 = a1, b1, a0, b0
    return steep, a0, b0, a1, b1, major_size, minor_size


@jit
def walk(x0, y0, x1, y1, reach, caps, width, height, out_index, out_coverage, out_distance):
    """The pixels a segment touches: writes their flat indices, coverages and distances (px) into
    the ``out_`` arrays (room for :func:`bound` pixels) and returns how many. A pixel appears once."""
    steep, a0, b0, a1, b1, major_size, minor_size = along_major(x0, y0, x1, y1, width, height)
    extend = reach if caps else 0.0
    start = max(math.ceil(a0 - extend - 0.5), 0)
    stop = min(math.floor(a1 + extend - 0.5), major_size - 1)
    da, db = a1 - a0, b1 - b0
    length2 = max(da * da + db * db, 1e-18)
    length = math.sqrt(length2)
    slope = db / max(da, 1e-9)
    span = reach * math.sqrt(2.0)
    n = 0
    for major in range(start, stop + 1):
        u = major + 0.5 - a0
        centre = b0 + slope * min(max(u, 0.0), da)  # held at the ends
        lo = max(math.ceil(centre - span - 0.5), 0)
        hi = min(math.floor(centre + span - 0.5), minor_size - 1)
        for minor in range(lo, hi + 1):
            v = minor + 0.5 - b0
            if caps:  # distance to the segment: the nearest point clamped to its ends
                s = min(max((u * da + v * db) / length2, 0.0), 1.0)
                du, dv = u - s * da, v - s * db
                dist = math.sqrt(du * du + dv * dv)
            else:  # distance to the line through it
                dist = abs(v * da - u * db) / length
            coverage = min(reach - dist, 1.0)
            if coverage <= 0.0:
                continue
            out_index[n] = major * width + minor if steep else minor * width + major
            out_coverage[n] = coverage
            out_distance[n] = dist
            n += 1
    return n


@jit
def segment(x0, y0, x1, y1, reach, caps, width, height, index, coverage, distance):
    """:func:`walk` into the scratch arrays ``index, coverage, distance``, replaced by larger ones
    first where the segment may touch more pixels than they hold: ``(index, coverage, distance, n)``."""
    need = bound(x0, y0, x1, y1, reach, width, height)
    if need > len(index):
        index, coverage, distance = scratch(need)
    n = walk(x0, y0, x1, y1, reach, caps, width, height, index, coverage, distance)
    return index, coverage, distance, n


@jit
def strongest(pixels, keys, touched, p0, p1, reach, colour, caps, width, height, palette):
    """A layer of segments (``p0, p1 (N, 2)`` px, ``reach, colour (N,)``): each pixel takes the
    segment that covers it most (of equal coverage, the larger ``colour``) and is blended with
    ``palette[colour]`` (packed ``(P,)`` uint32) by that coverage. ``keys (height * width,)`` int32
    are zero before and after; ``touched`` is scratch of the same size."""
    n_touched = 0
    index, coverage, distance = scratch(64)
    for k in range(p0.shape[0]):
        index, coverage, distance, n = segment(p0[k, 0], p0[k, 1], p1[k, 0], p1[k, 1], reach[k], caps, width,
                                               height, index, coverage, distance)
        for i in range(n):
            key = np.int32(coverage[i] * LEVELS + 0.5) * 4 + colour[k]
            p = index[i]
            if keys[p] == 0:
                touched[n_touched] = p
                n_touched += 1
            if key > keys[p]:
                keys[p] = key
    for i in range(n_touched):
        p = touched[i]
        key = keys[p]
        keys[p] = 0
        if key >> 2:
            blend(pixels, p, palette[key & 3], np.float32(key >> 2) * np.float32(1.0 / LEVELS))


@jit
def grey_lines(pixels, p0, p1, reach, width, height, shades):
    """Lines ``p0 -> p1 (N, 2)`` px without caps, of ``reach (N,)``, in one grey over grey or white
    pixels: each pixel takes ``shades[coverage step]`` (``(LEVELS + 1,)`` packed greys, darker for
    more coverage) where that is darker than what it holds. As the first layer of a white frame
    this is each pixel at the coverage of the line that covers it most, as :func:`strongest` paints
    a layer (greys order as their packed values do), with no bookkeeping of the pixels touched:
    the floor grid, most of a frame's lines.

    The pixels and coverages of :func:`walk` without caps, found in one pass that paints as it goes
    (the floor is half of a frame's drawing): across the line it visits only the pixels within
    ``reach * length / (length along the major axis)`` of the centre line along the minor axis, the
    exact band of pixel centres closer than ``reach`` to the line (:func:`walk` takes ``reach *
    sqrt(2)``, the widest a line at 45 degrees needs). Without caps a column's centre never lies
    past the segment's ends, so this band is all :func:`walk` would find; the coverages are the same
    expressions, so the frames are the same to the bit (tests/test_export_video.py)."""
    for k in range(p0.shape[0]):
        r = reach[k]
        steep, a0, b0, a1, b1, major_size, minor_size = along_major(p0[k, 0], p0[k, 1], p1[k, 0], p1[k, 1],
                                                                     width, height)
        start = max(math.ceil(a0 - 0.5), 0)
        stop = min(math.floor(a1 - 0.5), major_size - 1)
        da, db = a1 - a0, b1 - b0
        length = math.sqrt(max(da * da + db * db, 1e-18))
        slope = db / max(da, 1e-9)
        # |v - u * slope| < r * length / da is the band; a hair more so that rounding never drops a pixel
        span = min(r * length / max(da, 1e-9), r * math.sqrt(2.0)) + 1e-6
        for major in range(start, stop + 1):
            u = major + 0.5 - a0
            centre = b0 + slope * min(max(u, 0.0), da)
            lo = max(math.ceil(centre - span - 0.5), 0)
            hi = min(math.floor(centre + span - 0.5), minor_size - 1)
            for minor in range(lo, hi + 1):
                v = minor + 0.5 - b0
                coverage = min(r - abs(v * da - u * db) / length, 1.0)
                if coverage <= 0.0:
                    continue
                p = major * width + minor if steep else minor * width + major
                grey = shades[np.int32(coverage * LEVELS + 0.5)]
                if grey < pixels[p]:
                    pixels[p] = grey


@jit
def capsules(pixels, pa, pb, radius, order, shades, width, height):
    """Capsules ``pa -> pb (C, 2)`` px of ``radius (C,)`` px, painted in ``order`` (far to near),
    each pixel shaded from its capsule's colour table ``shades (C, SHADES)`` (packed) at level
    ``(d / radius)^2`` and set where its coverage is 1, blended by it at the rim."""
    index, coverage, distance = scratch(4096)
    for c in order:
        r = radius[c]
        index, coverage, distance, n = segment(pa[c, 0], pa[c, 1], pb[c, 0], pb[c, 1], r, True, width, height,
                                               index, coverage, distance)
        for i in range(n):
            level = min(distance[i] / r, 1.0)
            colour = shades[c, int(level * level * (SHADES - 1) + 0.5)]
            if coverage[i] >= 1.0:
                pixels[index[i]] = colour
            else:
                blend(pixels, index[i], colour, np.float32(coverage[i]))


@jit(inline="always")
def luma(px):
    """Y of one pixel (R, G, B, 255 bytes), limited-range BT.601 in integers (ffmpeg's rounding)."""
    px = np.int32(px & 0xFFFFFF)
    return np.uint8(((66 * (px & 0xFF) + 129 * ((px >> 8) & 0xFF) + 25 * (px >> 16) + 128) >> 8) + 16)


@jit
def yuv420(image, out):
    """``image (h, w)`` uint32 R, G, B, 255 -> ``out`` planar YUV 4:2:0 (Y ``(H, W)``, then U and V
    ``(H/2, W/2)``; ``H, W`` the even sizes at or above ``h, w``, padded with white), limited range
    BT.601 as ffmpeg's converter makes it: chroma from each 2x2 block's mean.

    Two rows at a time: their Y, and per column the sums of R and B (in the two 16-bit halves of one
    integer: 4 x 255 fits) and of G, which pairs of columns then average. The planes are separate
    views so that the compiler knows their writes do not overlap (it vectorises the loops: ten
    times faster than writing U and V through one array).
    """
    h, w = image.shape
    hh, ww = (h + 1) // 2 * 2, (w + 1) // 2 * 2
    ch, cw = hh // 2, ww // 2
    plane_y, plane_u, plane_v = out[:hh * ww], out[hh * ww:hh * ww + ch * cw], out[hh * ww + ch * cw:]
    rb, g = np.empty(ww, np.int32), np.empty(ww, np.int32)
    white = np.int32(0xFFFFFF)
    for by in range(ch):
        top = image[2 * by]
        row_y0, row_y1 = plane_y[2 * by * ww:(2 * by + 1) * ww], plane_y[(2 * by + 1) * ww:(2 * by + 2) * ww]
        if 2 * by + 1 < h:
            bottom = image[2 * by + 1]
            for x in range(w):
                a, c = np.int32(top[x] & 0xFFFFFF), np.int32(bottom[x] & 0xFFFFFF)
                row_y0[x], row_y1[x] = luma(a), luma(c)
                rb[x] = (a & 0xFF00FF) + (c & 0xFF00FF)
                g[x] = (a & 0xFF00) + (c & 0xFF00)
        else:  # the last row of an odd height, over a white row
            row_y1[:] = 235
            for x in range(w):
                a = np.int32(top[x] & 0xFFFFFF)
                row_y0[x] = luma(a)
                rb[x] = (a & 0xFF00FF) + (white & 0xFF00FF)
                g[x] = (a & 0xFF00) + (white & 0xFF00)
        if w < ww:  # a white column
            row_y0[w], row_y1[w] = 235, 235
            rb[w], g[w] = 2 * (white & 0xFF00FF), 2 * (white & 0xFF00)
        row_u, row_v = plane_u[by * cw:(by + 1) * cw], plane_v[by * cw:(by + 1) * cw]
        for bx in range(cw):
            both = rb[2 * bx] + rb[2 * bx + 1]
            r, b = ((both & 0xFFFF) + 2) >> 2, ((both >> 16) + 2) >> 2
            gm = (((g[2 * bx] + g[2 * bx + 1]) >> 8) + 2) >> 2
            row_u[bx] = np.uint8(((-38 * r - 74 * gm + 112 * b + 128) >> 8) + 128)
            row_v[bx] = np.uint8(((112 * r - 94 * gm - 18 * b + 128) >> 8) + 128)


class Kernels:
    """The compiled kernels: ``strongest``, ``grey_lines``, ``capsules``, ``yuv420`` (the module's
    functions of those names)."""

    def __init__(self) -> None:
        self.strongest, self.grey_lines, self.capsules, self.yuv420 = strongest, grey_lines, capsules, yuv420
        self._warm()

    def _warm(self) -> None:
        """Call each kernel once with the argument types the renderer uses: numba compiles (or loads
        its cache) on the first call of each signature, and this happens under the lock."""
        w, h = 8, 6
        pixels = np.full(w * h, 0xFFFFFFFF, np.uint32)
        keys, touched = np.zeros(w * h, np.int32), np.zeros(w * h, np.int32)
        seg = np.array([[1.0, 1.0]]), np.array([[6.0, 4.0]])
        self.strongest(pixels, keys, touched, *seg, np.array([1.5]), np.zeros(1, np.int32), True, w, h,
                       np.full(3, 0xFF000000, np.uint32))
        self.grey_lines(pixels, *seg, np.array([1.5]), w, h, np.full(LEVELS + 1, 0xFFDDDDDD, np.uint32))
        self.capsules(pixels, *seg, np.array([2.0]), np.zeros(1, np.int64), np.zeros((1, SHADES), np.uint32), w, h)
        self.yuv420(pixels.reshape(h, w), np.empty(w * h * 3 // 2, np.uint8))


@functools.lru_cache(maxsize=1)
def kernels() -> Kernels:
    """The kernels, compiled on this installation's first use (a few CPU seconds) and read from
    numba's cache after that, under the cache's lock (:func:`aichoreo.jitcache.compile_lock`)."""
    with compile_lock():
        return Kernels()


def yuv420_size(width: int, height: int) -> int:
    """Bytes of one :func:`Kernels.yuv420` frame: the even sizes at or above ``width x height``."""
    ww, hh = (width + 1) // 2 * 2, (height + 1) // 2 * 2
    return ww * hh + 2 * (ww // 2) * (hh // 2)
