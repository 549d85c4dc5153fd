"""Joint-correspondence tables from keypoint or marker layouts to the SMPL-24 skeleton.

A :class:`Layout` lists, for a data format with ``J`` input joints per frame, the *targets*
the SMPL fit (:func:`aichoreo.reconstruct.fit.fit_smpl`) pulls the body towards. A
:class:`Target` is

* an input position: one input joint, or the mean of several (``sources``, e.g. a neck
  as the mid-point of two shoulder markers);
* a model point: a point rigidly attached to SMPL joint ``joint``, at ``offset`` metres
  from it in that joint's frame, at SMPL (betas 0) size; with ``offset = 0`` it is the
  joint itself. A point on a bone, a fraction of the way from a joint to its child, is
  such an offset (:func:`on_bone`); so is a skin marker beside a joint;
* a ``weight`` in the data term, and whether the fit may adjust the offset once per
  sequence (``learn_offset``, as marker-based body fitting does: MoSh, Loper et al. 2014).

Joint frames are the SMPL ones at rest: x to the body's left, y up, z forward; a joint's
frame turns with the segment that leaves it (joint 7 ``left_ankle`` turns with the foot).

Three layouts ship:

* :data:`SMPL24`: the 24 SMPL joints themselves.
* :data:`COCO17`: AIST++ keypoints (google/aistplusplus_api ``processing/run_estimate_smpl.py``
  fits the 12 body keypoints to SMPL joints and the face points to SMPL surface vertices;
  without the licensed vertices here, nose, eyes and ears are points on the head joint's
  frame at approximate face positions, low weight, offsets learned).
* :data:`DWM23`: the 23 markers of the Dance-with-Melody data (``../shared/data/README.md``);
  see :data:`DWM23` for where it follows that README's proposal and where the data
  disagree with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from aichoreo.skeleton import JOINT_NAMES, N_JOINTS, PARENTS, REST_OFFSETS

__all__ = [
    "Target",
    "Layout",
    "at_joint",
    "on_bone",
    "SMPL24",
    "COCO17",
    "DWM23",
    "COCO17_NAMES",
    "COCO17_BONES",
    "DWM23_NAMES",
    "DWM23_BONES",
    "LAYOUTS",
    "get_layout",
]


@dataclass(frozen=True)
class Target:
    """One correspondence between input joints and a point on the SMPL skeleton.

    Attributes:
        name: label used in error tables.
        sources: input joint indices whose mean is the target position.
        joint: SMPL joint (0-23) whose frame carries the model point.
        offset: ``(3,)`` metres at SMPL size, in the joint's rest frame (x left, y up,
            z forward); ``(0, 0, 0)`` is the joint itself.
        weight: relative weight of this target's squared distance in the fit.
        learn_offset: let the fit adjust ``offset`` once per sequence (regularised
            towards the value given here).
    """

    name: str
    sources: tuple[int, ...]
    joint: int
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    weight: float = 1.0
    learn_offset: bool = False

    def __post_init__(self) -> None:
        if not self.sources:
            raise ValueError(f"target {self.name!r}: no source joints")
        if not 0 <= self.joint < N_JOINTS:
            raise ValueError(f"target {self.name!r}: SMPL joint {self.joint} is not in 0..{N_JOINTS - 1}")
        if len(self.offset) != 3 or not np.all(np.isfinite(self.offset)):
            raise ValueError(f"target {self.name!r}: offset must be 3 finite numbers, got {self.offset}")
        if not (np.isfinite(self.weight) and self.weight > 0):
            raise ValueError(f"target {self.name!r}: weight must be positive, got {self.weight}")
        object.__setattr__(self, "sources", tuple(int(s) for s in self.sources))
        object.__setattr__(self, "offset", tuple(float(o) for o in self.offset))


def at_joint(name: str, source: int | tuple[int, ...], joint: int, *, weight: float = 1.0,
             offset: tuple[float, float, float] = (0.0, 0.0, 0.0), learn_offset: bool = False) -> Target:
    """A target at SMPL ``joint`` (plus ``offset`` in its frame) from one input joint or a mean of several."""
    sources = (source,) if isinstance(source, int) else tuple(source)
    return Target(name, sources, joint, offset, weight, learn_offset)


def on_bone(name: str, source: int | tuple[int, ...], parent: int, child: int, fraction: float, *,
            weight: float = 1.0, learn_offset: bool = False) -> Target:
    """A target ``fraction`` of the way along the bone from SMPL joint ``parent`` to its ``child``.

    The point is fixed in ``parent``'s frame: ``offset = fraction * REST_OFFSETS[child]``.
    """
    if PARENTS[child] != parent:
        raise ValueError(f"{JOINT_NAMES[child]} is not a child of {JOINT_NAMES[parent]}")
    offset = tuple(float(v) for v in fraction * REST_OFFSETS[child])
    return at_joint(name, source, parent, weight=weight, offset=offset, learn_offset=learn_offset)


@dataclass(frozen=True)
class Layout:
    """A keypoint layout and its correspondence to SMPL-24.

    Attributes:
        name: the layout's name (``coco17``, ``dwm23``, ``smpl24``).
        joint_names: names of the ``J`` input joints, in input order.
        targets: the correspondences used by the fit.
        bones: input-joint pairs whose distance is constant over time (limbs), for the
            bone-length term of :func:`aichoreo.reconstruct.smooth.optimize_temporal`.
        feet: input joints of which the lowest touches the floor when a foot is down
            (for :func:`aichoreo.reconstruct.smooth.level_floor`).
    """

    name: str
    joint_names: tuple[str, ...]
    targets: tuple[Target, ...]
    bones: tuple[tuple[int, int], ...] = field(default=())
    feet: tuple[int, ...] = field(default=())

    def __post_init__(self) -> None:
        n = len(self.joint_names)
        for t in self.targets:
            if any(not 0 <= s < n for s in t.sources):
                raise ValueError(f"layout {self.name}: target {t.name!r} uses a joint outside 0..{n - 1}")
        for a, b in self.bones:
            if not (0 <= a < n and 0 <= b < n) or a == b:
                raise ValueError(f"layout {self.name}: bone ({a}, {b}) is not a pair of distinct joints")
        if any(not 0 <= f < n for f in self.feet):
            raise ValueError(f"layout {self.name}: a foot joint is outside 0..{n - 1}")

    @property
    def n_joints(self) -> int:
        """Input joints per frame (J)."""
        return len(self.joint_names)

    @property
    def target_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.targets)

    def target_joints(self) -> np.ndarray:
        """``(K,)`` int64: the SMPL joint carrying each target."""
        return np.array([t.joint for t in self.targets], dtype=np.int64)

    def target_offsets(self) -> np.ndarray:
        """``(K, 3)`` float64 metres (SMPL size): each target's offset in its joint's frame."""
        return np.array([t.offset for t in self.targets], dtype=np.float64).reshape(-1, 3)

    def target_weights(self) -> np.ndarray:
        """``(K,)`` float64 weights."""
        return np.array([t.weight for t in self.targets], dtype=np.float64)

    def source_matrix(self) -> np.ndarray:
        """``(K, J)`` float64: row k averages target k's sources (each row sums to 1)."""
        m = np.zeros((len(self.targets), self.n_joints))
        for k, t in enumerate(self.targets):
            m[k, list(t.sources)] = 1.0 / len(t.sources)
        return m

    def target_positions(self, points: np.ndarray) -> np.ndarray:
        """Input positions of the targets ``(..., K, 3)`` from input joints ``(..., J, 3)``.

        A target is NaN wherever any of its sources is NaN (missing).
        """
        points = np.asarray(points, dtype=np.float64)
        if points.shape[-2:] != (self.n_joints, 3):
            raise ValueError(f"layout {self.name}: expected joints (..., {self.n_joints}, 3), got {points.shape}")
        out = np.empty(points.shape[:-2] + (len(self.targets), 3))
        for k, t in enumerate(self.targets):
            out[..., k, :] = points[..., list(t.sources), :].mean(axis=-2)  # NaN propagates
        return out

    def single_source_target(self) -> np.ndarray:
        """``(J,)`` int64: for each input joint, the target whose only source it is (-1 if none)."""
        index = np.full(self.n_joints, -1, dtype=np.int64)
        for k, t in enumerate(self.targets):
            if len(t.sources) == 1 and index[t.sources[0]] < 0:
                index[t.sources[0]] = k
        return index


