"""The FastAPI application: ``create_app(settings) -> FastAPI``.

Routes (the contract is ``docs/api.md``): ``POST/GET /v1/jobs``, ``GET/DELETE /v1/jobs/{id}``,
``GET /v1/jobs/{id}/events`` (server-sent events), ``GET /v1/jobs/{id}/artifacts/{name}``,
``GET /v1/pipelines``, ``GET /healthz``, the web page at ``/`` and ``/static``, docs at ``/docs``.
Handlers are short: authenticate, validate, call the job service, return a public schema.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import (
    FileResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError

from voxforge import __version__
from voxforge.core.errors import ConfigError, SizeLimitError, UnsupportedInputError, VoxforgeError
from voxforge.io.limits import check_input_limits
from voxforge.service import auth
from voxforge.service.db import TERMINAL, Database
from voxforge.service.gc import check_quota, folder_bytes
from voxforge.service.jobs import JobRunner, JobService, make_runner
from voxforge.service.objects import make_object_store
from voxforge.service.pipelines import (
    PipelineSpec,
    check_grid_cap,
    check_params,
    default_pipelines,
    parse_json,
    parse_params,
)
from voxforge.service.schemas import Health, JobEventPublic, JobPublic, PipelinePublic
from voxforge.service.settings import ServiceSettings
from voxforge.service.shared import make_shared
from voxforge.service.storage import (
    MAX_FIELD_BYTES,
    Storage,
    StorageUnavailableError,
    detect_input,
    receive_multipart,
)

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent / "web"
KEEPALIVE_S = 15.0
MULTIPART_SLACK = MAX_FIELD_BYTES + 64 * 1024
"""Bytes a multipart body may carry beyond the file limit (params field, part headers)."""

bearer = HTTPBearer(auto_error=False, description="API key from `voxforge users create NAME`.")

JOB_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "params"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "params": {
                            "type": "string",
                            "description": 'JSON: {"pipeline": "brickify", ...options}',
                        },
                    },
                }
            },
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["pipeline"],
                    "properties": {"pipeline": {"type": "string"}, "prompt": {"type": "string"}},
                    "additionalProperties": True,
                }
            },
        },
    }
}


class State:
    """What the routes share: settings, database, storage, jobs, rate limiters."""

    def __init__(
        self, settings: ServiceSettings, pipelines: Any, runner: JobRunner | None = None
    ) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = Database(settings.db_url, settings.db_timeout_s)
        self.db.create_all()
        self.objects = make_object_store(
            settings.s3_bucket, settings.s3_endpoint_url, settings.s3_prefix, settings.s3_region
        )
        self.storage = Storage(settings.data_dir, self.objects)
        self.shared = make_shared(settings.redis_url, settings.server_ttl_s)
        self.pipelines = pipelines
        self.jobs = JobService(
            self.db,
            self.storage,
            runner
            or make_runner(
                settings.runner,
                settings.workers,
                ray_address=settings.ray_address,
                max_attempts=settings.max_attempts,
            ),
            pipelines,
            settings.max_attempts,
            settings.read_limits,
            settings.reconcile_s,
            self.shared,
        )
        self.requests = self.shared.limiter("requests", settings.requests_per_minute)
        self.submissions = self.shared.limiter("jobs", settings.jobs_per_minute)
        self.anonymous = self.shared.limiter("anonymous", settings.anonymous_requests_per_minute)
        self.streams: dict[int, int] = {}
        self.streams_lock = threading.Lock()


def create_app(
    settings: ServiceSettings | None = None,
    *,
    pipelines: Any = None,
    runner: JobRunner | None = None,
) -> FastAPI:
    """The voxforge API. ``pipelines`` (a Registry of PipelineSpec) and ``runner`` default to
    :func:`default_pipelines` and the runner the settings name."""
    settings = settings or ServiceSettings.from_env()
    state = State(settings, pipelines or default_pipelines(), runner)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.jobs.start()
        retention = asyncio.create_task(_retention_loop(state))
        try:
            yield
        finally:
            retention.cancel()
            state.jobs.stop()
            state.shared.close()
            state.db.dispose()

    # /docs and /redoc load their JavaScript from a CDN onto the origin whose page keeps the API
    # key in localStorage: off unless asked for (the schema stays at /openapi.json).
    app = FastAPI(
        title="voxforge",
        version=__version__,
        summary="Scans, meshes and pictures in; buildable LEGO models out.",
        lifespan=lifespan,
        docs_url="/docs" if settings.api_docs else None,
        redoc_url="/redoc" if settings.api_docs else None,
    )
    app.state.voxforge = state
    # The page's bundle is mostly three.js (~670 kB, ~170 kB gzipped); event streams are excluded.
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    app.add_middleware(SecurityHeaders, docs=settings.api_docs)
    _add_error_handlers(app)
    _add_routes(app, state)
    _add_web(app)
    return app


CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self' blob:; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
"""The page runs only its own files (``/static``); nothing may frame it."""
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
    "frame-ancestors 'none'"
)
"""Only when ``api_docs`` is on: the Swagger/ReDoc pages need their CDN."""
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeaders:
    """ASGI middleware: CSP, nosniff, frame and referrer headers on every HTTP response."""

    def __init__(self, app: Any, docs: bool = False) -> None:
        self.app, self.docs = app, docs

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        csp = DOCS_CSP if self.docs and path in ("/docs", "/redoc") else CSP

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [*SECURITY_HEADERS, (b"content-security-policy", csp.encode())]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(VoxforgeError)
    async def voxforge_error(_: Request, err: VoxforgeError) -> JSONResponse:
        text = str(err).strip().splitlines()
        return JSONResponse({"detail": text[0] if text else type(err).__name__}, err.http_status)

    @app.exception_handler(SQLAlchemyError)
    async def database_error(_: Request, err: SQLAlchemyError) -> JSONResponse:
        log.error("database error: %s", err)
        return JSONResponse(
            {"detail": "the database is unavailable (locked, read-only or down); try again later"},
            503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(OSError)
    async def disk_error(_: Request, err: OSError) -> JSONResponse:
        log.error("storage error: %s", err)
        why = err.strerror or type(err).__name__
        return JSONResponse(
            {"detail": f"the data folder cannot be used ({why}); try again later"},
            503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(RecursionError)
    async def too_deep(_: Request, err: RecursionError) -> JSONResponse:
        return JSONResponse({"detail": "request is nested too deeply"}, 400)


async def _retention_loop(state: State) -> None:
    """Apply the retention policy now and every ``gc_interval_s`` (when one is set)."""
    from voxforge.service.gc import collect

    settings = state.settings
    if settings.keep_days is None and settings.keep_inputs_days is None:
        return
    while True:
        try:
            report = await run_in_threadpool(
                collect, state.db, state.storage, settings.keep_days, settings.keep_inputs_days
            )
            log.info("retention: %s", report.line())
        except Exception:
            log.warning("retention pass failed; trying again later", exc_info=True)
        await asyncio.sleep(settings.gc_interval_s)


class BadRequestError(VoxforgeError):
    """A request the server cannot parse at all (malformed body)."""

    http_status = 400


def app_state(request: Request) -> State:
    return request.app.state.voxforge


def current_user(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> auth.UserInfo:
    """The key's user; 401 without a valid key, 429 past the per-key request rate."""
    state = app_state(request)
    unauthorized = {"WWW-Authenticate": "Bearer"}
    if creds is None or creds.scheme.lower() != "bearer":
        _limit_anonymous(request, state)
        raise HTTPException(401, "missing API key: send Authorization: Bearer KEY", unauthorized)
    user = auth.authenticate(state.db, creds.credentials)
    if user is None:
        _limit_anonymous(request, state)
        raise HTTPException(401, "unknown or revoked API key", unauthorized)
    wait = state.requests.take(user.id)
    if wait > 0:
        raise HTTPException(
            429, "too many requests for this key; slow down", {"Retry-After": auth.retry_after(wait)}
        )
    return user


