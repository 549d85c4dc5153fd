"""Motion exports read back: AIST++ pkl, EDGE pkl, AMASS npz, joints npy, BVH, glTF, export_all.

Each file is read with an independent reader (the AIST++ loader, a BVH parser, pygltflib, numpy)
and its joints recomputed with the forward kinematics written out below, which shares nothing
with :mod:`aichoreo.skeleton` but the published SMPL numbers.
"""

from __future__ import annotations

import os
import pickle
import sys
import time

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from aichoreo.data.aistpp import load_motion
from aichoreo.data.fixtures import dance_pose
from aichoreo.errors import InputError
from aichoreo.export import (
    FILE_SUFFIXES,
    FORMATS,
    export_all,
    read_amass,
    read_edge,
    read_joints,
    write_aistpp,
    write_amass,
    write_bvh,
    write_edge,
    write_glb,
    write_joints,
    write_mp4,
)
from aichoreo.motion import SMPLMotion
from aichoreo.rotations import axis_angle_to_matrix
from aichoreo.skeleton import J0, JOINT_NAMES, PARENTS, REST_OFFSETS

FPS = 60.0
# +90 degrees about x: y up -> z up (AMASS, EDGE).
R_Z_UP = Rotation.from_euler("x", 90, degrees=True).as_matrix()


def _fk(local: np.ndarray, root: np.ndarray, offsets: np.ndarray, parents) -> np.ndarray:
    """Joints (T, J, 3) from local rotations (T, J, 3, 3), the root joint's position (T, 3) and offsets (J, 3)."""
    n = len(parents)
    world_rot = [None] * n
    pos = np.zeros((len(local), n, 3))
    for j in range(n):
        p = parents[j]
        if p < 0:
            world_rot[j], pos[:, j] = local[:, j], root
        else:
            world_rot[j] = world_rot[p] @ local[:, j]
            pos[:, j] = pos[:, p] + np.einsum("tab,b->ta", world_rot[p], offsets[j])
    return pos


def _dance(n_frames: int = 90, fps: float = FPS, seed: int = 0) -> SMPLMotion:
    """A plausible dancer (the AIST++ fixture's), turning and travelling so every channel moves."""
    poses, transl = dance_pose(n_frames, 110.0, np.random.default_rng(seed), fps=fps)
    poses[:, 0, 1] += np.linspace(0.0, 2.5, n_frames)  # a turn of 143 degrees
    transl += np.linspace([0.0, 0.0, 0.0], [0.6, 0.1, -0.4], n_frames)
    return SMPLMotion(axis_angle_to_matrix(poses), transl, fps)


def _wild(n_frames: int = 12, seed: int = 1) -> SMPLMotion:
    """Random large rotations (up to pi), some exactly at the Euler singularity (Y = +-90 degrees)."""
    rng = np.random.default_rng(seed)
    rotations = Rotation.random(n_frames * 24, random_state=seed).as_matrix().reshape(n_frames, 24, 3, 3)
    rotations[0, 5] = Rotation.from_euler("ZYX", [30, 90, 10], degrees=True).as_matrix()
    rotations[1, 7] = Rotation.from_euler("ZYX", [-50, -90, 70], degrees=True).as_matrix()
    return SMPLMotion(rotations, rng.normal(0, 0.5, (n_frames, 3)), FPS)


@pytest.fixture(scope="module")
def dance() -> SMPLMotion:
    return _dance()


# ------------------------------------------------------------------------------------ AIST++


def test_aistpp_reads_back_with_the_aistpp_loader(tmp_path, dance):
    path = write_aistpp(dance, tmp_path / "d.pkl")
    data = load_motion(path)
    assert data["smpl_poses"].shape == (90, 72) and data["smpl_trans"].shape == (90, 3)
    assert data["smpl_scaling"].tolist() == [1.0] and data["smpl_loss"] == 0.0
    back = SMPLMotion.from_aistpp(data["smpl_poses"], data["smpl_trans"], data["smpl_scaling"])
    np.testing.assert_allclose(back.joints(), dance.joints(), atol=1e-5)


