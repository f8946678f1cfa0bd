"""LAS 1.2-1.4 and LAZ point clouds through laspy (LAZ decoded by lazrs).

Coordinates come out scaled and offset by laspy. Units come from the header's coordinate system
(GeoTIFF keys or WKT): feet are converted to metres, and geographic coordinates (degrees) are
projected to local metres with an equirectangular projection about the centroid, which is exact
enough over the few hundred metres a scan covers. A file without a coordinate system whose x/y
fit longitude/latitude ranges with a tiny extent (< 0.1 degree) is also taken as degrees.
"""

from __future__ import annotations

import io
import logging
import re
import struct
from typing import Any

import numpy as np

from voxforge.core.pointcloud import PointCloud
from voxforge.io._base import UNIT_SCALES, FormatSpec, Source, normalize_units

EARTH_RADIUS_M = 6_371_008.8
"""Mean Earth radius (IUGG), metres, for the local equirectangular projection."""

LINEAR_UNIT_CODES = {9001: "m", 9002: "ft", 9003: "us-ft", 9036: "m"}
"""EPSG unit codes used by GeoTIFF keys ProjLinearUnits (3076) and VerticalUnits (4099)."""
GT_MODEL_TYPE, PROJ_LINEAR_UNITS, VERTICAL_UNITS = 1024, 3076, 4099
MODEL_TYPE_GEOGRAPHIC = 2
DEGREE_EXTENT_LIMIT = 0.1
PUBLIC_HEADER_MIN = 227  # LAS 1.0-1.2 public header block; 1.3 and 1.4 are longer
VLR_HEADER_SIZE = 54
MAX_LAZ_RATIO = 1000  # LAZ compresses ~10x; a header claiming 1000x more is corrupt


log = logging.getLogger(__name__)


def sniff_las(head: bytes, size: int) -> bool:
    return head.startswith(b"LASF")


def check_las_header(src: Source, data: bytes) -> None:
    """Check the public header's counts against the file size before laspy trusts them.

    A corrupt VLR or point count would otherwise make laspy loop over millions of phantom
    records or allocate for them.
    """
    if len(data) < PUBLIC_HEADER_MIN:
        raise src.error(
            f"LAS file is {len(data)} bytes, shorter than its {PUBLIC_HEADER_MIN}-byte header"
        )
    header_size, offset, n_vlrs = struct.unpack_from("<HII", data, 94)
    point_format, record_length, legacy_count = struct.unpack_from("<BHI", data, 104)
    if header_size < PUBLIC_HEADER_MIN or not header_size <= offset <= len(data):
        raise src.error(
            f"LAS header says points start at byte {offset} (header {header_size} bytes), "
            f"file holds {len(data)} bytes"
        )
    if n_vlrs * VLR_HEADER_SIZE > offset - header_size:
        raise src.error(
            f"LAS header says {n_vlrs} VLRs, which do not fit in the {offset - header_size} bytes "
            "before the points"
        )
    count = legacy_count
    if data[25] >= 4 and len(data) >= 255:
        count = struct.unpack_from("<Q", data, 247)[0] or legacy_count
    need = count * record_length
    compressed = bool(point_format & 0xC0)
    if compressed and need > MAX_LAZ_RATIO * len(data):
        raise src.error(f"LAZ header says {count} points, far more than {len(data)} bytes can hold")
    if not compressed and offset + need > len(data):
        have = (len(data) - offset) // max(record_length, 1)
        raise src.error(f"LAS header says {count} points ({need} bytes), file holds {have}")


def read_las_points(src: Source, *, units: str | None = None, **_: Any) -> PointCloud:
    """Read LAS/LAZ: xyz in metres (see module doc), RGB (8- or 16-bit, detected by max > 255).

    ``units`` overrides what the header says (no degree projection then).
    """
    units = normalize_units(units)
    try:
        import laspy
    except ImportError:  # pragma: no cover - laspy is a dependency
        raise src.error("reading LAS/LAZ needs laspy: pip install 'laspy[lazrs]'") from None
    data = src.data()
    check_las_header(src, data)
    try:
        las = laspy.read(io.BytesIO(data))
        xyz = np.stack([np.asarray(las.x), np.asarray(las.y), np.asarray(las.z)], axis=1)
        names = set(las.point_format.dimension_names)
        raw_rgb = (
            np.stack([np.asarray(las[c]) for c in ("red", "green", "blue")], axis=1)
            if {"red", "green", "blue"} <= names
            else None
        )
        header = las.header
        version = f"{header.version.major}.{header.version.minor}"
        compressed = bool(header.are_points_compressed)
        crs = _crs_info(header)
    except Exception as e:  # laspy/lazrs raise many types for corrupt input
        if isinstance(e, MemoryError):
            raise src.error("LAS header asks for more memory than available") from None
        raise src.error(f"not a readable LAS/LAZ file ({type(e).__name__}: {_first_line(e)})") from None
    rgb, bits = None, None
    if raw_rgb is not None and len(raw_rgb):
        bits = 16 if int(raw_rgb.max()) > 255 else 8
        rgb = (raw_rgb.astype(np.float32) / np.float32((1 << bits) - 1)).clip(0.0, 1.0)
    meta: dict[str, Any] = {
        "format": "laz" if compressed else "las",
        "las_version": version,
        "rgb_bits": bits,
    }
    if units is not None:
        crs.update(source="argument", geographic=False, linear_unit=units, vertical_unit=units)
    geographic = crs["geographic"] or (crs["source"] == "none" and _looks_like_degrees(xyz))
    if geographic and len(xyz) and not _in_degree_range(xyz):
        # A header that says "geographic" over values no longer/latitude can take (simple1_4.las)
        # is mislabelled; projecting them would blow the cloud up to thousands of kilometres.
        log.warning("LAS header says geographic but coordinates are not degrees; reading as metres")
        meta["crs_warning"] = "header says geographic, values are not degrees; read as metres"
        geographic = False
    if geographic and len(xyz):
        xyz, origin = project_degrees(xyz)
        meta.update(crs="geographic", projection="equirectangular", origin_lonlat=origin)
        horizontal = "deg"
    else:
        horizontal = crs["linear_unit"]
        xyz[:, :2] *= UNIT_SCALES[horizontal]
    vertical = crs["vertical_unit"] or ("m" if horizontal == "deg" else horizontal)
    xyz[:, 2] *= UNIT_SCALES[vertical]
    meta.update(
        units=horizontal,
        vertical_units=vertical,
        units_guessed=crs["source"] == "none",
        crs_source=crs["source"],
    )
    return PointCloud(xyz=xyz, rgb=rgb, meta=meta)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else ""