def _limit_anonymous(request: Request, state: State) -> None:
    """429 once a client address sends too many requests without a valid key."""
    client = request.client.host if request.client else "unknown"
    wait = state.anonymous.take(client)
    if wait > 0:
        raise HTTPException(
            429,
            "too many requests without a valid API key from this address; slow down",
            {"Retry-After": auth.retry_after(wait)},
        )


CurrentUser = Annotated[auth.UserInfo, Depends(current_user)]


def owned_job(job_id: str, request: Request, user: CurrentUser) -> Any:
    """The caller's job with its artifacts; 404 for unknown ids and other keys' jobs alike."""
    job = app_state(request).jobs.get(job_id, user.id)
    if job is None:
        raise HTTPException(404, f"no job {job_id}")
    return job


OwnedJob = Annotated[Any, Depends(owned_job)]


def _add_routes(app: FastAPI, state: State) -> None:
    @app.get(
        "/healthz",
        tags=["service"],
        responses={503: {"description": "Database, data folder, Redis or object store not usable"}},
    )
    def healthz() -> Health:
        """``ok`` when the database and the data folder can be written; 503 otherwise."""
        state.storage.check_writable()
        try:
            state.db.check_writable()
        except SQLAlchemyError:
            raise StorageUnavailableError(
                "the database cannot be written (locked, read-only or down)"
            ) from None
        state.shared.heartbeat()
        if state.objects is not None:
            state.objects.check()
        return Health(status="ok", version=__version__, pipelines=state.pipelines.names())

    @app.get("/v1/pipelines", tags=["jobs"])
    def list_pipelines() -> list[PipelinePublic]:
        """The pipelines this server offers, their accepted inputs and option schemas."""
        return [PipelinePublic(**spec.describe()) for _, spec in state.pipelines.items()]

    @app.post(
        "/v1/jobs",
        status_code=202,
        tags=["jobs"],
        response_model=JobPublic,
        openapi_extra=JOB_BODY,
        responses={
            400: {"description": "Malformed body"},
            401: {"description": "No or bad API key"},
            413: {"description": "Upload over the size limit"},
            415: {"description": "Not a supported input"},
            422: {"description": "Invalid options (the field is named)"},
            429: {"description": "Rate limit (see Retry-After)"},
        },
    )
    async def create_job(request: Request, user: CurrentUser) -> JSONResponse:
        """Submit a job: multipart (``file`` + ``params`` JSON) or a JSON body for text pipelines."""
        wait = state.submissions.take(user.id)
        if wait > 0:
            raise HTTPException(
                429, "too many jobs submitted with this key; wait before the next",
                {"Retry-After": auth.retry_after(wait)},
            )  # fmt: skip
        quota = state.settings.quota_bytes_per_key
        await run_in_threadpool(check_quota, state.db, state.storage, user.id, quota)
        job_id = state.jobs.new_id()
        try:
            spec, options, config, input_name = await _receive_job(request, state, job_id)
            if quota is not None:
                size = folder_bytes(state.storage.input_dir(job_id))
                await run_in_threadpool(check_quota, state.db, state.storage, user.id, quota, size)
            job = await run_in_threadpool(
                state.jobs.create, job_id, user.id, spec, options, config, input_name
            )
        except BaseException:
            state.storage.delete_job(job_id)
            raise
        body = JobPublic.of(job).model_dump(mode="json")
        return JSONResponse(body, 202, headers={"Location": f"/v1/jobs/{job_id}"})

    @app.get("/v1/jobs", tags=["jobs"])
    def list_jobs(
        user: CurrentUser,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        status: Annotated[str | None, Query(pattern="^(queued|running|succeeded|failed)$")] = None,
    ) -> list[JobPublic]:
        """The caller's jobs, newest first."""
        return [JobPublic.of(j) for j in state.jobs.list(user.id, limit, status)]

    @app.get(
        "/v1/jobs/{job_id}",
        tags=["jobs"],
        response_model=JobPublic,
        responses={404: {"description": "No such job"}},
    )
    def get_job(job: OwnedJob) -> Response:
        # The hot path of every polling client: serialised once, not validated a second time.
        return Response(JobPublic.of(job).model_dump_json(), media_type="application/json")

    @app.delete(
        "/v1/jobs/{job_id}",
        status_code=204,
        tags=["jobs"],
        responses={404: {"description": "No such job"}},
    )
    def delete_job(job: OwnedJob) -> Response:
        """Stop the job if it is queued or running, and delete it with its files."""
        state.jobs.delete(job.id)
        return Response(status_code=204)

    @app.get(
        "/v1/jobs/{job_id}/events",
        tags=["jobs"],
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}, 404: {"description": "No such job"}},
    )
    async def job_events(
        request: Request,
        job: OwnedJob,
        last_event_id: Annotated[str | None, Header()] = None,
    ) -> StreamingResponse:
        """Server-sent events: ``queued``, ``running``, ``progress`` ..., then ``succeeded`` or
        ``failed``, after which the stream ends. ``Last-Event-ID`` resumes after that event."""
        after = int(last_event_id) if last_event_id and last_event_id.isdigit() else 0
        user_id = job.user_id
        with state.streams_lock:
            if state.streams.get(user_id, 0) >= state.settings.max_streams_per_key:
                raise HTTPException(
                    429,
                    f"this key has {state.settings.max_streams_per_key} event streams open; "
                    "close one first",
                    {"Retry-After": "5"},
                )
            state.streams[user_id] = state.streams.get(user_id, 0) + 1
        try:
            opened = state.shared.open_stream(user_id, state.settings.max_streams_per_key)
        except BaseException:
            _uncount(state, user_id)
            raise
        if not opened:  # the other servers hold the rest of the key's streams
            _uncount(state, user_id)
            raise HTTPException(
                429,
                f"this key has {state.settings.max_streams_per_key} event streams open; close one first",
                {"Retry-After": "5"},
            )
        stream = _counted(state, user_id, _event_stream(request, state, job.id, after))
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream, media_type="text/event-stream", headers=headers)

    @app.get(
        "/v1/jobs/{job_id}/artifacts/{name:path}",
        tags=["jobs"],
        response_class=FileResponse,
        responses={404: {"description": "No such job or artifact"}},
    )
    def get_artifact(name: str, job: OwnedJob) -> Response:
        """Download one output; ``name`` as the job's ``artifacts`` list it (one ``/`` at most)."""
        art = next((a for a in job.artifacts if a.name == name), None)
        if art is None:
            raise HTTPException(404, f"job {job.id} has no artifact {name!r}")
        if state.objects is not None:
            return _object_artifact(state, job.id, name, art.media_type)
        try:
            path = state.storage.artifact_path(job.id, name)
        except UnsupportedInputError:
            raise HTTPException(404, f"job {job.id} has no artifact {name!r}") from None
        if not path.is_file():
            raise HTTPException(404, f"artifact {name!r} of job {job.id} is missing on disk")
        return FileResponse(path, media_type=art.media_type, filename=Path(name).name)