def test_aistpp_scaling_and_resampling_to_60_fps(tmp_path):
    motion_30 = _dance(30, fps=30.0)
    data = load_motion(write_aistpp(motion_30, tmp_path / "d.pkl", scaling=95.0))
    assert len(data["smpl_poses"]) == 59  # 29 intervals at 30 fps = 58 at 60 fps
    np.testing.assert_allclose(data["smpl_trans"][::2], motion_30.translation * 95.0, rtol=1e-6, atol=1e-6)
    back = SMPLMotion.from_aistpp(data["smpl_poses"], data["smpl_trans"], data["smpl_scaling"])
    np.testing.assert_allclose(back.joints()[::2], motion_30.joints(), atol=1e-5)


def test_pickles_name_numpy_core_so_numpy_1_reads_them(tmp_path, dance):
    for writer in (write_aistpp, write_edge):
        raw = writer(dance, tmp_path / f"{writer.__name__}.pkl").read_bytes()
        assert b"numpy.core.multiarray" in raw and b"numpy._core" not in raw
        assert isinstance(pickle.loads(raw), dict)


# ------------------------------------------------------------------------------------ EDGE


def test_edge_pickle_matches_edge_conventions(tmp_path, dance):
    with open(write_edge(dance, tmp_path / "e.pkl"), "rb") as f:
        data = pickle.load(f)
    assert set(data) == {"smpl_poses", "smpl_trans", "full_pose"}
    assert all(v.dtype == np.float32 for v in data.values())
    n = 45  # 90 frames at 60 fps -> every other frame at 30 fps
    assert data["smpl_poses"].shape == (n, 72) and data["smpl_trans"].shape == (n, 3)
    assert data["full_pose"].shape == (n, 24, 3)

    # EDGE's FK (Stanford-TML/EDGE vis.py): the root joint at smpl_trans, the same offsets.
    local = Rotation.from_rotvec(data["smpl_poses"].reshape(-1, 3).astype(np.float64)).as_matrix().reshape(n, 24, 3, 3)
    edge_joints = _fk(local, data["smpl_trans"].astype(np.float64), REST_OFFSETS, PARENTS)
    np.testing.assert_allclose(data["full_pose"], edge_joints, atol=1e-5)

    # z up, 30 fps: our joints rotated to z up, shifted by EDGE's missing rest pelvis.
    ours = dance.joints()[::2].astype(np.float64)
    np.testing.assert_allclose(data["full_pose"], (ours - J0) @ R_Z_UP.T, atol=1e-5)
    assert (data["full_pose"][:, JOINT_NAMES.index("head"), 2] > data["full_pose"][:, 0, 2] + 0.4).all()


def test_edge_reads_back(tmp_path, dance):
    back = read_edge(write_edge(dance, tmp_path / "e.pkl"))
    assert back.fps == 30.0 and len(back) == 45
    np.testing.assert_allclose(back.joints(), dance.joints()[::2], atol=1e-5)


def test_edge_reader_rejects_foreign_pickles(tmp_path):
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(pickle.dumps({"smpl_poses": np.zeros((3, 72)), "smpl_trans": np.zeros((4, 3))}))
    with pytest.raises(InputError, match="bad.pkl: frame counts differ"):
        read_edge(bad)
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"x": print}))
    with pytest.raises(InputError, match="evil.pkl: not a readable pickle"):
        read_edge(evil)


# ------------------------------------------------------------------------------------ AMASS


def test_amass_npz_layout_and_forward_kinematics(tmp_path, dance):
    with np.load(write_amass(dance, tmp_path / "a.npz")) as npz:
        data = {k: npz[k] for k in npz.files}
    assert data["poses"].shape == (90, 156) and data["trans"].shape == (90, 3)
    assert np.all(data["poses"][:, 66:] == 0) and np.all(data["betas"] == 0) and data["betas"].shape == (16,)
    assert str(data["gender"]) == "male" and float(data["mocap_framerate"]) == FPS
    assert data["dmpls"].shape == (90, 8)

    # smplx convention in the z-up world: root joint = trans + J0; joints 22-23 (no SMPL+H rotation) as identity.
    aa = np.zeros((90, 24, 3))
    aa[:, :22] = data["poses"][:, :66].reshape(90, 22, 3)
    local = Rotation.from_rotvec(aa.reshape(-1, 3)).as_matrix().reshape(90, 24, 3, 3)
    z_up = _fk(local, data["trans"] + J0, REST_OFFSETS, PARENTS)
    np.testing.assert_allclose(z_up @ R_Z_UP, dance.joints(), atol=1e-5)  # rotated back to y up
    head, pelvis = JOINT_NAMES.index("head"), 0
    assert (z_up[:, head, 2] > z_up[:, pelvis, 2] + 0.4).all()  # z is up


