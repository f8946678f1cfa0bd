"""Run inside Blender (``blender -b --factory-startup --python blender_script.py -- RESULT.json``):
install the add-on zip, run both operators, write what came in to RESULT.json.

The inputs come from the environment the test sets: ``VOXFORGE_ADDON_ZIP``, ``VOXFORGE_FOLDER``
(a brickify output folder), ``VOXFORGE_API_URL``, ``VOXFORGE_API_KEY``, ``VOXFORGE_JOB`` (a mesh
job on that service) and ``VOXFORGE_COMMAND`` (how to run voxforge).
"""

import json
import os
import sys

import bpy


def summary(objects):
    meshes = [o for o in objects if o.type == "MESH"]
    materials = sorted({s.material.name for o in meshes for s in o.material_slots if s.material})
    return {
        "objects": len(meshes),
        "names": sorted(o.name for o in meshes)[:5],
        "materials": materials,
        "faces": sum(len(o.data.polygons) for o in meshes),
        "dimensions": [max((o.dimensions[i] for o in meshes), default=0.0) for i in range(3)],
    }


def new_objects(run):
    before = set(bpy.data.objects)
    result = run()
    return result, [o for o in bpy.data.objects if o not in before]


def main():
    out = sys.argv[sys.argv.index("--") + 1]
    env = os.environ
    bpy.ops.preferences.addon_install(filepath=env["VOXFORGE_ADDON_ZIP"], overwrite=True)
    bpy.ops.preferences.addon_enable(module="voxforge_blender")
    report = {"enabled": "voxforge_blender" in bpy.context.preferences.addons}
    bpy.ops.object.select_all(action="SELECT")
    bpy.ops.object.delete()

    status, objs = new_objects(
        lambda: bpy.ops.import_scene.voxforge_job(source="FOLDER", directory=env["VOXFORGE_FOLDER"])
    )
    report["folder"] = {"status": sorted(status), **summary(objs)}

    status, objs = new_objects(
        lambda: bpy.ops.import_scene.voxforge_job(
            source="API",
            api_url=env["VOXFORGE_API_URL"],
            api_key=env["VOXFORGE_API_KEY"],
            job_id=env["VOXFORGE_JOB"],
            level=1,
        )
    )
    report["api"] = {"status": sorted(status), **summary(objs)}

    try:
        bpy.ops.import_scene.voxforge_job(
            source="API", api_url=env["VOXFORGE_API_URL"], api_key="wrong", job_id=env["VOXFORGE_JOB"]
        )
        report["bad_key"] = "no error"
    except RuntimeError as err:  # operators report errors as RuntimeError in background mode
        report["bad_key"] = str(err)

    bpy.ops.object.select_all(action="DESELECT")
    bpy.ops.mesh.primitive_cube_add(size=0.064, location=(0.0, 0.0, 0.032))
    cube = bpy.context.active_object
    cube.select_set(True)
    status, objs = new_objects(lambda: bpy.ops.object.voxforge_brickify(width_studs=4))
    report["brickify"] = {"status": sorted(status), **summary([o for o in objs if o is not cube])}
    with open(out, "w") as f:
        json.dump(report, f, indent=2)


main()
