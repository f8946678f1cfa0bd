"""Real clients that check exported meshes: the Khronos glTF validator, usdchecker, Blender, assimp.

Each check runs the other program (headless) on a written file and returns a
:class:`ClientReport`; a client that is not installed gives ``None`` so callers can skip. The tests
(``make test-exports``) and ``benchmarks/bench_exports.py`` use these; nothing here runs at export
time.

* glTF/GLB: the npm package ``gltf-validator`` (Khronos) under node; found through
  ``$VOXFORGE_GLTF_VALIDATOR`` or the checkout's ``.ci/node/node_modules`` (``make
  gltf-validator``). Errors fail; warnings and infos are reported.
* USD/USDZ: ``usdchecker`` when it is on PATH; otherwise the same run through usd-core's Python
  bindings, as ``usdchecker --useNewValidationFramework`` does it: every registered
  ``UsdValidation`` validator, the ``UsdzValidators`` only with ``arkit``, the root-package
  validator left out. ``arkit`` also applies AR Quick Look's package rules (a ``.usdc`` root layer
  first, only usdc/usda/png/jpg members, a single layer, UsdPreviewSurface shaders only).
* Blender (Debian's ``blender``, background mode) re-imports OBJ, STL, PLY, glTF and FBX and reports
  vertices, faces and world bounds in Blender's z-up metres; assimp (``assimp info -r``) does the same
  for every format it reads (OFF too), in the file's own axes and units.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

TIMEOUT_S = 300.0


@dataclass
class ClientReport:
    """What one client said about one file."""

    client: str
    ok: bool
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    vertices: int | None = None
    faces: int | None = None
    bounds: np.ndarray | None = None  # (2, 3) min/max corners

    def summary(self) -> str:
        state = "ok" if self.ok else "FAILED"
        extra = f" ({'; '.join(self.errors[:3])})" if self.errors else ""
        return f"{self.client}: {state}{extra}"


def _env() -> dict[str, str]:
    """The environment without Python variables, so other programs' Pythons are their own."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}


def _run(cmd: list[str], timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env())


# --- glTF validator --------------------------------------------------------------------------

_GLTF_JS = """
const fs = require('fs');
const validator = require(process.argv[1]);
const file = process.argv[2];
validator.validateBytes(new Uint8Array(fs.readFileSync(file)), {maxIssues: 200,
  externalResourceFunction: (uri) => Promise.reject('external resources are not used')})
  .then((r) => { console.log(JSON.stringify(r)); })
  .catch((e) => { console.error(String(e)); process.exit(2); });
"""


def gltf_validator() -> Path | None:
    """The ``gltf-validator`` package folder, or None when it (or node) is missing."""
    if shutil.which("node") is None:
        return None
    candidates = []
    if os.environ.get("VOXFORGE_GLTF_VALIDATOR"):
        candidates.append(Path(os.environ["VOXFORGE_GLTF_VALIDATOR"]))
    root = Path(__file__).resolve().parents[3]
    candidates.append(root / ".ci" / "node" / "node_modules" / "gltf-validator")
    for c in candidates:
        if (c / "package.json").exists():
            return c
    return None


def validate_gltf(path: str | Path) -> ClientReport | None:
    """The Khronos glTF validator's verdict on a .glb/.gltf (None without the validator)."""
    pkg = gltf_validator()
    if pkg is None:
        return None
    run = _run(["node", "-e", _GLTF_JS, str(pkg), str(path)])
    if run.returncode != 0:
        return ClientReport("gltf-validator", False, [run.stderr.strip()[:300] or "validator failed"])
    report = json.loads(run.stdout)
    messages = report.get("issues", {}).get("messages", [])
    errors = [
        f"{m['code']}: {m['message']} ({m.get('pointer', '')})" for m in messages if m["severity"] == 0
    ]
    warnings = [f"{m['code']}: {m['message']}" for m in messages if m["severity"] == 1]
    info = report.get("info", {})
    return ClientReport(
        "gltf-validator",
        not errors and report["issues"]["numErrors"] == 0,
        errors,
        warnings,
        vertices=info.get("totalVertexCount"),
        faces=info.get("totalTriangleCount"),
    )


# --- usdchecker ------------------------------------------------------------------------------