def test_amass_smpl_layout_and_reader(tmp_path, dance):
    path = write_amass(dance, tmp_path / "a.npz", layout="smpl")
    with np.load(path) as npz:
        assert npz["poses"].shape == (90, 72)
    back = read_amass(path)
    np.testing.assert_allclose(back.rotations, dance.rotations, atol=1e-5)
    np.testing.assert_allclose(back.joints(), dance.joints(), atol=1e-5)
    assert back.fps == FPS
    np.testing.assert_allclose(read_amass(write_amass(dance, tmp_path / "h.npz")).joints(), dance.joints(), atol=1e-5)


def test_amass_reader_names_the_file(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, poses=np.zeros((5, 100)), trans=np.zeros((5, 3)), mocap_framerate=60.0)
    with pytest.raises(InputError, match=r"x.npz: poses has shape \(5, 100\)"):
        read_amass(path)


# ------------------------------------------------------------------------------------ joints


def test_joints_npy(tmp_path, dance):
    path = write_joints(dance, tmp_path / "j.npy")
    joints = np.load(path)
    assert joints.dtype == np.float32 and joints.shape == (90, 24, 3)
    np.testing.assert_array_equal(joints, dance.joints())
    np.testing.assert_array_equal(read_joints(path), joints)
    np.save(tmp_path / "flat.npy", np.zeros((4, 72), np.float32))
    with pytest.raises(InputError, match=r"flat.npy: joints have shape \(4, 72\)"):
        read_joints(tmp_path / "flat.npy")


# ------------------------------------------------------------------------------------ BVH


def _bvh_joints(path, scale: float = 1.0) -> tuple[np.ndarray, object]:
    """Parse with the ``bvh`` package and run FK from the parsed offsets and Euler channels."""
    bvh = pytest.importorskip("bvh")
    mocap = bvh.Bvh(path.read_text())
    names = mocap.get_joints_names()
    parents = [mocap.joint_parent_index(n) for n in names]
    offsets = np.array([mocap.joint_offset(n) for n in names]) / scale
    n_frames = mocap.nframes
    local = np.zeros((n_frames, len(names), 3, 3))
    for j, name in enumerate(names):
        channels = [c for c in mocap.joint_channels(name) if c.endswith("rotation")]
        angles = np.array(mocap.frames_joint_channels(name, channels))
        order = "".join(c[0] for c in channels)  # e.g. "ZYX": intrinsic, as BVH defines it
        local[:, j] = Rotation.from_euler(order.upper(), angles, degrees=True).as_matrix()
    root = np.array(mocap.frames_joint_channels(names[0], ["Xposition", "Yposition", "Zposition"])) / scale
    joints = _fk(local, root + offsets[0], offsets, parents)
    order = [JOINT_NAMES.index(n) for n in names]
    out = np.zeros_like(joints)
    out[:, order] = joints
    return out, mocap


def test_bvh_skeleton_and_forward_kinematics(tmp_path, dance):
    joints, mocap = _bvh_joints(write_bvh(dance, tmp_path / "d.bvh"))
    names = mocap.get_joints_names()
    assert sorted(names) == sorted(JOINT_NAMES)
    assert [JOINT_NAMES.index(n) for n in names][:1] == [0]
    for name in names[1:]:
        parent = mocap.joint_parent(name).name
        assert JOINT_NAMES.index(parent) == PARENTS[JOINT_NAMES.index(name)]
        np.testing.assert_allclose(mocap.joint_offset(name), REST_OFFSETS[JOINT_NAMES.index(name)], atol=1e-6)
    assert mocap.nframes == 90 and mocap.frame_time == pytest.approx(1 / FPS, abs=1e-8)
    assert len(mocap.search("End", "Site")) == 5  # feet, head, hands
    np.testing.assert_allclose(joints, dance.joints(), atol=1e-4)


@pytest.mark.parametrize("order", ["ZYX", "XYZ"])
def test_bvh_large_rotations_and_gimbal_lock(tmp_path, order):
    motion = _wild()
    joints, _ = _bvh_joints(write_bvh(motion, tmp_path / "w.bvh", euler_order=order))
    np.testing.assert_allclose(joints, motion.joints(), atol=1e-4)


