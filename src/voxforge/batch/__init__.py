"""Batches: many inputs through one pipeline, in this process or as Ray tasks on a cluster.

``items`` turns files, folders, globs and CSV/JSONL manifests into validated jobs;
``pipelines`` names the pipelines a batch runs; ``run`` runs them (:class:`LocalExecutor`,
:class:`RayExecutor`) and writes ``batch.jsonl``; ``cluster`` starts or joins Ray.
"""

from __future__ import annotations

from voxforge.batch.items import BatchItem, expand_items
from voxforge.batch.pipelines import BatchPipeline, get_pipeline
from voxforge.batch.run import BatchResult, LocalExecutor, RayExecutor, read_report, run_batch

__all__ = [
    "BatchItem",
    "BatchPipeline",
    "BatchResult",
    "LocalExecutor",
    "RayExecutor",
    "expand_items",
    "get_pipeline",
    "read_report",
    "run_batch",
]