# --------------------------------------------------------------------------------------------
# SMPL-24: identity

SMPL24 = Layout(
    name="smpl24",
    joint_names=JOINT_NAMES,
    targets=tuple(at_joint(n, i, i) for i, n in enumerate(JOINT_NAMES)),
    bones=tuple((int(PARENTS[i]), i) for i in range(1, N_JOINTS)),
    feet=(7, 8, 10, 11),
)


# --------------------------------------------------------------------------------------------
# COCO-17 (AIST++ keypoints2d / keypoints3d order)

COCO17_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip

# Limb and face pairs of constant length: the "internal" (COCO) bone list of
# google/aistplusplus_api processing/run_estimate_keypoints.py.
COCO17_BONES: tuple[tuple[int, int], ...] = (
    (5, 7), (7, 9), (6, 8), (8, 10), (11, 13), (13, 15), (12, 14),
    (14, 16), (0, 1), (0, 2), (1, 2), (0, 3), (0, 4), (3, 4),
)  # fmt: skip

# Face points in the head joint's frame (x left, y up, z forward), metres at SMPL size.
# Approximate positions of the nose tip, eyes and ear canals of an adult head whose SMPL
# head joint sits near the base of the skull; the fit learns the actual offsets.
_FACE_WEIGHT = 0.2  # the face is a small lever on the head and its keypoints jitter most
_COCO_FACE = (
    ("nose", 0, (0.0, 0.04, 0.11)),
    ("left_eye", 1, (0.032, 0.075, 0.09)),
    ("right_eye", 2, (-0.032, 0.075, 0.09)),
    ("left_ear", 3, (0.075, 0.045, 0.0)),
    ("right_ear", 4, (-0.075, 0.045, 0.0)),
)
# COCO body keypoint -> SMPL joint (the mapping of run_estimate_smpl.py unify_joint_mappings).
_COCO_BODY = {5: 16, 6: 17, 7: 18, 8: 19, 9: 20, 10: 21, 11: 1, 12: 2, 13: 4, 14: 5, 15: 7, 16: 8}