def test_bvh_centimetres_and_continuous_angles(tmp_path, dance):
    path = write_bvh(dance, tmp_path / "cm.bvh", units="cm")
    joints, mocap = _bvh_joints(path, scale=100.0)
    np.testing.assert_allclose(joints, dance.joints(), atol=1e-4)
    # The root's 143-degree turn takes its ZYX middle angle past 90 degrees, where scipy's angles
    # flip by 180 in two channels: the writer must keep every channel continuous instead.
    angles = np.array([[float(x) for x in frame[3:]] for frame in mocap.frames])
    assert np.abs(np.diff(angles, axis=0)).max() < 90.0


# ------------------------------------------------------------------------------------ glTF


def _accessor(gltf, index: int) -> np.ndarray:
    components = {5126: np.float32, 5121: np.uint8, 5123: np.uint16}
    widths = {"SCALAR": 1, "VEC3": 3, "VEC4": 4, "MAT4": 16}
    acc = gltf.accessors[index]
    view = gltf.bufferViews[acc.bufferView]
    blob = gltf.binary_blob()
    dtype = np.dtype(components[acc.componentType])
    start = (view.byteOffset or 0) + (acc.byteOffset or 0)
    count = acc.count * widths[acc.type]
    array = np.frombuffer(blob, dtype=dtype, count=count, offset=start)
    return array.reshape(acc.count, widths[acc.type]) if widths[acc.type] > 1 else array


@pytest.mark.parametrize("kind", ["dance", "wild"])
def test_glb_hierarchy_skin_and_animation_fk(tmp_path, dance, kind):
    pygltflib = pytest.importorskip("pygltflib")
    motion = dance if kind == "dance" else _wild(40)
    n = len(motion)
    gltf = pygltflib.GLTF2().load(str(write_glb(motion, tmp_path / "d.glb")))
    nodes = gltf.nodes
    assert [n.name for n in nodes[:24]] == list(JOINT_NAMES)
    parent_of = {c: i for i, n in enumerate(nodes) for c in n.children}
    assert [parent_of.get(j, -1) for j in range(24)] == PARENTS.tolist()
    skin = gltf.skins[0]
    assert skin.joints == list(range(24))

    # Inverse bind matrices undo each joint's rest transform (rest translations, no rotations).
    rest = np.zeros((24, 3))
    for j in range(24):
        rest[j] = np.array(nodes[j].translation) + (rest[PARENTS[j]] if PARENTS[j] >= 0 else 0)
    ibm = _accessor(gltf, skin.inverseBindMatrices).reshape(24, 4, 4).transpose(0, 2, 1)  # column-major
    bind = np.tile(np.eye(4), (24, 1, 1))
    bind[:, :3, 3] = rest
    np.testing.assert_allclose(ibm @ bind, np.tile(np.eye(4), (24, 1, 1)), atol=1e-6)

    # The mesh is skinned to valid joints with weight 1 on the first influence.
    prim = gltf.meshes[nodes[24].mesh].primitives[0]
    assert nodes[24].skin == 0
    assert _accessor(gltf, prim.attributes.JOINTS_0)[:, 0].max() < 24
    np.testing.assert_array_equal(_accessor(gltf, prim.attributes.WEIGHTS_0)[:, 0], 1.0)

    # Recompute the joints from the animation samplers (quaternions x, y, z, w) by FK.
    anim = gltf.animations[0]
    rotations = np.tile(np.eye(3), (n, 24, 1, 1))
    root = None
    for channel in anim.channels:
        sampler = anim.samplers[channel.sampler]
        assert sampler.interpolation == "LINEAR"
        np.testing.assert_allclose(_accessor(gltf, sampler.input), np.arange(n) / FPS, rtol=1e-6)
        values = _accessor(gltf, sampler.output).astype(np.float64)
        if channel.target.path == "rotation":
            assert ((values[1:] * values[:-1]).sum(-1) >= 0).all()  # short-way interpolation
            rotations[:, channel.target.node] = Rotation.from_quat(values).as_matrix()
        else:
            assert (channel.target.node, channel.target.path) == (0, "translation")
            root = values
    offsets = np.array([nodes[j].translation for j in range(24)])
    joints = _fk(rotations, root, offsets, PARENTS)
    np.testing.assert_allclose(joints, motion.joints(), atol=1e-5)


