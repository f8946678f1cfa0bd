"""voxforge for Blender: import a finished voxforge job, and brickify the selected object.

Two operators:

* **Import voxforge job** (File > Import): from a local output folder, or from the voxforge
  REST service (its URL, the user's API key and the job id). A brick model (``model.mpd``) comes
  in with one object per part and one material per LEGO colour (``voxforge mesh parts`` makes
  that GLB); a mesh job comes in as its chosen level of detail (``lod<i>.glb``) or ``mesh.glb``;
  anything else as ``model.glb``.
* **Brickify selected object** (Object menu): exports the selected meshes to a temporary OBJ,
  runs ``voxforge brickify`` on it, and imports the LEGO model the same way.

The voxforge command comes from the add-on preferences (default: the ``VOXFORGE_COMMAND``
environment variable, else ``voxforge`` on the PATH); it runs as a subprocess, so Blender's own
Python needs none of voxforge's dependencies.
"""

import json
import os
import shlex
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import bpy
from bpy.props import EnumProperty, IntProperty, StringProperty
from bpy.types import AddonPreferences, Operator

bl_info = {
    "name": "voxforge",
    "author": "voxforge",
    "version": (0, 1, 0),
    "blender": (3, 3, 0),
    "location": "File > Import > voxforge job; Object > Brickify selected object",
    "description": "Import voxforge jobs (LEGO models part by part, meshes with levels of detail) "
    "and brickify the selected object",
    "category": "Import-Export",
}

MESH_FILES = ("mesh.glb", "model.glb")
"""What to import when a job has neither a brick model nor levels of detail, in this order."""
DOWNLOADS = ("model.mpd", "mesh.glb", "model.glb", "report.json")
"""Artifacts fetched from the service (plus the chosen ``lod<i>.glb``)."""


class VoxforgeError(Exception):
    """A problem to report to the user in one line."""


def _prefs(context: bpy.types.Context) -> AddonPreferences | None:
    addon = context.preferences.addons.get(__name__)
    return addon.preferences if addon else None


def voxforge_command(context: bpy.types.Context) -> list[str]:
    prefs = _prefs(context)
    text = (prefs.voxforge_command if prefs else "") or os.environ.get("VOXFORGE_COMMAND", "voxforge")
    return shlex.split(text)


def run_voxforge(context: bpy.types.Context, *args: str) -> str:
    """Run ``voxforge ARGS``; its output, or :class:`VoxforgeError` with its error line."""
    cmd = [*voxforge_command(context), *args]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
    except FileNotFoundError:
        raise VoxforgeError(
            f"voxforge command not found: {cmd[0]} (set it in the add-on preferences)"
        ) from None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise VoxforgeError(lines[-1] if lines else f"voxforge exited with {done.returncode}")
    return done.stdout


def _numpy_bool_alias() -> None:
    """Blender 3.4's glTF importer calls ``np.bool``, which NumPy 1.24 removed; Blender builds
    that run on the system NumPy (Debian's) fail on every mesh with normals without this alias."""
    import numpy as np

    if "bool" not in np.__dict__:
        np.bool = np.bool_


def import_glb(path: Path, collection_name: str) -> list[bpy.types.Object]:
    """Import a GLB into a new collection; the objects it made."""
    _numpy_bool_alias()
    before = set(bpy.data.objects)
    bpy.ops.import_scene.gltf(filepath=str(path))
    new = [o for o in bpy.data.objects if o not in before]
    collection = bpy.data.collections.new(collection_name)
    bpy.context.scene.collection.children.link(collection)
    for obj in new:
        for old in list(obj.users_collection):
            old.objects.unlink(obj)
        collection.objects.link(obj)
    return new


def import_folder(
    context: bpy.types.Context, folder: Path, level: int, name: str
) -> list[bpy.types.Object]:
    """Import what a job's output folder holds (see the module docstring)."""
    if not folder.is_dir():
        raise VoxforgeError(f"{folder}: not a folder")
    if (folder / "parts.glb").is_file():
        return import_glb(folder / "parts.glb", name)
    if (folder / "model.mpd").is_file():
        out = Path(tempfile.mkdtemp(prefix="voxforge-parts-")) / "parts.glb"
        run_voxforge(context, "mesh", "parts", str(folder / "model.mpd"), "-o", str(out))
        return import_glb(out, name)
    lod = folder / f"lod{level}.glb"
    if lod.is_file():
        return import_glb(lod, f"{name} LOD{level}")
    for candidate in MESH_FILES:
        if (folder / candidate).is_file():
            return import_glb(folder / candidate, name)
    raise VoxforgeError(f"{folder}: no voxforge output there (model.mpd, lod0.glb, mesh.glb, model.glb)")