ARKIT_MEMBER_SUFFIXES = (".usdc", ".usda", ".usd", ".png", ".jpg", ".jpeg")
ARKIT_SHADER_IDS = (
    "UsdPreviewSurface",
    "UsdUVTexture",
    "UsdTransform2d",
    *(f"UsdPrimvarReader_{t}" for t in ("float", "float2", "float3", "float4", "int", "string")),
    *(f"UsdPrimvarReader_{t}" for t in ("normal", "point", "vector", "matrix")),
)


def _arkit_rules(path: Path) -> list[str]:
    """AR Quick Look's package rules for a .usdz (what ``usdchecker --arkit`` checks)."""
    from pxr import Usd, UsdShade

    errors = []
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
    if not infos or not infos[0].filename.lower().endswith(".usdc"):
        errors.append(f"root layer {infos[0].filename if infos else '(none)'} is not a .usdc")
    layers = [i for i in infos if i.filename.lower().endswith((".usdc", ".usda", ".usd"))]
    if len(layers) > 1:
        errors.append(f"{len(layers)} layers in the package; AR Quick Look wants one")
    for i in infos:
        if not i.filename.lower().endswith(ARKIT_MEMBER_SUFFIXES):
            errors.append(f"member {i.filename} is not a type AR Quick Look reads")
        if i.compress_type != zipfile.ZIP_STORED:
            errors.append(f"member {i.filename} is compressed")
    try:
        stage = Usd.Stage.Open(str(path))
    except Exception:  # reported by the validators' run
        return errors
    for prim in stage.Traverse():
        if prim.IsA(UsdShade.Shader):
            sid = UsdShade.Shader(prim).GetIdAttr().Get()
            if sid not in ARKIT_SHADER_IDS:
                errors.append(f"shader {prim.GetPath()} has id {sid}, not one AR Quick Look renders")
    return errors


def check_usd(path: str | Path, *, arkit: bool = False) -> ClientReport | None:
    """``usdchecker [--arkit]`` on a USD file or package (see module doc; None without pxr)."""
    path = Path(path)
    exe = shutil.which("usdchecker")
    if exe is not None:
        run = _run([exe, *(["--arkit"] if arkit else []), str(path)])
        lines = (run.stdout + run.stderr).strip().splitlines()
        return ClientReport(
            "usdchecker", run.returncode == 0, [] if run.returncode == 0 else lines[-10:]
        )
    try:
        from pxr import Usd, UsdValidation
    except ImportError:
        return None
    name = "usdchecker --arkit (usd-core validators)" if arkit else "usdchecker (usd-core validators)"
    try:
        stage = Usd.Stage.Open(str(path))
    except Exception as e:  # pxr raises Tf errors for unreadable layers and packages
        lines = [ln.strip() for ln in str(e).strip().splitlines() if ln.strip()]
        return ClientReport(name, False, [f"stage does not open: {lines[0][:200] if lines else e}"])
    if stage is None:
        return ClientReport(name, False, ["stage does not open"])
    registry = UsdValidation.ValidationRegistry()
    metadata = [
        m
        for m in registry.GetAllValidatorMetadata()
        if (arkit or "UsdzValidators" not in m.GetKeywords())
        and not m.name.endswith(":RootPackageValidator")
    ]
    validators = registry.GetOrLoadValidatorsByName([m.name for m in metadata])
    context = UsdValidation.ValidationContext(validators)
    errors, warnings = [], []
    for e in context.Validate(stage):
        kind = e.GetType()
        if kind == UsdValidation.ValidationErrorType.Error:
            errors.append(e.GetErrorAsString())
        elif kind == UsdValidation.ValidationErrorType.Warn:
            warnings.append(e.GetErrorAsString())
    if arkit and path.suffix.lower() == ".usdz":
        errors += _arkit_rules(path)
    return ClientReport(name, not errors, errors, warnings)


# --- assimp ----------------------------------------------------------------------------------


def assimp_info(path: str | Path) -> ClientReport | None:
    """``assimp info -r`` (a raw import): vertex and face counts and bounds (None without assimp)."""
    if shutil.which("assimp") is None:
        return None
    run = _run(["assimp", "info", str(path), "-r"])
    out = run.stdout + run.stderr
    stats: dict[str, str] = {}
    for line in out.splitlines():
        if ":" in line and not line.startswith(" "):
            k, _, v = line.partition(":")
            stats.setdefault(k.strip(), v.strip())
        elif line.startswith(("Minimum point", "Maximum point")):
            stats[line[:13]] = line[13:].strip()
    if run.returncode != 0 or "Faces" not in stats:
        tail = [ln for ln in out.splitlines() if "ERROR" in ln or "Unable" in ln] or out.splitlines()[
            -2:
        ]
        return ClientReport("assimp", False, tail[:3])

    def point(key: str) -> list[float]:
        return [float(x) for x in stats[key].strip("()").split()]

    return ClientReport(
        "assimp",
        True,
        vertices=int(stats["Vertices"]),
        faces=int(stats["Faces"]),
        bounds=np.array([point("Minimum point"), point("Maximum point")]),
    )