# ------------------------------------------------------------------------------------ export_all


def test_export_all_writes_every_format(tmp_path, dance):
    formats = [f for f in FORMATS if f != "mp4"]  # the video has its own test
    paths = export_all(dance, tmp_path / "out", name="dance", formats=formats)
    assert list(paths) == formats
    names = {p.name for p in paths.values()}
    assert names == {"dance.pkl", "dance_edge.pkl", "dance_amass.npz", "dance_joints.npy", "dance.bvh",
                     "dance.glb", "dance.html"}
    assert {p.name for p in (tmp_path / "out").iterdir()} == names  # no staging folder left
    np.testing.assert_array_equal(np.load(paths["joints"]), dance.joints())
    assert FILE_SUFFIXES["edge"] == "_edge.pkl"


def test_export_all_rejects_bad_requests_before_writing(tmp_path, dance):
    a_file = tmp_path / "taken"
    a_file.write_text("x")
    with pytest.raises(InputError, match="taken: is a file"):
        export_all(dance, a_file, name="dance", formats=["joints"])
    with pytest.raises(InputError, match="unknown export format 'fbx'"):
        export_all(dance, tmp_path / "o1", name="dance", formats=["joints", "fbx"])
    with pytest.raises(InputError, match="nothing.wav: no such file"):
        export_all(dance, tmp_path / "o2", name="dance", formats=["joints"], audio_path=tmp_path / "nothing.wav")
    with pytest.raises(InputError, match="not a plain file name"):
        export_all(dance, tmp_path / "o3", name="a/b", formats=["joints"])
    with pytest.raises(InputError, match="audio offset must be a time >= 0 s"):
        export_all(dance, tmp_path / "o4", name="dance", formats=["joints"], audio_offset_s=-1.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_export_all_leaves_nothing_when_a_writer_fails(tmp_path, dance, monkeypatch):
    import aichoreo.export as export

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(export, "write_glb", broken)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="disk full"):
        export_all(dance, out, name="dance", formats=["aistpp", "joints", "glb"])
    assert not out.exists()  # the folder it created is removed again: a failed export leaves no empty folder
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(RuntimeError, match="disk full"):
        export_all(dance, out, name="dance", formats=["aistpp", "joints", "glb"])
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_export_all_writes_the_video_and_the_rest_side_by_side(tmp_path, dance, monkeypatch):
    """The video is drawn while the other formats are written in a second thread: a failure on
    either side leaves nothing, and the other side stops at its next format."""
    pytest.importorskip("imageio_ffmpeg", reason="video export needs imageio-ffmpeg")
    import threading

    import soundfile as sf

    import aichoreo.export as export

    song = tmp_path / "song.wav"
    sf.write(song, 0.1 * np.sin(np.linspace(0, 2000, 3 * 22050)), 22050)
    threads = {}
    write_bvh = export.write_bvh

    def recording_bvh(*args, **kwargs):
        threads["bvh"] = threading.current_thread()
        return write_bvh(*args, **kwargs)

    monkeypatch.setattr(export, "write_bvh", recording_bvh)
    paths = export_all(dance, tmp_path / "out", name="dance", formats=["bvh", "mp4", "html"], audio_path=song)
    assert list(paths) == ["bvh", "html", "mp4"]  # in FORMATS order whatever finished first
    assert threads["bvh"] is not threading.main_thread()
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"dance.bvh", "dance.html", "dance.mp4"}

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(export, "write_glb", broken)  # beside the video
    with pytest.raises(RuntimeError, match="disk full"):
        export_all(dance, tmp_path / "a", name="dance", formats=["glb", "mp4"], audio_path=song)
    assert not (tmp_path / "a").exists()
    done = []
    monkeypatch.setattr(export, "write_mp4", broken)  # the video fails: the rest stops after its format
    monkeypatch.setattr(export, "write_joints", lambda *a, **k: done.append("joints") or write_joints(*a, **k))
    with pytest.raises(RuntimeError, match="disk full"):
        export_all(dance, tmp_path / "b", name="dance", formats=["joints", "bvh", "mp4"], audio_path=song)
    assert not (tmp_path / "b").exists() and len(done) <= 1


