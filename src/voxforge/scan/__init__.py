"""voxforge.scan stage: clean a captured scan down to one object standing on z = 0.

``clean_scan`` runs the whole clean-up (down-sample, outliers, table plane, clustering); the
stage functions are exported for callers that need one step. The simulated phone scanner and
depth-frame fusion live in ``voxforge.scan.sim`` and ``voxforge.scan.fuse``; phone captures are
opened through io and fused into a cloud or mesh by ``voxforge.scan.capture``.
"""

from voxforge.scan.clean import (
    CleanConfig,
    CleanReport,
    clean_scan,
    drop_nonfinite,
    remove_outliers,
    voxel_downsample,
)
from voxforge.scan.cluster import (
    ClusterSummary,
    choose_cluster,
    euclidean_clusters,
    isolate_object,
)
from voxforge.scan.plane import (
    Plane,
    align_to_plane,
    find_plane,
    is_support_plane,
    remove_plane_and_below,
)

__all__ = [
    "CleanConfig",
    "CleanReport",
    "ClusterSummary",
    "Plane",
    "align_to_plane",
    "choose_cluster",
    "clean_scan",
    "drop_nonfinite",
    "euclidean_clusters",
    "find_plane",
    "is_support_plane",
    "isolate_object",
    "remove_outliers",
    "remove_plane_and_below",
    "voxel_downsample",
]