# --- Blender ---------------------------------------------------------------------------------

BLENDER_IMPORTERS = {
    ".obj": "bpy.ops.wm.obj_import(filepath=f)",
    ".stl": "bpy.ops.import_mesh.stl(filepath=f)",
    ".ply": "bpy.ops.import_mesh.ply(filepath=f)",
    ".glb": "bpy.ops.import_scene.gltf(filepath=f)",
    ".gltf": "bpy.ops.import_scene.gltf(filepath=f)",
    ".fbx": "bpy.ops.import_scene.fbx(filepath=f)",
}
"""What Debian's Blender 3.4 imports (it has no 3MF or USD importer of its own in this build)."""

_BLENDER_IMPORT = """
import bpy, json, sys
import numpy
if not hasattr(numpy, 'bool'):
    numpy.bool = bool
files = sys.argv[sys.argv.index('--') + 1:]
ops = json.loads(files.pop(0))
out = {}
for f in files:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    try:
        eval(ops[f[f.rfind('.'):].lower()])
    except Exception as e:
        out[f] = {'error': str(e).strip().splitlines()[-1][:200]}
        continue
    v = f_ = 0
    lo, hi = [1e30] * 3, [-1e30] * 3
    bpy.context.view_layer.update()
    for ob in bpy.context.scene.objects:
        if ob.type != 'MESH':
            continue
        me = ob.data
        v += len(me.vertices)
        f_ += sum(len(p.vertices) - 2 for p in me.polygons)
        mw = ob.matrix_world
        for vert in me.vertices:
            w = mw @ vert.co
            for k in range(3):
                lo[k] = min(lo[k], w[k]); hi[k] = max(hi[k], w[k])
    out[f] = {'vertices': v, 'faces': f_, 'bounds': [lo, hi]}
print('VOXFORGE_JSON ' + json.dumps(out))
"""


def blender_import(paths: list[str | Path]) -> dict[str, ClientReport] | None:
    """Re-import each file in Blender (one background run for all); None without Blender.

    Counts are triangles (polygons fanned) and vertices of every mesh object; bounds are world
    coordinates in Blender's z-up frame (its importers convert Y-up files and FBX units)."""
    if shutil.which("blender") is None:
        return None
    files = [str(p) for p in paths if Path(p).suffix.lower() in BLENDER_IMPORTERS]
    if not files:
        return {}
    run = _run(
        [
            "blender",
            "-b",
            "--factory-startup",
            "-noaudio",
            "--python-exit-code",
            "1",
            "--python-expr",
            _BLENDER_IMPORT,
            "--",
            json.dumps(BLENDER_IMPORTERS),
            *files,
        ],
        timeout=TIMEOUT_S + 30 * len(files),
    )
    line = next((ln for ln in run.stdout.splitlines() if ln.startswith("VOXFORGE_JSON ")), None)
    if line is None:
        tail = (run.stderr or run.stdout).strip().splitlines()[-3:]
        return {f: ClientReport("blender", False, tail) for f in files}
    data = json.loads(line[len("VOXFORGE_JSON ") :])
    reports = {}
    for f in files:
        d = data.get(f, {"error": "not imported"})
        if "error" in d or d["faces"] == 0:
            reports[f] = ClientReport("blender", False, [d.get("error", "no mesh imported")])
        else:
            reports[f] = ClientReport(
                "blender", True, vertices=d["vertices"], faces=d["faces"], bounds=np.array(d["bounds"])
            )
    return reports


# --- one exported file against every client that reads it -----------------------------------

Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
"""z-up (x, y, z) -> Y-up (x, z, -y), as the Y-up writers turn it."""
BOUNDS_RTOL = 1e-4
"""Bounds agree when every corner is within this fraction of the bounding diagonal."""