def _object_artifact(state: State, job_id: str, name: str, media_type: str) -> Response:
    """An artifact from the object store: streamed through, or a redirect to a presigned URL."""
    filename = Path(name).name
    key = f"jobs/{job_id}/output/{name}"
    if state.settings.s3_presign:
        return RedirectResponse(state.objects.presigned_url(key, filename), 307)
    body = state.storage.open_artifact(job_id, name)
    if body is None:
        raise HTTPException(404, f"artifact {name!r} of job {job_id} is missing in object storage")
    headers = {
        "Content-Length": str(body.size),
        "Content-Disposition": f'attachment; filename="{filename}"',
    }
    return StreamingResponse(body.chunks, media_type=media_type, headers=headers)


async def _receive_job(
    request: Request, state: State, job_id: str
) -> tuple[PipelineSpec, dict[str, Any], Any, str | None]:
    """Parse and check a submission: (pipeline, options as given, validated config, input name)."""
    ctype = request.headers.get("content-type", "")
    limit = state.settings.max_upload_bytes
    if ctype.startswith("multipart/form-data"):
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > limit + MULTIPART_SLACK:
            raise SizeLimitError(f"upload of {int(length):,} bytes is over the limit of {limit:,} bytes")
        try:
            upload = await receive_multipart(
                ctype, _timed(request, state), state.storage.input_dir(job_id), limit
            )
        except (SizeLimitError, ConfigError, StorageUnavailableError, BodyTimeoutError):
            raise
        except VoxforgeError as err:
            raise BadRequestError(str(err)) from None
        params = parse_params(upload.fields.get("params"))
        spec, options, config = _options(state, params)
        if "text" in spec.inputs and upload.file_path is None:
            return spec, options, config, None
        if upload.file_path is None:
            raise ConfigError(f"file: missing; the {spec.name} pipeline needs an uploaded file")
        shown = Path(upload.filename or "upload").name
        detected = await run_in_threadpool(detect_input, upload.file_path, shown)
        spec.check_input(detected, shown)
        limits = state.settings.read_limits
        await run_in_threadpool(check_input_limits, upload.file_path, detected, limits, shown)
        return spec, options, config, shown
    if ctype.startswith("application/json"):
        body = await _read_capped(request, state, MAX_FIELD_BYTES)
        try:
            value = parse_json(body, "body")
        except ConfigError as err:
            raise BadRequestError(str(err)) from None
        spec, options, config = _options(state, check_params(value))
        if "text" not in spec.inputs:
            raise ConfigError(
                f"file: missing; the {spec.name} pipeline needs an upload "
                "(multipart/form-data with 'file' and 'params')"
            )
        return spec, options, config, None
    raise UnsupportedInputError(
        f"content type {ctype or 'none'!r}: send multipart/form-data (file + params) or application/json"
    )


