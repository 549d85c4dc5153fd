"""Run inside Blender: render frames of the first glTF animation named "dance*" of a .glb/.vrm.

    blender -b --factory-startup --python blender_render_frames.py -- FILE HIPS FRONT_X FRONT_Z OUTDIR FRAME...

The camera stands 3.8 m in front of the character (FRONT: its facing, x and z in glTF axes) at
chest height and follows the hips bone HIPS; Cycles on the CPU, 16 samples, 260 x 360 px.
Writes OUTDIR/frame_<FRAME>.png. Used by scripts/character_frames.py.
"""

import math
import shutil
import sys
import tempfile
from pathlib import Path

import bpy
import numpy
from mathutils import Vector

if not hasattr(numpy, "bool"):  # Debian's Blender 3.4 glTF importer still calls numpy.bool
    numpy.bool = bool

args = sys.argv[sys.argv.index("--") + 1:]
path, hips, fx, fz, outdir = args[0], args[1], float(args[2]), float(args[3]), Path(args[4])
frames = [int(f) for f in args[5:]]
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.render.fps = 60
tmp = Path(tempfile.mkdtemp()) / "character.glb"
shutil.copy(path, tmp)
bpy.ops.import_scene.gltf(filepath=str(tmp))
armature = next(o for o in bpy.data.objects if o.type == "ARMATURE")
armature.animation_data.action = next(a for a in bpy.data.actions if a.name.startswith("dance"))

camera = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
camera.data.lens = 50
scene.collection.objects.link(camera)
scene.camera = camera
sun = bpy.data.objects.new("sun", bpy.data.lights.new("sun", "SUN"))
sun.data.energy = 3.0
sun.rotation_euler = (math.radians(50), 0, math.radians(30))
scene.collection.objects.link(sun)
bpy.ops.mesh.primitive_plane_add(size=40)
floor = bpy.context.object
material = bpy.data.materials.new("floor")
material.diffuse_color = (0.55, 0.55, 0.55, 1)
floor.data.materials.append(material)
world = bpy.data.worlds.new("world")
world.color = (0.75, 0.75, 0.78)
scene.world = world
scene.render.engine = "CYCLES"
scene.cycles.device = "CPU"
scene.cycles.samples = 16
scene.cycles.use_denoising = False  # Debian's build has no OpenImageDenoise
scene.render.resolution_x, scene.render.resolution_y = 260, 360
front = Vector((fx, -fz, 0.0)).normalized()  # glTF (x, y, z) is Blender (x, -z, y)
for frame in frames:
    scene.frame_set(frame)
    target = armature.matrix_world @ armature.pose.bones[hips].head
    target = Vector((target.x, target.y, 1.0))
    camera.location = target + front * 3.8 + Vector((0, 0, 0.1))
    camera.rotation_euler = (target - camera.location).to_track_quat("-Z", "Y").to_euler()
    scene.render.filepath = str(outdir / f"frame_{frame}.png")
    bpy.ops.render.render(write_still=True)