def test_the_songs_aac_is_encoded_once_and_bad_music_named(tmp_path, dance):
    pytest.importorskip("imageio_ffmpeg", reason="the AAC comes from imageio-ffmpeg's ffmpeg")
    import soundfile as sf

    from aichoreo.export import SongAAC, aac_wanted

    song = tmp_path / "song.wav"
    sf.write(song, 0.1 * np.sin(np.linspace(0, 2000, 3 * 22050)), 22050)
    assert aac_wanted(["mp4"], song) and not aac_wanted(["mp4"], song, 0.5)  # an offset: the video cuts it
    assert not aac_wanted(["html", "bvh"], song)  # a small wav goes into the page as it is
    assert not aac_wanted(["mp4"], None)
    with SongAAC(song) as aac:
        encoded = aac.path()
        assert encoded.stat().st_size > 1000
        mp4 = write_mp4(dance, tmp_path / "d.mp4", audio_path=song, aac=aac)
    assert not encoded.exists()  # removed with its folder
    import subprocess

    import imageio_ffmpeg

    streams = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(mp4)],
                             capture_output=True, text=True).stderr
    assert "Audio: aac" in streams and "Video: h264" in streams
    noise = tmp_path / "noise.wav"
    noise.write_bytes(b"RIFF but not a wave file at all")
    with SongAAC(noise) as aac, pytest.raises(InputError, match=r"noise.wav: ffmpeg could not convert the audio: "):
        aac.path()


def test_export_all_cleans_a_killed_exports_folder_and_names_final_paths(tmp_path, dance, monkeypatch):
    import fcntl

    import aichoreo.export as export
    from aichoreo.fileio import STAGING_LOCK

    out = tmp_path / "out"
    killed = out / ".dance.exporting-killed"  # a killed export's folder: its lock is free
    killed.mkdir(parents=True)
    (killed / STAGING_LOCK).touch()
    (killed / "dance.bvh").write_text("half")
    old = out / ".dance.exporting-old"  # an older aichoreo's, without a lock file, an hour old
    old.mkdir()
    os.utime(old, (time.time() - 3600,) * 2)
    fresh = out / ".dance.exporting~init-x"  # being made by another export right now: not yet locked
    fresh.mkdir()
    live = out / ".dance.exporting-live"  # an export running now in another process: its lock is held
    live.mkdir()
    with open(live / STAGING_LOCK, "w") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        export_all(dance, out, name="dance", formats=["joints"])
        assert sorted(p.name for p in out.iterdir()) == [".dance.exporting-live", ".dance.exporting~init-x",
                                                          "dance_joints.npy"]
    fresh.rmdir()

    def no_space(motion, path, **kwargs):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(export, "write_bvh", no_space)
    with pytest.raises(InputError) as caught:
        export_all(dance, out, name="dance", formats=["bvh"])
    assert str(caught.value) == f"[Errno 28] No space left on device: '{out / 'dance.bvh'}'"


def test_export_all_names_a_missing_package_before_writing(tmp_path, dance, monkeypatch):
    monkeypatch.setitem(sys.modules, "pygltflib", None)  # import pygltflib -> ImportError
    out = tmp_path / "out"
    with pytest.raises(InputError, match="glb export needs pygltflib"):
        export_all(dance, out, name="dance", formats=["joints", "glb"])
    assert not out.exists()


def test_a_killed_runs_aac_folder_is_removed_by_the_next(tmp_path, monkeypatch):
    pytest.importorskip("imageio_ffmpeg", reason="the AAC comes from imageio-ffmpeg's ffmpeg")
    import subprocess
    import tempfile

    import soundfile as sf

    from aichoreo.export import SongAAC

    song = tmp_path / "song.wav"
    sf.write(song, 0.1 * np.sin(np.linspace(0, 2000, 22050)), 22050)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    code = ("import os, signal, sys; from aichoreo.export import SongAAC; a = SongAAC(sys.argv[1]); a.path(); "
            "os.kill(os.getpid(), signal.SIGKILL)")
    killed = subprocess.run([sys.executable, "-c", code, str(song)], env={**os.environ, "TMPDIR": str(scratch)})
    assert killed.returncode == -9
    left = list(scratch.glob(".aichoreo-audio-*"))
    assert len(left) == 1 and (left[0] / "music.m4a").exists()  # what the killed run left
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with SongAAC(song) as aac:
        assert aac.path().exists()
        assert not left[0].exists()  # removed: its lock died with its process
    assert list(scratch.iterdir()) == []
