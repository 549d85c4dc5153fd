"""A motion window seen from its last context frame: the root representation of ``fact-small-v2``.

The released FACT reads and predicts the root translation in world coordinates (dims 6:9 of the
225-d vector) and the root orientation relative to the world (dims 9:18). A ballroom dancer
travels metres across the floor and turns every way, so two windows with the same movement look
different to the network, and the three translation values are 3 of the 225 regressed numbers:
their error barely shows in the loss. Generated with several frames per pass, each chunk then
starts where the network guesses the dancer is, not where the previous chunk left it: the
root jumps at every seam (issue 14 measured 26 cm against 0.4-2.4 cm per frame inside a chunk).

Here a window is expressed in the **frame of its last context frame**: translated so that that
frame's root is at x = z = 0 (height kept), and turned about the vertical (y) axis so that the
root faces +z. Both the context and the targets are moved; predictions are moved back. The
network then sees the same numbers for the same movement wherever and whichever way it happens,
which also makes a rotation-about-the-vertical augmentation unnecessary (the representation is
exactly invariant to it).

Layout (aichoreo.motion, the FACT vector; repeated here because :mod:`aichoreo.models` takes its
dimensions as numbers, tests/test_rootframe.py checks they agree): 6 pad dims, translation at
6:9, 24 row-major 3x3 rotation matrices from 9, the root's (joint 0, global orientation) first.
Matrices act on column vectors; y is up.
"""

from __future__ import annotations

import torch

TRANSLATION = slice(6, 9)
GROUND = [6, 8]  # the root's x and z: its position on the floor
ROOT_ROTATION = slice(9, 18)


def heading_frame(frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The root position and heading of one frame per batch item.

    Args:
        frame: ``(B, 225)`` FACT vectors.

    Returns:
        ``origin (B, 3)``: the root's ground position (x, 0, z) in metres; ``turn (B, 3, 3)``: the
        rotation about y that maps the world into the frame (the root's forward direction, its
        local +z projected on the floor, goes to +z). A root facing straight up or down has no
        heading; it keeps the world's (``atan2(0, 0) = 0``).
    """
    root = frame[:, ROOT_ROTATION].reshape(-1, 3, 3)
    forward_x, forward_z = root[:, 0, 2], root[:, 2, 2]  # world x and z of the root's +z axis
    angle = torch.atan2(forward_x, forward_z)  # heading about y
    c, s = torch.cos(angle), torch.sin(angle)
    zero, one = torch.zeros_like(c), torch.ones_like(c)
    # R_y(-angle): rows of the inverse of the heading rotation.
    turn = torch.stack([torch.stack([c, zero, -s], -1),
                        torch.stack([zero, one, zero], -1),
                        torch.stack([s, zero, c], -1)], -2)  # (B, 3, 3)
    t = frame[:, TRANSLATION]
    origin = torch.stack([t[:, 0], torch.zeros_like(t[:, 1]), t[:, 2]], -1)
    return origin, turn


def to_frame(x: torch.Tensor, origin: torch.Tensor, turn: torch.Tensor) -> torch.Tensor:
    """``x (B, N, 225)`` world -> the frame of :func:`heading_frame`; only dims 6:18 change."""
    out = x.clone()
    out[..., TRANSLATION] = torch.einsum("bij,bnj->bni", turn, x[..., TRANSLATION] - origin[:, None])
    root = x[..., ROOT_ROTATION].reshape(*x.shape[:2], 3, 3)
    out[..., ROOT_ROTATION] = torch.einsum("bij,bnjk->bnik", turn, root).reshape(*x.shape[:2], 9)
    return out


def from_frame(x: torch.Tensor, origin: torch.Tensor, turn: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`to_frame`: ``x (B, N, 225)`` in the frame -> world."""
    out = x.clone()
    back = turn.transpose(1, 2)
    out[..., TRANSLATION] = torch.einsum("bij,bnj->bni", back, x[..., TRANSLATION]) + origin[:, None]
    root = x[..., ROOT_ROTATION].reshape(*x.shape[:2], 3, 3)
    out[..., ROOT_ROTATION] = torch.einsum("bij,bnjk->bnik", back, root).reshape(*x.shape[:2], 9)
    return out


def hide_ground(x: torch.Tensor) -> torch.Tensor:
    """``x (B, N, 225)`` with the root's ground position (x, z) set to 0 in every frame.

    For a network that predicts the root's steps: shown the path so far, a network that learned
    "keep going the way you were going" feeds its own slightly-too-long steps back and speeds up
    without bound (measured: the root of a 40 s test dance at 25-54 m/s after 1,000 training
    steps). Hidden, the steps follow from the poses (the legs) and the music, which stay bounded.
    """
    out = x.clone()
    out[..., GROUND] = 0.0
    return out
