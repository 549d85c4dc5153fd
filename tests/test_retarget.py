"""Retargeting onto characters: bone maps, bone directions, feet, file formats, errors, real tools.

The dance is a real one: the bundled model's dance to the bundled song. The characters are the
synthetic rigs of tests/rigs.py (every naming scheme, A- and T-pose, other proportions, facing
-z, centimetres) and, where ../shared/data is present, the three real characters.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from rigs import build_rig, write_rig_bvh, write_rig_glb

from aichoreo.data.aistpp import load_motion_smpl
from aichoreo.errors import InputError
from aichoreo.motion import SMPLMotion
from aichoreo.retarget import load_character, read_source_motion, retarget, retarget_motion
from aichoreo.retarget.bvh_io import read_bvh
from aichoreo.retarget.fidelity import bone_direction_errors, planted_foot_errors
from aichoreo.retarget.humanoid import find_bone_map

ROOT = Path(__file__).resolve().parents[1]
SONG = ROOT / "src" / "aichoreo" / "assets" / "music" / "demo_120bpm.ogg"
TOOLS = Path(__file__).resolve().parent / "tools"

# Issue 16's acceptance: bone directions within 5 degrees median and 15 at the 99th percentile;
# feet within 2 cm of the floor where the SMPL feet are planted.
MEDIAN_DEG, P99_DEG, FLOOR_M = 5.0, 15.0, 0.02


@pytest.fixture(scope="module")
def dance_files(tmp_path_factory) -> Path:
    """The bundled model's dance to 12 s of the bundled song: dance.pkl, dance.bvh, dance_joints.npy,
    dance_edge.pkl, dance_amass.npz."""
    import aichoreo

    out = tmp_path_factory.mktemp("dance")
    aichoreo.dance(str(SONG), out=out, formats=("aistpp", "bvh", "joints", "edge", "amass"), seconds=12,
                   progress=False)
    return out / SONG.stem


@pytest.fixture(scope="module")
def dance(dance_files):
    return load_motion_smpl(dance_files / "dance.pkl")


def assert_follows(motion, cm) -> None:
    _, errors = bone_direction_errors(motion, cm)
    assert np.median(errors) < MEDIAN_DEG and np.percentile(errors, 99) < P99_DEG, \
        (np.median(errors), np.percentile(errors, 99))
    # every bone on its own, too: one wrong bone must not hide in the others' zeros
    assert np.all(np.median(errors, axis=0) < MEDIAN_DEG), np.median(errors, axis=0)
    assert np.all(np.percentile(errors, 99, axis=0) < P99_DEG), np.percentile(errors, 99, axis=0)
    height, slide = planted_foot_errors(motion, cm)
    assert len(height) > 100 and height.max() < FLOOR_M, height.max()
    assert len(slide) >= 4 and slide.max() < FLOOR_M, slide  # planted feet stay planted


RIGS = {
    "mixamo T-pose, metres": dict(scheme="mixamo"),
    "mixamo A-pose, long arms, short legs": dict(scheme="mixamo", pose="A", arm=1.25, leg=0.8),
    "unreal with root, 4 spine segments": dict(scheme="unreal", spine=4, leg=1.15, thigh_share=0.56),
    "unity facing -z, 1 spine segment": dict(scheme="unity", facing="-z", spine=1, height=0.7),
    "rigify A-pose, 2 spine segments, tall": dict(scheme="rigify", pose="A", spine=2, height=1.3),
}


@pytest.mark.parametrize("name", list(RIGS))
def test_synthetic_rig_follows_the_dance(name, dance, tmp_path):
    rig = build_rig(**RIGS[name], seed=len(name))
    path = write_rig_glb(rig, tmp_path / "rig.glb")
    ch = load_character(path)
    assert ch.scheme == RIGS[name]["scheme"]
    assert ch.bone_map == {b: n for b, n in rig.humanoid.items() if b in ch.bone_map}
    assert set(ch.bone_map) == set(rig.humanoid)
    assert_follows(dance, retarget_motion(dance, ch))


def test_vrm1_is_mapped_by_its_humanoid_and_stays_vrm(dance, tmp_path):
    rig = build_rig("vrm", pose="A", seed=3)
    path = write_rig_glb(rig, tmp_path / "avatar.vrm", vrm=True)
    ch = load_character(path)
    assert (ch.kind, ch.scheme) == ("vrm1", "vrm")
    assert_follows(dance, retarget_motion(dance, ch))
    out = retarget(dance, ch, tmp_path / "out.vrm")
    back = load_character(out["out"])
    assert back.kind == "vrm1" and back.gltf.extensions["VRMC_vrm"]["humanoid"] == \
        ch.gltf.extensions["VRMC_vrm"]["humanoid"]
    assert back.gltf.animations[0].name == "dance"


def test_centimetre_armature(dance, tmp_path):
    """A Mixamo FBX converted to glTF: joints in centimetres under a 0.01-scaled Armature."""
    rig = build_rig("mixamo", pose="A", units="cm", seed=5)
    ch = load_character(write_rig_glb(rig, tmp_path / "cm.glb", armature_scale=0.01))
    cm = retarget_motion(dance, ch)
    assert cm.scale == pytest.approx(1.0, rel=0.1)  # metres in the scene, whatever the joints' units
    assert_follows(dance, cm)


def test_bvh_character_in_centimetres(dance, tmp_path):
    rig = build_rig("mixamo", units="cm", random_rest=False, arm=0.9)
    rig.names = [n.removeprefix("mixamorig:") for n in rig.names]
    ch = load_character(write_rig_bvh(rig, tmp_path / "cmu.bvh"))
    cm = retarget_motion(dance, ch)
    assert cm.scale == pytest.approx(100.0, rel=0.1)
    assert ch.units_per_metre == 100.0
    assert_follows(dance, cm)
    out = Path(retarget(dance, ch, tmp_path / "out.bvh")["out"])
    bvh = read_bvh(out)
    assert bvh["names"] == ch.names and set(ch.names) == set(rig.names) and len(bvh["rotations"]) == len(dance)
    # Forward kinematics of what the file says reproduces the solved joint positions.
    offsets = bvh["offsets"]
    world_r = np.empty_like(bvh["rotations"])
    world_p = np.empty((len(dance), len(rig.names), 3))
    for k, p in enumerate(bvh["parents"]):
        if p < 0:
            world_r[:, k], world_p[:, k] = bvh["rotations"][:, k], bvh["positions"][:, k]
        else:
            world_r[:, k] = world_r[:, p] @ bvh["rotations"][:, k]
            world_p[:, k] = world_p[:, p] + np.einsum("tij,j->ti", world_r[:, p], offsets[k])
    np.testing.assert_allclose(world_p, cm.world_positions, atol=1e-3)  # cm; the file keeps 6 decimals


def test_a_rig_hanging_below_its_origin_dances_on_the_floor(dance_files, dance, tmp_path):
    """A BVH whose root OFFSET is 0 (CMU's files; aichoreo's own dance.bvh) hangs below its origin
    at rest: its floor is y = 0, not its bind ankles. The dance on aichoreo's own skeleton stands
    where the dance stands; it danced about a metre under the floor before."""
    ch = load_character(dance_files / "dance.bvh")
    assert ch.bind_position[ch.index(ch.bone_map["leftFoot"]), 1] < -0.5  # hangs from the origin
    cm = retarget_motion(dance, ch)
    assert_follows(dance, cm)
    ankles = [ch.index(ch.bone_map[b]) for b in ("leftFoot", "rightFoot")]
    smpl = dance.joints()[:, [7, 8]]  # SMPL's ankles
    lift = cm.world_positions[:, ankles, 1] - smpl[..., 1]
    assert abs(np.median(lift)) < 0.03, np.median(lift)
    # a Mixamo-named rig in centimetres, its hips at the origin at rest: on the floor as well
    rig = build_rig("mixamo", units="cm", random_rest=False)
    rig.names = [n.removeprefix("mixamorig:") for n in rig.names]
    rig.positions = rig.positions - rig.positions[0]
    hanging = load_character(write_rig_bvh(rig, tmp_path / "hanging.bvh"))
    cm = retarget_motion(dance, hanging)
    assert_follows(dance, cm)
    lowest = cm.world_positions[:, [hanging.index(hanging.bone_map[b]) for b in ("leftFoot", "rightFoot")], 1]
    assert 0 < np.percentile(lowest, 5) < 20, np.percentile(lowest, 5)  # cm: an ankle's height above y = 0


def test_glb_written_keeps_the_character_and_adds_the_dance(dance, tmp_path):
    rig = build_rig("unreal", pose="A")
    src = write_rig_glb(rig, tmp_path / "rig.glb")
    out = retarget(dance, src, tmp_path / "rig_dance.glb")
    back = load_character(out["out"])
    np.testing.assert_allclose(back.bind_world, load_character(src).bind_world, atol=1e-6)
    animation = back.gltf.animations[0]
    assert animation.name == "dance"
    times = back.gltf.accessors[animation.samplers[0].input]
    assert times.count == len(dance) and times.max[0] == pytest.approx((len(dance) - 1) / dance.fps, rel=1e-6)
    # every humanoid bone below the hips is animated, nothing else is
    targets = {(c.target.node, c.target.path) for c in animation.channels}
    hips = back.nodes[back.index(back.bone_map["hips"])]
    assert (hips, "translation") in targets
    animated = {back.names[back.nodes.index(n)] for n, p in targets if p == "rotation"}
    assert animated == set(back.bone_map.values())


def test_motion_sources_agree(dance_files, dance, tmp_path):
    """Every file of a dance reads back as that dance: dance.pkl, dance.bvh, dance_amass.npz, FACT
    vectors; dance_edge.pkl at its 30 fps; dance_joints.npy fitted to within a few cm. A file that is
    none of these is one line naming it."""
    from_bvh = read_source_motion(dance_files / "dance.bvh")
    np.testing.assert_allclose(from_bvh.joints(), dance.joints(), atol=1e-4)
    from_amass = read_source_motion(dance_files / "dance_amass.npz")
    assert from_amass.fps == dance.fps
    np.testing.assert_allclose(from_amass.joints(), dance.joints(), atol=1e-4)
    from_edge = read_source_motion(dance_files / "dance_edge.pkl")
    assert from_edge.fps == 30.0
    np.testing.assert_allclose(from_edge.joints(), dance.resample(30.0).joints(), atol=1e-4)
    np.save(tmp_path / "vectors.npy", dance.to_fact_vector(padded=True))
    np.testing.assert_allclose(read_source_motion(tmp_path / "vectors.npy").joints(), dance.joints(), atol=1e-4)
    joints = dance.joints()
    for name, content, says in (("odd.npy", np.zeros((5, 7)), "has shape (5, 7)"),
                                ("zup.npy", np.stack([joints[..., 0], -joints[..., 2], joints[..., 1]], -1),
                                 "the body stands along +z, not +y"),
                                ("cube.npy", np.zeros((5, 24, 4)), "expected SMPL-24 joints"),
                                # a tracker's zeros: the fit would fail inside scipy, naming no file
                                ("zeros.npy", np.zeros((5, 24, 3)), "the joints of 5 of its 5 frames (the first: "
                                                                    "frame 0) lie within 20 cm of each other"),
                                ("pose.txt", None, "unknown motion format .txt")):
        path = tmp_path / name
        np.save(path, content) if content is not None else path.write_text("0 0 0")
        with pytest.raises(InputError, match=name) as raised:
            read_source_motion(path)
        assert says in str(raised.value)
    with open(tmp_path / "other.pkl", "wb") as f:
        pickle.dump({"poses": np.zeros((5, 72))}, f)
    with pytest.raises(InputError, match="other.pkl: .*smpl_poses"):
        read_source_motion(tmp_path / "other.pkl")
    fitted = read_source_motion(dance_files / "dance_joints.npy")
    error = np.linalg.norm(fitted.joints() - dance.joints(), axis=-1)  # (T, 24) metres
    assert np.mean(error) < 0.01 and np.max(error) < 0.05, (np.mean(error), np.max(error))
    # The end of a dance that has walked 12 m from the origin, as --continue reads it, stays on its
    # joints: until 2026-12-08 the fit's path was divided by the fitted body scale (0.99...), which
    # moved such a dancer by 4-9 cm, and the fit's smoothing pulled fast limbs up to 8 cm off.
    far = SMPLMotion(dance.rotations, dance.translation + np.array([10.0, 0.0, -6.0], np.float32), dance.fps)
    np.save(tmp_path / "far_joints.npy", far.joints())
    end = read_source_motion(tmp_path / "far_joints.npy", last_s=2.0)
    error = np.linalg.norm(end.joints() - far.joints()[-len(end):], axis=-1)
    assert np.mean(error) < 0.01 and np.max(error[-1]) < 0.03, (np.mean(error), np.max(error[-1]))
    # first_s / last_s: the start or the end alone (what a seed or --continue reads), a joints file
    # fitted on those frames only
    for name in ("dance_joints.npy", "dance.pkl", "dance_edge.pkl"):
        start = read_source_motion(dance_files / name, first_s=2.0)
        end = read_source_motion(dance_files / name, last_s=2.0)
        whole = dance.resample(end.fps).joints()
        assert len(start) == len(end) == round(2.0 * end.fps), name
        for part, reference in ((start, whole[:len(start)]), (end, whole[-len(end):])):
            error = np.linalg.norm(part.joints() - reference, axis=-1)
            assert np.mean(error) < 0.02 and np.max(error) < 0.1, (name, np.mean(error), np.max(error))
    with pytest.raises(ValueError, match="not both"):
        read_source_motion(dance_files / "dance.pkl", first_s=1.0, last_s=1.0)


def test_bone_maps_found_by_name():
    for scheme in ("mixamo", "unreal", "unity", "rigify"):
        rig = build_rig(scheme)
        found, mapping = find_bone_map(rig.names)
        assert found == scheme and mapping == rig.humanoid
    names = [n.replace("mixamorig:", "mixamorig1_") for n in build_rig("mixamo").names]  # Blender's renaming
    assert find_bone_map(names)[0] == "mixamo"


def test_custom_map(dance, tmp_path):
    rig = build_rig("unity", seed=2)
    rig.names = [f"bone{k:02d}" for k in range(len(rig.names))]
    humanoid = {b: f"bone{build_rig('unity', seed=2).names.index(n):02d}" for b, n in rig.humanoid.items()}
    path = write_rig_glb(rig, tmp_path / "odd.glb")
    with pytest.raises(InputError, match="not a humanoid rig.*--map"):
        load_character(path)
    (tmp_path / "map.json").write_text(json.dumps(humanoid))
    ch = load_character(path, tmp_path / "map.json")
    assert ch.scheme == "map"
    assert_follows(dance, retarget_motion(dance, ch))


def test_errors_name_the_file_and_the_problem(tmp_path):
    rig = build_rig("mixamo")
    drop = rig.names.index("mixamorig:LeftLeg")
    rig.names[drop] = "mixamorig:LeftKneeThing"
    path = write_rig_glb(rig, tmp_path / "missing.glb")
    with pytest.raises(InputError, match=r"missing\.glb.*leftLowerLeg \(LeftLeg\)"):
        load_character(path)
    with pytest.raises(InputError, match="has no skin"):
        load_character(write_rig_glb(build_rig("mixamo"), tmp_path / "static.glb", skin=False))
    (tmp_path / "junk.glb").write_bytes(b"glTF\x02\x00\x00\x00garbage")
    with pytest.raises(InputError, match=r"junk\.glb: cannot read as glTF"):
        load_character(tmp_path / "junk.glb")
    (tmp_path / "map.json").write_text('{"hips": "nope"}')
    with pytest.raises(InputError, match="names no spine"):
        load_character(write_rig_glb(build_rig("mixamo"), tmp_path / "ok.glb"), tmp_path / "map.json")
    with pytest.raises(InputError, match="unknown character format .fbx"):
        (tmp_path / "x.fbx").write_bytes(b"Kaydara FBX Binary")
        load_character(tmp_path / "x.fbx")
    (tmp_path / "bad.bvh").write_text("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0\n")
    with pytest.raises(InputError, match=r"bad\.bvh"):
        load_character(tmp_path / "bad.bvh")
    creature = build_rig("mixamo")
    creature.names = [f"tentacle{k}" for k in range(len(creature.names))]
    with pytest.raises(InputError, match="not a humanoid rig"):
        load_character(write_rig_glb(creature, tmp_path / "creature.glb"))
    # damaged skins: a NaN in an inverse bind matrix, a joint index past the nodes
    import pygltflib

    source = write_rig_glb(build_rig("mixamo"), tmp_path / "good.glb")
    gltf = pygltflib.GLTF2().load_binary(str(source))
    blob = bytearray(gltf.binary_blob())
    view = gltf.bufferViews[gltf.accessors[gltf.skins[0].inverseBindMatrices].bufferView]
    blob[view.byteOffset:view.byteOffset + 4] = np.float32(np.nan).tobytes()
    gltf.set_binary_blob(bytes(blob))
    (tmp_path / "nan.glb").write_bytes(b"".join(gltf.save_to_bytes()))
    with pytest.raises(InputError, match=r"nan\.glb: an inverse bind matrix is not finite"):
        load_character(tmp_path / "nan.glb")
    gltf = pygltflib.GLTF2().load_binary(str(source))
    gltf.skins[0].joints[3] = 999
    (tmp_path / "oob.glb").write_bytes(b"".join(gltf.save_to_bytes()))
    with pytest.raises(InputError, match=r"oob\.glb: malformed glTF"):
        load_character(tmp_path / "oob.glb")
    # a file cut short (a failed copy) whose first views are whole: read, and written on, before
    (tmp_path / "cut.glb").write_bytes(source.read_bytes()[:-64])
    with pytest.raises(InputError, match=r"cut\.glb: its binary data holds \d+ bytes but its buffer declares"):
        load_character(tmp_path / "cut.glb")
    # a .gltf without its .bin: pygltflib warned three times and left nothing to read
    gltf = pygltflib.GLTF2().load_binary(str(source))
    gltf.convert_buffers(pygltflib.BufferFormat.DATAURI)
    gltf.buffers[0].uri = "rig.bin"
    gltf.save_json(str(tmp_path / "nobin.gltf"))
    with pytest.raises(InputError, match=r"nobin\.gltf: its buffer file rig\.bin is missing"):
        load_character(tmp_path / "nobin.gltf")


def test_the_output_is_named_by_what_the_character_file_holds(dance, tmp_path):
    """A VRM named .glb is written as .vrm by `dance --character` (it failed after the whole dance);
    `retarget -o` to the other suffix says what the file holds."""
    from aichoreo.retarget import output_name

    path = write_rig_glb(build_rig("vrm", pose="A", seed=3), tmp_path / "avatar.glb", vrm=True)
    ch = load_character(path)
    assert ch.kind == "vrm1" and output_name(ch) == "avatar_dance.vrm"
    with pytest.raises(InputError, match=r"avatar\.glb holds a VRM character, written as \.vrm"):
        retarget(dance, ch, tmp_path / "out.glb")
    assert not (tmp_path / "out.glb").exists()


def test_cli_retarget_and_dance_with_character(dance_files, tmp_path, capsys):
    from aichoreo.cli import main

    rig = write_rig_glb(build_rig("mixamo", pose="A"), tmp_path / "hero.glb")
    assert main(["retarget", str(dance_files / "dance.pkl"), "--to", str(rig), "-o", str(tmp_path / "a.glb")]) == 0
    assert (tmp_path / "a.glb").is_file()
    assert main(["retarget", str(dance_files / "dance.pkl"), "--to", str(rig), "-o", str(tmp_path / "a.bvh")]) == 1
    assert not (tmp_path / "a.bvh").exists()
    broken = build_rig("mixamo")
    broken.names[broken.names.index("mixamorig:LeftLeg")] = "mixamorig:Shin_L"
    broken_path = write_rig_glb(broken, tmp_path / "broken.glb")
    capsys.readouterr()
    assert main(["retarget", str(dance_files / "dance.pkl"), "--to", str(broken_path), "-o",
                 str(tmp_path / "b.glb")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "broken.glb" in err[0] and "leftLowerLeg" in err[0], err  # one line: file, bone
    assert not (tmp_path / "b.glb").exists()
    assert main(["dance", str(SONG), "-o", str(tmp_path / "out"), "--seconds", "4", "--formats", "aistpp,html",
                 "--character", str(rig)]) == 0
    summary = json.loads((tmp_path / "out" / SONG.stem / "dance.json").read_text())
    assert Path(summary["files"]["character"]).name == "hero_dance.glb"
    assert Path(summary["files"]["character"]).is_file()
    assert summary["options"]["character"] == str(rig)
    assert set(summary["timings_s"]["exports"]) == {"aistpp", "character", "html"}
    page = Path(summary["files"]["html"]).read_text()
    assert 'id="character-data"' in page and 'id="motion-data"' not in page  # the character dances in the page
    # a BVH character has no mesh to show: the page shows the skeleton
    bvh = write_rig_bvh(build_rig("mixamo", random_rest=False), tmp_path / "rig.bvh")
    assert main(["dance", str(SONG), "-o", str(tmp_path / "out2"), "--seconds", "4", "--formats", "html",
                 "--character", str(bvh)]) == 0
    assert 'id="motion-data"' in (tmp_path / "out2" / SONG.stem / "dance.html").read_text()
    assert (tmp_path / "out2" / SONG.stem / "rig_dance.bvh").is_file()


def test_dance_refuses_an_unmappable_character_before_generating(tmp_path):
    import aichoreo

    creature = build_rig("mixamo")
    creature.names = [f"bone{k}" for k in range(len(creature.names))]
    path = write_rig_glb(creature, tmp_path / "creature.glb")
    with pytest.raises(InputError, match="creature.glb"):
        aichoreo.dance(str(SONG), out=tmp_path / "out", formats=("aistpp",), seconds=4, character=str(path),
                       progress=False)
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------ real characters

REAL = {
    "quaternius_ubc_superhero_male.glb": ("unreal", "hand_l"),
    "quaternius_ual_mannequin/AnimationLibrary_Godot_Standard.gltf": ("rigify", "DEF-hand.L"),
    "cryptovoxels.vrm": ("vrm", "Left wrist"),
}


@pytest.mark.parametrize("name", list(REAL))
def test_real_character(name, shared_data, dance):
    path = shared_data / "characters" / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    ch = load_character(path)
    assert ch.scheme == REAL[name][0]
    assert_follows(dance, retarget_motion(dance, ch))


# ------------------------------------------------------------------------------ other tools read it


def _validator() -> Path | None:
    for base in (os.environ.get("AICHOREO_NODE_TOOLS"), ROOT / ".cache" / "tools"):
        if base and (Path(base) / "node_modules" / "gltf-validator").is_dir():
            return Path(base) / "node_modules"
    return None


def _outputs(dance, shared_data_dir, tmp_path) -> list[Path]:
    from aichoreo.export import write_glb

    files = [retarget(dance, write_rig_glb(build_rig("mixamo", pose="A"), tmp_path / "m.glb"), tmp_path / "m_d.glb"),
             retarget(dance, write_rig_glb(build_rig("vrm"), tmp_path / "v.vrm", vrm=True), tmp_path / "v_d.vrm"),
             {"out": write_glb(dance, tmp_path / "dance.glb")}]  # aichoreo's own SMPL export too
    if shared_data_dir is not None:
        for name in REAL:
            src = shared_data_dir / "characters" / name
            if src.is_file():
                files.append(retarget(dance, src, tmp_path / (Path(name).stem + ("_d.vrm" if name.endswith(".vrm")
                                                                                   else "_d.glb"))))
    return [Path(f["out"]) for f in files]


def test_gltf_validator_reports_no_errors(dance, tmp_path):
    from conftest import shared_data_dir

    modules = _validator()
    if modules is None or shutil.which("node") is None:
        pytest.skip("gltf-validator is not installed (scripts/test.sh installs it with npm into .cache/tools)")
    files = _outputs(dance, shared_data_dir(), tmp_path)
    script = ("const v=require('gltf-validator'),fs=require('fs');(async()=>{for(const f of process.argv.slice(1)){"
              "const r=await v.validateBytes(new Uint8Array(fs.readFileSync(f)));"
              "console.log(JSON.stringify({f,errors:r.issues.numErrors,"
              "first:r.issues.messages.filter(m=>m.severity==0).slice(0,3)}))}})()")
    run = subprocess.run(["node", "-e", script, *map(str, files)], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "NODE_PATH": str(modules)})
    assert run.returncode == 0, run.stderr
    reports = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(reports) == len(files)
    assert all(r["errors"] == 0 for r in reports), reports


def _blender(path: Path, bone: str, tmp_path: Path) -> dict:
    out = tmp_path / f"{path.name}.json"
    run = subprocess.run(["blender", "-b", "--factory-startup", "--python", str(TOOLS / "blender_read_back.py"),
                          "--", str(path), bone, str(out)], capture_output=True, text=True, timeout=300)
    assert out.is_file(), run.stdout[-2000:] + run.stderr[-2000:]
    return json.loads(out.read_text())


@pytest.mark.skipif(shutil.which("blender") is None,
                    reason="Blender is not installed (scripts/test.sh installs Debian's blender when run as root)")
def test_blender_reads_the_dance(dance, tmp_path):
    from conftest import shared_data_dir

    cases = [(build_rig("mixamo", pose="A"), "mixamorig:LeftHand", ".glb"),
             (build_rig("unity", facing="-z"), "LeftHand", ".bvh")]
    data = shared_data_dir()
    for rig, bone, suffix in cases:
        if suffix == ".bvh":
            src = write_rig_bvh(build_rig("unity", facing="-z", random_rest=False), tmp_path / "u.bvh")
        else:
            src = write_rig_glb(rig, tmp_path / "m.glb")
        _check_in_blender(dance, src, bone, tmp_path / f"out{suffix}", tmp_path)
    for name, (_, hand) in REAL.items():  # each shared character, where ../shared/data is present
        src = None if data is None else data / "characters" / name
        if src is not None and src.is_file():
            out = tmp_path / (Path(name).stem + ("_d.vrm" if name.endswith(".vrm") else "_d.glb"))
            _check_in_blender(dance, src, hand, out, tmp_path)


def _check_in_blender(dance, src: Path, bone: str, out: Path, tmp_path: Path) -> None:
    ch = load_character(src)
    cm = retarget_motion(dance, ch)
    retarget(dance, ch, out)
    seen = _blender(out, bone, tmp_path)
    assert seen["frames"] == len(dance)
    path = np.asarray(seen["path"])
    # Blender's path of the hand, back in the file's axes, is ours to a tenth of a millimetre.
    np.testing.assert_allclose(path, cm.world_positions[:, ch.index(bone)], atol=1e-4)
