"""Reconstruction: multi-view 2D keypoints -> 3D keypoints -> SMPL motion, and SMPL fitting of any joints.

Stages (docs/reconstruction.md):

* :mod:`~aichoreo.reconstruct.cameras`: AIST++ camera JSON <-> aniposelib ``CameraGroup``, projection.
* :mod:`~aichoreo.reconstruct.triangulate`: robust, vectorised multi-view triangulation.
* :mod:`~aichoreo.reconstruct.smooth`: temporal optimisation (``keypoints3d_optim``), floor levelling.
* :mod:`~aichoreo.reconstruct.layouts`: correspondence tables COCO-17, DWM-23, SMPL-24 -> SMPL.
* :mod:`~aichoreo.reconstruct.fit`: SMPL fit (per-frame rotations, root, one scale) in torch.
* :mod:`~aichoreo.reconstruct.pipeline`: file-to-file functions behind ``aichoreo reconstruct`` / ``fit``.

aniposelib and OpenCV (``pip install aichoreo[recon]``) are needed only for cameras,
triangulation and temporal optimisation, and are imported when first used.
"""

from __future__ import annotations

from aichoreo.reconstruct.cameras import (
    cameras_from_aistpp,
    cameras_to_aistpp,
    load_camera_group,
    project,
    save_camera_group,
)
from aichoreo.reconstruct.fit import FitResult, fit_smpl, fit_to_aistpp_dict, place_on_floor
from aichoreo.reconstruct.layouts import COCO17, DWM23, LAYOUTS, SMPL24, Layout, Target, get_layout
from aichoreo.reconstruct.pipeline import fit_joints_file, reconstruct
from aichoreo.reconstruct.smooth import level_floor, optimize_temporal
from aichoreo.reconstruct.triangulate import Triangulation, triangulate

__all__ = [
    "cameras_from_aistpp",
    "cameras_to_aistpp",
    "load_camera_group",
    "save_camera_group",
    "project",
    "Triangulation",
    "triangulate",
    "optimize_temporal",
    "level_floor",
    "Layout",
    "Target",
    "COCO17",
    "DWM23",
    "SMPL24",
    "LAYOUTS",
    "get_layout",
    "FitResult",
    "fit_smpl",
    "fit_to_aistpp_dict",
    "place_on_floor",
    "reconstruct",
    "fit_joints_file",
]