def _options(state: State, params: dict[str, Any]) -> tuple[PipelineSpec, dict[str, Any], Any]:
    spec: PipelineSpec = state.pipelines[params["pipeline"]]
    options = {k: v for k, v in params.items() if k != "pipeline"}
    config = spec.build_options(options)
    check_grid_cap(config, state.settings.max_cells)
    return spec, options, config


class BodyTimeoutError(VoxforgeError):
    """The client stopped sending its request body (a stalled upload): 408."""

    http_status = 408


async def _timed(request: Request, state: State) -> AsyncIterator[bytes]:
    """The request body, chunk by chunk; 408 when no chunk arrives within ``body_timeout_s``."""
    stream = request.stream().__aiter__()
    timeout = state.settings.body_timeout_s
    while True:
        try:
            chunk = await asyncio.wait_for(stream.__anext__(), timeout)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise BodyTimeoutError(
                f"no request body data for {timeout:g} s; the upload is abandoned"
            ) from None
        yield chunk


async def _read_capped(request: Request, state: State, limit: int) -> bytes:
    data = bytearray()
    async for chunk in _timed(request, state):
        data += chunk
        if len(data) > limit:
            raise SizeLimitError(f"JSON body is over {limit:,} bytes")
    return bytes(data)


async def _counted(state: State, user_id: int, stream: AsyncIterator[str]) -> AsyncIterator[str]:
    """``stream``, counted against its key's open streams until it ends or the client leaves."""
    try:
        async for item in stream:
            yield item
    finally:
        try:
            state.shared.close_stream(user_id)
        except VoxforgeError:  # Redis is away: its count of this server goes with our liveness
            log.warning("could not uncount an event stream of key %s", user_id)
        _uncount(state, user_id)


