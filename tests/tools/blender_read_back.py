"""Run inside Blender: import a retargeted .glb/.vrm or .bvh and write what Blender sees.

    blender -b --factory-startup --python blender_read_back.py -- FILE BONE OUT.json

Writes ``{"frames": N, "fps": F, "path": [[x, y, z], ...]}``: the action's frame count and the
world position of joint BONE's head at every frame, converted back to glTF/BVH axes (y up).
Blender's importers turn y-up files into its z-up world: (x, y, z) -> (x, -z, y).
"""

import json
import shutil
import sys
import tempfile
from pathlib import Path

import bpy
import numpy

# Debian bookworm's Blender 3.4 glTF importer still calls numpy.bool, which numpy 1.24 (the
# same release's python3-numpy) removed; give it the builtin it meant.
if not hasattr(numpy, "bool"):
    numpy.bool = bool

path, bone, out = sys.argv[sys.argv.index("--") + 1:][:3]
scene = bpy.context.scene
scene.render.fps = 60  # the dance's rate: the glTF importer places keys at time x scene fps
for obj in list(bpy.data.objects):
    bpy.data.objects.remove(obj)
suffix = Path(path).suffix.lower()
if suffix == ".bvh":
    import builtins

    import io_anim_bvh.import_bvh

    # The same Blender's BVH importer opens files with mode "rU", which Python 3.11 refuses.
    io_anim_bvh.import_bvh.open = lambda f, mode="r", *a, **k: builtins.open(f, mode.replace("U", ""), *a, **k)
    bpy.ops.import_anim.bvh(filepath=path, global_scale=1.0, frame_start=0, use_fps_scale=False,
                            update_scene_fps=False, axis_forward="-Z", axis_up="Y")
else:
    tmp = Path(tempfile.mkdtemp()) / "character.glb"  # Blender's importer wants a .glb/.gltf name
    shutil.copy(path, tmp)
    bpy.ops.import_scene.gltf(filepath=str(tmp))
armature = next(o for o in bpy.data.objects if o.type == "ARMATURE")
if suffix != ".bvh":
    action = next(a for a in bpy.data.actions if a.name.startswith("dance"))
    armature.animation_data.action = action
else:
    action = armature.animation_data.action
first, last = (int(round(v)) for v in action.frame_range)
points = []
for frame in range(first, last + 1):
    scene.frame_set(frame)
    p = armature.matrix_world @ armature.pose.bones[bone].head
    points.append([p.x, p.z, -p.y])
Path(out).write_text(json.dumps({"frames": last - first + 1, "fps": scene.render.fps, "path": points}))