def fetch_job(url: str, key: str, job_id: str, level: int, dest: Path) -> Path:
    """Download a finished job's artifacts worth importing into ``dest``."""
    base = url.rstrip("/")
    headers = {"Authorization": f"Bearer {key}"}

    def get(path: str) -> bytes:
        req = urllib.request.Request(base + path, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:  # noqa: S310 - the user's own server
                return r.read()
        except urllib.error.HTTPError as err:
            detail = err.read().decode("utf-8", "replace")[:200]
            raise VoxforgeError(f"{base}{path}: HTTP {err.code} {detail}") from None
        except urllib.error.URLError as err:
            raise VoxforgeError(f"{base}: cannot connect ({err.reason})") from None

    job = json.loads(get(f"/v1/jobs/{urllib.parse.quote(job_id)}"))
    if job.get("status") != "succeeded":
        raise VoxforgeError(f"job {job_id} is {job.get('status')}: {job.get('error') or 'not finished'}")
    wanted = {*DOWNLOADS, f"lod{level}.glb"}
    dest.mkdir(parents=True, exist_ok=True)
    for artifact in job.get("artifacts", []):
        if artifact["name"] in wanted:
            (dest / artifact["name"]).write_bytes(get(urllib.parse.urlparse(artifact["url"]).path))
    return dest


class VOXFORGE_OT_import_job(Operator):
    """Import a finished voxforge job from an output folder or the voxforge service"""

    bl_idname = "import_scene.voxforge_job"
    bl_label = "Import voxforge job"
    bl_options = {"REGISTER", "UNDO"}

    source: EnumProperty(
        name="From",
        items=[
            ("FOLDER", "Output folder", "A local voxforge output folder"),
            ("API", "voxforge service", "A job on the voxforge REST service"),
        ],
        default="FOLDER",
    )
    directory: StringProperty(name="Folder", subtype="DIR_PATH")
    job_id: StringProperty(name="Job id")
    api_url: StringProperty(name="Service URL", description="Default: the add-on preferences")
    api_key: StringProperty(name="API key", subtype="PASSWORD", description="Default: the preferences")
    level: IntProperty(name="Level of detail", default=0, min=0, max=12)

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            objects = self._import(context)
        except VoxforgeError as err:
            self.report({"ERROR"}, str(err))
            return {"CANCELLED"}
        self.report({"INFO"}, f"voxforge: imported {len(objects)} object(s)")
        return {"FINISHED"}

    def _import(self, context: bpy.types.Context) -> list[bpy.types.Object]:
        if self.source == "FOLDER":
            folder = Path(bpy.path.abspath(self.directory))
            return import_folder(context, folder, self.level, f"voxforge {folder.name}")
        prefs = _prefs(context)
        url = self.api_url or (prefs.api_url if prefs else "")
        key = self.api_key or (prefs.api_key if prefs else "")
        if not (url and key and self.job_id):
            raise VoxforgeError("the service URL, the API key and the job id are all needed")
        folder = fetch_job(
            url, key, self.job_id, self.level, Path(tempfile.mkdtemp(prefix="voxforge-job-"))
        )
        return import_folder(context, folder, self.level, f"voxforge {self.job_id}")

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        return context.window_manager.invoke_props_dialog(self)


class VOXFORGE_OT_brickify_selected(Operator):
    """Turn the selected object into a LEGO model with voxforge (one object per part)"""

    bl_idname = "object.voxforge_brickify"
    bl_label = "Brickify selected object"
    bl_options = {"REGISTER", "UNDO"}

    width_studs: IntProperty(name="Width (studs)", default=16, min=2, max=200)

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return any(o.type == "MESH" for o in context.selected_objects)

    def execute(self, context: bpy.types.Context) -> set[str]:
        work = Path(tempfile.mkdtemp(prefix="voxforge-brickify-"))
        source = work / "selection.obj"
        names = [o.name for o in context.selected_objects if o.type == "MESH"]
        try:
            bpy.ops.wm.obj_export(
                filepath=str(source), export_selected_objects=True, export_materials=False
            )
            run_voxforge(
                context,
                "brickify",
                str(source),
                "-o",
                str(work / "out"),
                "--width-studs",
                str(self.width_studs),
                "--instructions",
                "none",
                "--units",
                "m",
            )
            objects = import_folder(context, work / "out", 0, f"voxforge bricks {names[0]}")
        except VoxforgeError as err:
            self.report({"ERROR"}, str(err))
            return {"CANCELLED"}
        self.report({"INFO"}, f"voxforge: {len(objects)} parts")
        return {"FINISHED"}

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        return context.window_manager.invoke_props_dialog(self)


class VoxforgePreferences(AddonPreferences):
    bl_idname = __name__

    voxforge_command: StringProperty(
        name="voxforge command",
        description="How to run voxforge, e.g. 'voxforge' or '/path/to/python -m voxforge'",
        default=os.environ.get("VOXFORGE_COMMAND", "voxforge"),
    )
    api_url: StringProperty(name="Service URL", default="http://127.0.0.1:8000")
    api_key: StringProperty(name="API key", subtype="PASSWORD")

    def draw(self, context: bpy.types.Context) -> None:
        for prop in ("voxforge_command", "api_url", "api_key"):
            self.layout.prop(self, prop)


def _menu_import(self: bpy.types.Menu, context: bpy.types.Context) -> None:
    self.layout.operator(VOXFORGE_OT_import_job.bl_idname, text="voxforge job")


def _menu_object(self: bpy.types.Menu, context: bpy.types.Context) -> None:
    self.layout.operator(VOXFORGE_OT_brickify_selected.bl_idname)


CLASSES = (VoxforgePreferences, VOXFORGE_OT_import_job, VOXFORGE_OT_brickify_selected)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.TOPBAR_MT_file_import.append(_menu_import)
    bpy.types.VIEW3D_MT_object.append(_menu_object)


def unregister() -> None:
    bpy.types.VIEW3D_MT_object.remove(_menu_object)
    bpy.types.TOPBAR_MT_file_import.remove(_menu_import)
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
