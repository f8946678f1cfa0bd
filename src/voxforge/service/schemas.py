"""Public JSON shapes of the API (the contract the phone app and the web page code against)."""

from __future__ import annotations

import datetime as dt
from typing import Literal
from urllib.parse import quote

from pydantic import BaseModel, Field

from voxforge.service.db import Job, as_utc


class ArtifactPublic(BaseModel):
    name: str = Field(description="Output name, e.g. preview.png or steps/step_001.png.")
    media_type: str
    size: int = Field(description="Bytes.")
    url: str = Field(description="Path of the download, relative to the server root.")


class JobPublic(BaseModel):
    id: str
    pipeline: str
    status: Literal["queued", "running", "succeeded", "failed"]
    stage: str | None = Field(description="The pipeline stage last reported (read, voxelize, ...).")
    progress: float = Field(ge=0, le=1, description="Overall progress, 0 to 1.")
    created_at: dt.datetime
    finished_at: dt.datetime | None
    error: str | None = Field(description="One line saying why a failed job failed.")
    artifacts: list[ArtifactPublic] = Field(description="Outputs; empty until the job succeeded.")
    input_name: str | None = Field(None, description="The uploaded file's name, as sent.")

    @classmethod
    def of(cls, job: Job) -> JobPublic:
        return cls(
            id=job.id,
            pipeline=job.pipeline,
            status=job.status,  # type: ignore[arg-type]
            stage=job.stage,
            progress=round(float(job.progress), 4),
            created_at=as_utc(job.created_at),  # type: ignore[arg-type]
            finished_at=as_utc(job.finished_at),
            error=job.error,
            input_name=job.input_name,
            artifacts=[
                ArtifactPublic(
                    name=a.name,
                    media_type=a.media_type,
                    size=a.size,
                    url=f"/v1/jobs/{job.id}/artifacts/{quote(a.name)}",
                )
                for a in job.artifacts
            ],
        )


class JobEventPublic(BaseModel):
    """The ``data`` of one server-sent event; the event's ``id`` and ``event`` name match."""

    id: int
    job_id: str
    event: Literal["queued", "running", "progress", "succeeded", "failed"]
    status: Literal["queued", "running", "succeeded", "failed"]
    stage: str | None
    progress: float
    message: str | None


class PipelinePublic(BaseModel):
    name: str
    description: str
    inputs: list[str]
    shortcuts: dict[str, str]
    options_schema: dict


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    pipelines: list[str]