COCO17 = Layout(
    name="coco17",
    joint_names=COCO17_NAMES,
    targets=tuple(
        [at_joint(COCO17_NAMES[c], c, j) for c, j in _COCO_BODY.items()]
        + [at_joint(n, c, 15, offset=o, weight=_FACE_WEIGHT, learn_offset=True) for n, c, o in _COCO_FACE]
    ),
    bones=COCO17_BONES,
    feet=(15, 16),
)


# --------------------------------------------------------------------------------------------
# Dance with Melody, 23 markers (../shared/data/README.md)

DWM23_NAMES: tuple[str, ...] = (
    "head_a", "head_b", "pelvis", "right_shoulder", "right_elbow", "right_forearm", "right_wrist",
    "right_hip", "right_knee", "right_ankle", "right_heel", "right_toe", "left_shoulder",
    "left_elbow", "left_forearm", "left_wrist", "left_hip", "left_knee", "left_ankle",
    "left_heel", "left_toe", "left_hand_marker", "right_hand_marker",
)  # fmt: skip

# The bones the source's drawing code draws between single markers, plus the two forearm
# extras; constant-length pairs for temporal optimisation of these markers.
DWM23_BONES: tuple[tuple[int, int], ...] = (
    (0, 1), (3, 4), (4, 5), (5, 6), (12, 13), (13, 14), (14, 15), (2, 7), (7, 8), (8, 9),
    (9, 10), (9, 11), (10, 11), (2, 16), (16, 17), (17, 18), (18, 19), (18, 20), (19, 20),
)  # fmt: skip