@dataclass
class Expected:
    """What a client should find in a written file: triangles and z-up bounds in metres."""

    faces: int
    bounds_m: np.ndarray  # (2, 3)
    units_scale: float  # metres per file unit for OBJ/STL/PLY/3MF
    proper_faces: int  # triangles with three distinct vertex indices (all 3MF may hold)
    blender_faces: int  # proper triangles without repeats of the same vertex set (Blender's mesh)
    blender_stl_faces: int  # the same after merging coincident corners (Blender's STL importer)

    @classmethod
    def of(cls, vertices: np.ndarray, faces: np.ndarray, units_scale: float) -> Expected:
        f = np.asarray(faces)
        pts = (np.asarray(vertices, dtype=np.float64) / units_scale).astype(np.float32)
        _, merged = np.unique(pts, axis=0, return_inverse=True)
        v = np.asarray(vertices, dtype=np.float64)[np.unique(f)]
        return cls(
            faces=len(f),
            bounds_m=np.array([v.min(axis=0), v.max(axis=0)]),
            units_scale=units_scale,
            proper_faces=int(_proper(f).sum()),
            blender_faces=_distinct_sets(f),
            blender_stl_faces=_distinct_sets(merged.ravel()[f]),
        )


def _proper(f: np.ndarray) -> np.ndarray:
    return (f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])


def _distinct_sets(f: np.ndarray) -> int:
    """Triangles with three distinct corners, counting each corner set once."""
    f = f[_proper(f)]
    return len(np.unique(np.sort(f, axis=1), axis=0))


def _corners(b: np.ndarray) -> np.ndarray:
    return np.array([b.min(axis=0), b.max(axis=0)])


def _expected_bounds(exp: Expected, suffix: str, client: str) -> np.ndarray:
    """The bounds ``client`` reports for a ``suffix`` file (its frame and units)."""
    scaled = suffix in (".obj", ".stl", ".ply", ".3mf", ".off")
    b = exp.bounds_m / (exp.units_scale if scaled else 1.0)
    if client == "assimp" and suffix in (".obj", ".glb", ".gltf", ".fbx"):
        return _corners(b @ Y_UP.T)
    return b


def _judge(report: ClientReport, exp: Expected, suffix: str) -> ClientReport:
    if not report.ok or report.bounds is None:
        return report
    faces = exp.faces
    if report.client == "blender" and suffix == ".obj":  # its OBJ importer keeps repeated sets
        faces = exp.proper_faces
    elif report.client == "blender" or suffix == ".fbx":  # Blender wrote the FBX
        faces = exp.blender_stl_faces if suffix == ".stl" else exp.blender_faces
    elif suffix == ".3mf":
        faces = exp.proper_faces
    if report.faces != faces:
        report.ok = False
        report.errors.append(f"{report.faces} triangles, expected {faces}")
    want = _expected_bounds(exp, suffix, report.client)
    tol = BOUNDS_RTOL * float(np.linalg.norm(want[1] - want[0])) + 1e-6
    if np.abs(report.bounds - want).max() > tol:
        report.ok = False
        report.errors.append(
            f"bounds {np.round(report.bounds, 5).tolist()}, expected {np.round(want, 5).tolist()}"
        )
    return report


def verify_exports(files: dict[str, Expected]) -> dict[str, list[ClientReport]]:
    """Every installed client's report on each written file (one Blender run for all of them).

    glTF: the Khronos validator (no errors); USD: usdchecker (``--arkit`` for USDZ); OBJ, STL, PLY,
    glTF, FBX: Blender's re-import; OBJ, STL, PLY, glTF, 3MF, FBX, OFF: assimp's. Re-imports pass when
    the triangle count and the bounds match. Blender's importers other than OBJ drop degenerate
    triangles and repeats of one vertex set (its STL importer after merging coincident corners),
    and Blender writes the FBX, so those counts are expected there; 3MF holds no triangle that
    repeats a vertex."""
    out: dict[str, list[ClientReport]] = {f: [] for f in files}
    blender = blender_import(list(files)) or {}
    for f, exp in files.items():
        suffix = Path(f).suffix.lower()
        if suffix in (".glb", ".gltf"):
            r = validate_gltf(f)
            if r is not None:
                out[f].append(r)
        if suffix in (".usd", ".usda", ".usdc", ".usdz"):
            r = check_usd(f, arkit=suffix == ".usdz")
            if r is not None:
                out[f].append(r)
        if f in blender:
            out[f].append(_judge(blender[f], exp, suffix))
        if suffix in (".obj", ".stl", ".ply", ".glb", ".gltf", ".3mf", ".fbx", ".off"):
            r = assimp_info(f)
            if r is not None:
                out[f].append(_judge(r, exp, suffix))
    return out
