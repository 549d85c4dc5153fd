"""Optional: SMPL joints and meshes from a user-supplied SMPL model file, through ``smplx``.

The SMPL model is licensed separately (smpl.is.tue.mpg.de), and ``smplx`` is the optional
extra ``smpl`` (``pip install aichoreo[smpl]``): both are needed only for meshes. Metric
joints need neither (:func:`aichoreo.skeleton.forward_kinematics` reproduces the male,
betas-0 model's 24 joints). As in AIST++ (reference.md §1), the body is the **male**
model with **betas 0**; AIST++'s per-sequence scale is folded into the translation,
``transl = smpl_trans / smpl_scaling``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aichoreo.errors import InputError

__all__ = ["SMPLBody", "SMPLOutput", "resolve_model_file"]

log = logging.getLogger(__name__)

N_BODY_JOINTS = 24
# Frames per smplx call: bounds memory (the pose blend shapes are (chunk, 6890 * 3)).
_CHUNK = 256


@dataclass(frozen=True)
class SMPLOutput:
    """Posed SMPL body: ``joints`` (T, 24, 3) and ``vertices`` (T, V, 3) float32 metres, y up."""

    joints: np.ndarray
    vertices: np.ndarray


def resolve_model_file(model_path: str | os.PathLike, gender: str = "male") -> Path:
    """The SMPL model file: ``model_path`` itself, or ``SMPL_<GENDER>.pkl`` inside it (smplx's naming).

    Raises:
        InputError: the file (or folder entry) does not exist.
    """
    gender = gender.lower()
    if gender not in ("male", "female", "neutral"):
        raise InputError(model_path, f"unknown SMPL gender {gender!r} (male, female or neutral)")
    path = Path(model_path)
    if path.is_dir():
        path = path / f"SMPL_{gender.upper()}.pkl"
    if not path.is_file():
        raise InputError(path, "SMPL model file not found (download it from smpl.is.tue.mpg.de)")
    return path


class SMPLBody:
    """The SMPL body (betas 0) of a user-supplied model file, posed by ``smplx.SMPL``.

    Args:
        model_path: an SMPL model ``.pkl`` or a folder holding ``SMPL_MALE.pkl`` (etc.).
        gender: ``"male"`` (AIST++), ``"female"`` or ``"neutral"``; picks the file in a folder.
        device: torch device for the computation.

    Raises:
        InputError: naming the file, if it is missing or cannot be loaded, or if
            ``smplx`` is not installed.
    """

    def __init__(self, model_path: str | os.PathLike, gender: str = "male", *, device: str = "cpu"):
        self.model_file = resolve_model_file(model_path, gender)
        try:
            import smplx
        except ImportError:
            raise InputError(
                self.model_file, "reading an SMPL model needs the smplx package: pip install aichoreo[smpl]"
            ) from None
        try:
            # smplx prints a warning for every 10-beta model (all SMPL files): keep it off stdout.
            with contextlib.redirect_stdout(io.StringIO()) as chatter:
                self._model = smplx.SMPL(model_path=str(self.model_file), gender=gender.lower(), batch_size=1)
            if chatter.getvalue().strip():
                log.debug("smplx: %s", chatter.getvalue().strip())
        except Exception as err:  # unpickling a foreign file can raise nearly anything
            reason = " ".join(str(err).split()) or type(err).__name__  # one line for the CLI
            if "chumpy" in reason:
                reason += " (SMPL v1.0 files need the chumpy package; the v1.1 files do not)"
            raise InputError(self.model_file, f"cannot load SMPL model: {reason}") from err
        self._model = self._model.to(device).eval()
        self.device = device
        log.debug("loaded SMPL model %s (%s)", self.model_file, gender)

    @property
    def faces(self) -> np.ndarray:
        """Triangles ``(F, 3)`` int64, vertex indices."""
        return np.asarray(self._model.faces, dtype=np.int64)

    def __call__(self, poses: np.ndarray, transl: np.ndarray) -> SMPLOutput:
        """Pose the body.

        Args:
            poses: axis-angle ``(T, 72)`` or ``(T, 24, 3)`` radians, joint 0 = global
                orientation, each joint relative to its parent (AIST++ ``smpl_poses``).
            transl: ``(T, 3)`` metres (AIST++: ``smpl_trans / smpl_scaling``).

        Returns:
            :class:`SMPLOutput`: the 24 SMPL joints (smplx's extra vertex joints dropped)
            and the mesh vertices, float32 metres.
        """
        import torch

        poses = np.asarray(poses, dtype=np.float32)
        transl = np.asarray(transl, dtype=np.float32)
        if poses.ndim == 3 and poses.shape[1:] == (N_BODY_JOINTS, 3):
            poses = poses.reshape(len(poses), N_BODY_JOINTS * 3)
        if poses.ndim != 2 or poses.shape[1] != N_BODY_JOINTS * 3:
            raise ValueError(f"poses: expected shape (T, 72) or (T, 24, 3), got {poses.shape}")
        if transl.shape != (len(poses), 3):
            raise ValueError(f"transl: expected shape ({len(poses)}, 3), got {transl.shape}")

        joints, vertices = [], []
        with torch.no_grad():
            for start in range(0, len(poses), _CHUNK):
                pose = torch.from_numpy(poses[start : start + _CHUNK]).to(self.device)
                trans = torch.from_numpy(transl[start : start + _CHUNK]).to(self.device)
                out = self._model(
                    betas=torch.zeros(len(pose), self._model.num_betas, device=self.device),
                    global_orient=pose[:, :3],
                    body_pose=pose[:, 3:],
                    transl=trans,
                )
                joints.append(out.joints[:, :N_BODY_JOINTS].cpu().numpy())
                vertices.append(out.vertices.cpu().numpy())
        n_vertices = self._model.get_num_verts()
        return SMPLOutput(
            joints=np.concatenate(joints) if joints else np.zeros((0, N_BODY_JOINTS, 3), np.float32),
            vertices=np.concatenate(vertices) if vertices else np.zeros((0, n_vertices, 3), np.float32),
        )