def _uncount(state: State, user_id: int) -> None:
    with state.streams_lock:
        left = state.streams.get(user_id, 1) - 1
        if left > 0:
            state.streams[user_id] = left
        else:
            state.streams.pop(user_id, None)


async def _event_stream(request: Request, state: State, job_id: str, after: int) -> AsyncIterator[str]:
    """Events of one job in order; ends after the terminal one or when the job is deleted.

    The database is read when the process's notifier signals a new event of this job (or after
    ``poll_interval_s`` without one, for events another server process stored).
    """
    sub = state.jobs.notifier.subscribe(job_id)
    try:
        async for item in _stream_events(request, state, job_id, after, sub):
            yield item
    finally:
        sub.close()


async def _stream_events(
    request: Request, state: State, job_id: str, after: int, sub: Any
) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    quiet_since = loop.time()
    while True:
        sub.clear()
        rows, exists = await run_in_threadpool(state.jobs.events_after, job_id, after)
        for row in rows:
            after = row.id
            data = JobEventPublic(
                id=row.id,
                job_id=job_id,
                event=row.kind,  # type: ignore[arg-type]
                status=row.status,  # type: ignore[arg-type]
                stage=row.stage,
                progress=round(float(row.progress), 4),
                message=row.message,
            )
            yield f"id: {row.id}\nevent: {row.kind}\ndata: {data.model_dump_json()}\n\n"
            if row.kind in TERMINAL:
                return
        if not exists or await request.is_disconnected():
            return
        if rows:
            quiet_since = loop.time()
        elif loop.time() - quiet_since > KEEPALIVE_S:
            quiet_since = loop.time()
            yield ": keep-alive\n\n"
        wait = min(state.settings.poll_interval_s, KEEPALIVE_S)
        await sub.wait(max(0.0, min(wait, quiet_since + KEEPALIVE_S - loop.time()) + 0.01))


def _add_web(app: FastAPI) -> None:
    """The web page: ``/`` serves ``web/index.html``, ``/static`` serves ``web/static/``."""

    @app.get("/", include_in_schema=False)
    def index() -> Response:
        page = WEB_DIR / "index.html"
        if not page.is_file():
            return JSONResponse({"detail": "no web page installed; the API docs are at /docs"}, 404)
        return FileResponse(page, media_type="text/html")

    app.mount("/static", _OptionalStatic(directory=WEB_DIR / "static", check_dir=False), name="static")


class _OptionalStatic(StaticFiles):
    """Static files whose folder may not exist yet (the web page is installed separately): 404s."""

    async def check_config(self) -> None:
        if self.directory is not None and Path(self.directory).is_dir():
            await super().check_config()