def _crs_info(header: Any) -> dict[str, Any]:
    """What the header says about the coordinate system: geographic?, linear and vertical units."""
    info: dict[str, Any] = {"geographic": False, "linear_unit": "m", "vertical_unit": None}
    info["source"] = "none"
    for vlr in header.vlrs:
        keys = getattr(vlr, "geo_keys", None)
        if keys:
            info["source"] = "geotiff"
            for k in keys:
                if k.id == GT_MODEL_TYPE and k.value_offset == MODEL_TYPE_GEOGRAPHIC:
                    info["geographic"] = True
                elif k.id == PROJ_LINEAR_UNITS and k.tiff_tag_location == 0:
                    info["linear_unit"] = LINEAR_UNIT_CODES.get(int(k.value_offset), "m")
                elif k.id == VERTICAL_UNITS and k.tiff_tag_location == 0:
                    info["vertical_unit"] = LINEAR_UNIT_CODES.get(int(k.value_offset))
        wkt = getattr(vlr, "string", None)
        if isinstance(wkt, bytes):
            wkt = wkt.decode("latin-1", "replace")
        if isinstance(wkt, str) and wkt.strip():
            info["source"] = "wkt"
            info.update(_wkt_info(wkt))
    return info


def _wkt_info(wkt: str) -> dict[str, Any]:
    """Geographic flag and linear unit from a WKT1/WKT2 string (no pyproj needed)."""
    head = wkt.lstrip().upper()
    geographic = head.startswith(("GEOGCS", "GEOGCRS", "GEODCRS", "GEOGRAPHICCRS"))
    unit = "m"
    for name, factor in re.findall(r'(?:LENGTH)?UNIT\["([^"]*)"\s*,\s*([0-9.eE+-]+)', wkt):
        if name.lower() in ("degree", "radian", "grad", "unity"):
            continue
        f = float(factor)
        unit = min(UNIT_SCALES, key=lambda u: abs(UNIT_SCALES[u] - f))
    return {"geographic": geographic, "linear_unit": unit}


def _in_degree_range(xyz: np.ndarray) -> bool:
    lo, hi = xyz[:, :2].min(axis=0), xyz[:, :2].max(axis=0)
    return bool(lo[0] >= -180 and hi[0] <= 180 and lo[1] >= -90 and hi[1] <= 90)


def _looks_like_degrees(xyz: np.ndarray) -> bool:
    if not len(xyz):
        return False
    lo, hi = xyz[:, :2].min(axis=0), xyz[:, :2].max(axis=0)
    return bool(_in_degree_range(xyz) and (hi - lo).max() < DEGREE_EXTENT_LIMIT)


def project_degrees(xyz: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """(n, 3) lon/lat degrees + z -> local metres about the centroid (equirectangular).

    Returns the projected copy and the ``[lon0, lat0]`` centre.
    """
    lon0, lat0 = (float(v) for v in xyz[:, :2].mean(axis=0))
    out = xyz.astype(np.float64, copy=True)
    k = np.pi / 180.0 * EARTH_RADIUS_M
    out[:, 0] = (xyz[:, 0] - lon0) * k * np.cos(np.radians(lat0))
    out[:, 1] = (xyz[:, 1] - lat0) * k
    return out, [lon0, lat0]


FORMATS = (
    FormatSpec(
        name="las",
        kinds=("points",),
        extensions=(".las", ".laz"),
        description="ASPRS LAS 1.2-1.4 and LAZ (laspy + lazrs); CRS units, degrees projected to metres",
        readers={"points": read_las_points},
        sniff=sniff_las,
    ),
)