def _dwm_targets() -> tuple[Target, ...]:
    """The DWM-23 correspondence (see :data:`DWM23`)."""
    # Starting offsets measured on the data in a torso frame (median over dances): marker 2
    # sits ~10 cm above SMPL's pelvis joint, the hip markers ~4 cm wider, ~6 cm higher and
    # ~3 cm behind SMPL's hip joints (the README: "~5 cm wider and higher").
    hip_l = tuple(REST_OFFSETS[1] + [0.04, 0.06, -0.03])
    hip_r = tuple(REST_OFFSETS[2] + [-0.04, 0.06, -0.03])
    learn = {"learn_offset": True}
    return (
        at_joint("pelvis", 2, 0, offset=(0.0, 0.1, 0.03), **learn),
        at_joint("left_hip", 16, 0, offset=hip_l, weight=0.5, **learn),
        at_joint("right_hip", 7, 0, offset=hip_r, weight=0.5, **learn),
        at_joint("left_knee", 17, 4, **learn),
        at_joint("right_knee", 8, 5, **learn),
        at_joint("left_ankle", 18, 7, **learn),
        at_joint("right_ankle", 9, 8, **learn),
        at_joint("left_toe", 20, 10, **learn),
        at_joint("right_toe", 11, 11, **learn),
        # Heels sit below and behind the ankle, on the foot: the ankle's frame turns with the foot.
        at_joint("left_heel", 19, 7, offset=(0.0, -0.06, -0.06), weight=0.5, **learn),
        at_joint("right_heel", 10, 8, offset=(0.0, -0.06, -0.06), weight=0.5, **learn),
        # Mid-shoulder marker point: SMPL's shoulder-joint mid-point is ~5 cm below its neck joint.
        at_joint("neck", (3, 12), 12, offset=(0.0, -0.05, 0.0), weight=0.5, **learn),
        # Head markers A and B (top/side) separately: together they fix the head's tilt.
        at_joint("head_a", 0, 15, offset=(-0.045, 0.03, -0.03), weight=0.5, **learn),
        at_joint("head_b", 1, 15, offset=(0.045, 0.03, -0.03), weight=0.5, **learn),
        at_joint("left_shoulder", 12, 16, **learn),
        at_joint("right_shoulder", 3, 17, **learn),
        at_joint("left_elbow", 13, 18, **learn),
        at_joint("right_elbow", 4, 19, **learn),
        at_joint("left_wrist", 15, 20, **learn),
        at_joint("right_wrist", 6, 21, **learn),
        on_bone("left_forearm", 14, 18, 20, 0.6, weight=0.3, **learn),
        on_bone("right_forearm", 5, 19, 21, 0.45, weight=0.3, **learn),
        # Marker 21 lies on the left forearm ~12 cm from the elbow (not at the hand: see DWM23).
        on_bone("left_hand_marker", 21, 18, 20, 0.45, weight=0.2, **learn),
        on_bone("right_hand_marker", 22, 21, 23, 0.5, weight=0.2, **learn),
    )


DWM23 = Layout(name="dwm23", joint_names=DWM23_NAMES, targets=_dwm_targets(), bones=DWM23_BONES,
               feet=(9, 10, 11, 18, 19, 20))
"""Dance-with-Melody markers -> SMPL-24.

Follows the README's proposed table (pelvis 2, hips 16/7 with less weight, knees, ankles,
toes at SMPL's foot joints, heels fixing the foot's direction, neck = mid(3, 12), shoulders,
elbows, wrists), with three changes the data call for:

* every marker's offset from its joint is learned once per dance: the capture skeleton's
  proportions differ from SMPL's (over the 38 dances: shoulder marker to wrist 51-56 cm
  against SMPL's 52 cm × scale, hip marker to knee 44-55 cm against 39 cm, marker 2 sits
  ~17 cm above the hip markers), and the learned offsets absorb what one global scale cannot;
* head markers 0 and 1 are two targets on the head instead of their mid-point, so the
  head's tilt follows them;
* marker 21 (the README's "left hand direction marker", uncertain) lies on the left
  forearm, 11.5-12.3 cm from the elbow and 4-8 cm from marker 14, so it is a forearm point,
  not the hand; marker 22 is 4.6-5.2 cm beyond the right wrist and stays a hand point.
Forearm markers 5 and 14 are points on the forearm bones. Spine1-3 and the collars have
no marker and are left to the priors.
"""

LAYOUTS: dict[str, Layout] = {layout.name: layout for layout in (COCO17, DWM23, SMPL24)}


def get_layout(name: str) -> Layout:
    """The layout called ``name`` (``coco17``, ``dwm23``, ``smpl24``); ValueError naming the choices."""
    try:
        return LAYOUTS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown layout {name!r}; choose one of {', '.join(LAYOUTS)}") from None
