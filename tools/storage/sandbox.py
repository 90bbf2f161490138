"""A local, SIMULATED Supabase Storage server (``tridium sandbox supabase-storage``).

Speaks the subset of Supabase Storage's object API that :class:`~tools.storage.SupabaseStorage`
uses, over real HTTP, so the connector is tested the way it talks to Supabase. It is not
Supabase: every response carries ``X-Sandbox: tridium-supabase-storage-sandbox`` (and the
same ``Server``), ``GET /`` says ``"simulated": true``, and its logs say SANDBOX.

Routes (under ``/storage/v1``)::

    POST   /bucket                         {"name", "public"?}     → 200 {"name"}
    GET    /bucket                                                 → [bucket]
    POST   /object/{bucket}/{path}         body = the bytes (or multipart "file"); x-upsert
    PUT    /object/{bucket}/{path}         replace an existing object
    GET    /object/{bucket}/{path}         download (also /object/authenticated/{bucket}/{path})
    DELETE /object/{bucket}                {"prefixes": [path, …]} → [deleted objects]
    DELETE /object/{bucket}/{path}                                 → {"message"}

What was checked against Supabase's own code (supabase/storage, read through the search
index; not against a live project):

* Error bodies are ``{"statusCode": "<semantic status>", "code", "error", "message"}`` and
  the HTTP status is **400** for every error that is not a 500 (``StorageBackendError``'s
  ``userStatusCode``; the fastify error handler). So a missing object is HTTP 400 with
  ``{"statusCode": "404", "code": "NoSuchKey", "error": "not_found", "message": "Object
  not found"}``; a missing bucket ``NoSuchBucket`` / ``"Bucket not found"``; a bad or
  missing JWT is ``AccessDenied`` with ``"error": "Unauthorized"`` and statusCode "403"
  (message from the JWT library: ``jwt malformed``, ``invalid signature``, ``jwt must be
  provided``); too large ``EntityTooLarge`` / ``"Payload too large"`` / statusCode "413".
* Upload answers 200 ``{"Id", "Key": "<bucket>/<path>"}``; without ``x-upsert: true`` an
  existing object is an error with ``"error": "Duplicate"``, ``"message": "The resource
  already exists"``, statusCode "409"; ``x-upsert: true`` replaces it.
* ``GET /object/{bucket}/{path}`` (deprecated alias of ``/object/authenticated/…``) lets
  an unauthenticated request through only for public buckets, else ``AccessDenied``
  "Access denied to this bucket".
* Batch delete takes ``{"prefixes": [...]}`` (at least one) and answers 200 with the objects
  it deleted; names that do not exist are simply not in the list.
* Object keys must match Supabase's ``isValidKey`` character class, else ``InvalidKey``.

Assumed (not verified against the source): the ``code`` of a duplicate upload
(``ResourceAlreadyExists``, from the unique-violation mapping), ``PUT`` on a missing object
answering ``NoSuchKey``, the list shape of deleted objects beyond ``name``/``bucket_id``/
``id``, and the API gateway's answers to a missing or wrong ``apikey`` header (HTTP 401
``{"message": "No API key found in request"}`` / ``{"message": "Invalid API key"}``, as users
report them). Keys are opaque strings here, not JWTs: the sandbox accepts exactly its
configured service key in both headers.

State lives in memory; with ``data_dir`` it is also written to disk (one file per object,
named by a hash, plus ``index.json``) and reloaded at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SANDBOX_NAME = "tridium-supabase-storage-sandbox"
DEFAULT_SERVICE_KEY = "tridium-sandbox-service-role-key-not-a-real-supabase-key"
LOG_PREFIX = "[SANDBOX supabase-storage]"
log = logging.getLogger("tridium.sandbox.supabase_storage")

# Supabase's isValidKey (src/storage/limits.ts): S3-safe characters only. JS \w is ASCII.
_VALID_KEY = re.compile(r"^(\w|/|!|-|\.|\*|'|\(|\)| |&|\$|@|=|;|:|\+|,|\?)*$", re.ASCII)
_VALID_BUCKET = re.compile(r"^(\w|!|-|\.|\*|'|\(|\)| |&|\$|@|=|;|:|\+|,|\?)*$", re.ASCII)


@dataclass(frozen=True)
class StorageSandboxConfig:
    service_key: str = DEFAULT_SERVICE_KEY
    buckets: tuple[str, ...] = ("kb",)  # created (private) at start
    data_dir: Path | None = None  # None: memory only
    max_object_bytes: int = 100 * 1024 * 1024  # Supabase's global limit is per project


class StorageError(Exception):
    """One Supabase Storage error: rendered as HTTP 400 (or 500) with the semantic status inside."""

    def __init__(self, status: int, code: str, message: str, error: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.error = status, code, message, error or code

    def response(self) -> JSONResponse:
        body = {"statusCode": str(self.status), "code": self.code, "error": self.error, "message": self.message}
        return JSONResponse(body, status_code=500 if self.status == 500 else 400)


def _no_such_key() -> StorageError:
    return StorageError(404, "NoSuchKey", "Object not found", "not_found")


def _no_such_bucket() -> StorageError:
    return StorageError(404, "NoSuchBucket", "Bucket not found", "Bucket not found")


def _access_denied(message: str) -> StorageError:
    return StorageError(403, "AccessDenied", message, "Unauthorized")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class StoredObject:
    id: str
    bucket: str
    name: str
    content_type: str
    size: int
    etag: str
    created_at: str
    updated_at: str

    def render(self) -> dict[str, Any]:
        """The shape of an ``objectSchema`` row (the fields we keep)."""
        return {
            "name": self.name,
            "bucket_id": self.bucket,
            "owner": None,
            "id": self.id,
            "updated_at": self.updated_at,
            "created_at": self.created_at,
            "last_accessed_at": self.updated_at,
            "metadata": {
                "eTag": self.etag,
                "size": self.size,
                "mimetype": self.content_type,
                "cacheControl": "max-age=3600",
                "lastModified": self.updated_at,
                "contentLength": self.size,
                "httpStatusCode": 200,
            },
        }


@dataclass
class Bucket:
    name: str
    public: bool = False
    created_at: str = field(default_factory=lambda: _now().isoformat())


class ObjectStore:
    """Buckets and objects in memory, mirrored to ``data_dir`` when one is given."""

    def __init__(self, data_dir: Path | None) -> None:
        self._dir = data_dir
        self.buckets: dict[str, Bucket] = {}
        self.objects: dict[tuple[str, str], StoredObject] = {}
        self._blobs: dict[tuple[str, str], bytes] = {}
        if data_dir is not None and (data_dir / "index.json").is_file():
            index = json.loads((data_dir / "index.json").read_text())
            self.buckets = {b["name"]: Bucket(**b) for b in index["buckets"]}
            for o in index["objects"]:
                obj = StoredObject(**o)
                self.objects[(obj.bucket, obj.name)] = obj

    def _blob_file(self, bucket: str, name: str) -> Path:
        assert self._dir is not None
        return self._dir / "blobs" / hashlib.sha256(f"{bucket}/{name}".encode()).hexdigest()

    def _save_index(self) -> None:
        if self._dir is None:
            return
        index = {
            "buckets": [asdict(b) for b in self.buckets.values()],
            "objects": [asdict(o) for o in self.objects.values()],
        }
        tmp = self._dir / "index.json.part"
        tmp.write_text(json.dumps(index))
        os.replace(tmp, self._dir / "index.json")

    def read(self, bucket: str, name: str) -> bytes:
        if self._dir is None:
            return self._blobs[(bucket, name)]
        return self._blob_file(bucket, name).read_bytes()

    def write(self, obj: StoredObject, data: bytes) -> None:
        if self._dir is None:
            self._blobs[(obj.bucket, obj.name)] = data
        else:
            target = self._blob_file(obj.bucket, obj.name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.with_suffix(".part").write_bytes(data)
            os.replace(target.with_suffix(".part"), target)
        self.objects[(obj.bucket, obj.name)] = obj
        self._save_index()

    def remove(self, bucket: str, name: str) -> StoredObject | None:
        obj = self.objects.pop((bucket, name), None)
        if obj is not None:
            self._blobs.pop((bucket, name), None)
            if self._dir is not None:
                self._blob_file(bucket, name).unlink(missing_ok=True)
            self._save_index()
        return obj

    def add_bucket(self, bucket: Bucket) -> None:
        self.buckets[bucket.name] = bucket
        if self._dir is not None:
            self._dir.mkdir(parents=True, exist_ok=True)
        self._save_index()


Handler = Callable[[Request], Awaitable[Response]]


class StorageSandbox:
    """The routes; ``store`` is public for assertions the HTTP API cannot make."""

    def __init__(self, config: StorageSandboxConfig) -> None:
        self.config = config
        self.store = ObjectStore(config.data_dir)
        for name in config.buckets:
            if name not in self.store.buckets:
                self.store.add_bucket(Bucket(name))

    # --- auth ------------------------------------------------------------------------

    def _gateway(self, request: Request) -> Response | None:
        """The API gateway in front of Storage checks ``apikey`` first (HTTP 401)."""
        key = request.headers.get("apikey") or request.query_params.get("apikey")
        if not key:
            return JSONResponse(
                {
                    "message": "No API key found in request",
                    "hint": "No `apikey` request header or url param was found.",
                },
                status_code=401,
            )
        if key != self.config.service_key:
            return JSONResponse(
                {"message": "Invalid API key", "hint": "Double check your Supabase `anon` or `service_role` API key."},
                status_code=401,
            )
        return None

    def _jwt_error(self, request: Request) -> str | None:
        """None when the bearer token is the service key, else the JWT library's complaint."""
        token = re.sub(r"^Bearer\s+", "", request.headers.get("authorization", ""), flags=re.IGNORECASE)
        if token == self.config.service_key:
            return None
        if not token:
            return "jwt must be provided"
        return "invalid signature" if token.count(".") == 2 else "jwt malformed"

    def guarded(self, handler: Handler, *, anonymous_reads: bool = False) -> Handler:
        async def endpoint(request: Request) -> Response:
            refused = self._gateway(request)
            if refused is not None:
                return refused
            request.state.authenticated = True
            try:
                problem = self._jwt_error(request)
                if problem is not None:
                    if not anonymous_reads:
                        raise _access_denied(problem)
                    request.state.authenticated = False
                return await handler(request)
            except StorageError as exc:
                log.info("%s %s %s → %s %s", LOG_PREFIX, request.method, request.url.path, exc.status, exc.code)
                return exc.response()

        return endpoint

    # --- buckets ---------------------------------------------------------------------

    async def create_bucket(self, request: Request) -> Response:
        body = await _json(request)
        name = body.get("name") or body.get("id")
        if not isinstance(name, str) or not name or not _VALID_BUCKET.match(name):
            raise StorageError(400, "InvalidBucketName", "Bucket name invalid", "Invalid Input")
        if name in self.store.buckets:
            raise StorageError(409, "BucketAlreadyExists", "The resource already exists", "Duplicate")
        self.store.add_bucket(Bucket(name, public=bool(body.get("public", False))))
        log.info("%s bucket %s created", LOG_PREFIX, name)
        return JSONResponse({"name": name})

    async def list_buckets(self, request: Request) -> Response:
        return JSONResponse(
            [
                {"id": b.name, "name": b.name, "public": b.public, "created_at": b.created_at}
                for b in self.store.buckets.values()
            ]
        )

    # --- objects ---------------------------------------------------------------------

    def _bucket(self, name: str) -> Bucket:
        bucket = self.store.buckets.get(name)
        if bucket is None:
            raise _no_such_bucket()
        return bucket

    @staticmethod
    def _key(request: Request) -> str:
        key = str(request.path_params["path"])
        if not key or not _VALID_KEY.match(key):
            raise StorageError(400, "InvalidKey", f"Invalid key: {key}")
        return key

    async def _body(self, request: Request) -> tuple[bytes, str]:
        content_type = request.headers.get("content-type", "application/octet-stream")
        too_large = StorageError(
            413, "EntityTooLarge", "The object exceeded the maximum allowed size", "Payload too large"
        )
        if content_type.startswith("multipart/form-data"):
            form = await request.form()
            file = form.get("file")
            if not isinstance(file, UploadFile):
                raise StorageError(400, "InvalidRequest", "No content provided")
            data = await file.read()
            content_type = file.content_type or "application/octet-stream"
        else:
            chunks: list[bytes] = []
            size = 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > self.config.max_object_bytes:
                    raise too_large  # stop reading; the rest does not matter
                chunks.append(chunk)
            data = b"".join(chunks)
        if len(data) > self.config.max_object_bytes:
            raise too_large
        return data, content_type

    async def _put(self, request: Request, *, create: bool) -> Response:
        bucket = self._bucket(str(request.path_params["bucket"])).name
        key = self._key(request)
        data, content_type = await self._body(request)
        existing = self.store.objects.get((bucket, key))
        upsert = request.headers.get("x-upsert") == "true"
        if create and existing is not None and not upsert:
            raise StorageError(409, "ResourceAlreadyExists", "The resource already exists", "Duplicate")
        if not create and existing is None:
            raise _no_such_key()
        now = _now().isoformat()
        obj = StoredObject(
            id=existing.id if existing else str(uuid.uuid4()),
            bucket=bucket,
            name=key,
            content_type=content_type,
            size=len(data),
            etag=f'"{hashlib.md5(data).hexdigest()}"',  # S3's ETag is an MD5; not security
            created_at=existing.created_at if existing else now,
            updated_at=now,
        )
        await asyncio.to_thread(self.store.write, obj, data)
        log.info("%s stored %s/%s (%d bytes)", LOG_PREFIX, bucket, key, len(data))
        return JSONResponse({"Id": obj.id, "Key": f"{bucket}/{key}"})

    async def create_object(self, request: Request) -> Response:
        return await self._put(request, create=True)

    async def update_object(self, request: Request) -> Response:
        return await self._put(request, create=False)

    async def get_object(self, request: Request) -> Response:
        bucket = self.store.buckets.get(str(request.path_params["bucket"]))
        if not request.state.authenticated and not (bucket is not None and bucket.public):
            raise _access_denied("Access denied to this bucket")
        if bucket is None:
            raise _no_such_bucket()
        key = str(request.path_params["path"])
        obj = self.store.objects.get((bucket.name, key))
        if obj is None:
            raise _no_such_key()
        data = await asyncio.to_thread(self.store.read, bucket.name, key)
        modified = format_datetime(datetime.fromisoformat(obj.updated_at), usegmt=True)
        headers = {"ETag": obj.etag, "Last-Modified": modified, "Cache-Control": "max-age=3600"}
        return Response(data, media_type=obj.content_type, headers=headers)

    async def delete_objects(self, request: Request) -> Response:
        bucket = self._bucket(str(request.path_params["bucket"])).name
        body = await _json(request)
        prefixes = body.get("prefixes")
        if not isinstance(prefixes, list) or not prefixes or not all(isinstance(p, str) for p in prefixes):
            raise StorageError(400, "InvalidRequest", "body/prefixes must be a non-empty array of strings")
        deleted = [obj.render() for p in prefixes if (obj := self.store.remove(bucket, p)) is not None]
        log.info("%s deleted %d of %d from %s", LOG_PREFIX, len(deleted), len(prefixes), bucket)
        return JSONResponse(deleted)

    async def delete_object(self, request: Request) -> Response:
        bucket = self._bucket(str(request.path_params["bucket"])).name
        if self.store.remove(bucket, str(request.path_params["path"])) is None:
            raise _no_such_key()
        return JSONResponse({"message": "Successfully deleted"})

    async def info(self, request: Request) -> Response:
        return JSONResponse(
            {
                "name": SANDBOX_NAME,
                "simulated": True,
                "description": "Local simulator of the Supabase Storage object API for Tridium; not Supabase.",
                "buckets": sorted(self.store.buckets),
            }
        )


async def _json(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError:
        raise StorageError(400, "InvalidRequest", "Body is not valid JSON") from None
    if not isinstance(data, dict):
        raise StorageError(400, "InvalidRequest", "Body must be a JSON object")
    return data


class _SandboxHeaders:
    """Every response says it is simulated."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"x-sandbox", SANDBOX_NAME.encode()), (b"server", SANDBOX_NAME.encode())]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, marked if scope["type"] == "http" else send)


def create_app(config: StorageSandboxConfig | None = None) -> Starlette:
    """The sandbox as an ASGI app (``app.state.sandbox`` holds its state)."""
    s = StorageSandbox(config or StorageSandboxConfig())
    base = "/storage/v1"
    routes = [
        Route("/", s.info, methods=["GET"]),
        Route(f"{base}/bucket", s.guarded(s.create_bucket), methods=["POST"]),
        Route(f"{base}/bucket", s.guarded(s.list_buckets), methods=["GET"]),
        # The static /authenticated/ prefix comes first, as in Supabase's router.
        Route(f"{base}/object/authenticated/{{bucket}}/{{path:path}}", s.guarded(s.get_object), methods=["GET"]),
        Route(
            f"{base}/object/{{bucket}}/{{path:path}}",
            s.guarded(s.get_object, anonymous_reads=True),
            methods=["GET"],
        ),
        Route(f"{base}/object/{{bucket}}/{{path:path}}", s.guarded(s.create_object), methods=["POST"]),
        Route(f"{base}/object/{{bucket}}/{{path:path}}", s.guarded(s.update_object), methods=["PUT"]),
        Route(f"{base}/object/{{bucket}}/{{path:path}}", s.guarded(s.delete_object), methods=["DELETE"]),
        Route(f"{base}/object/{{bucket}}", s.guarded(s.delete_objects), methods=["DELETE"]),
    ]
    app = Starlette(routes=routes)
    app.state.sandbox = s
    app.add_middleware(_SandboxHeaders)
    return app


# --- running it ------------------------------------------------------------------------


@dataclass(frozen=True)
class RunningStorageSandbox:
    base_url: str  # what SUPABASE_URL would be
    config: StorageSandboxConfig
    sandbox: StorageSandbox


@contextlib.asynccontextmanager
async def running_storage_sandbox(
    config: StorageSandboxConfig | None = None, *, host: str = "127.0.0.1"
) -> AsyncIterator[RunningStorageSandbox]:
    """The sandbox on a free port of ``host`` (real uvicorn, real socket) while the block runs."""
    config = config or StorageSandboxConfig()
    app = create_app(config)
    # IPPROTO_TCP so that asyncio sets TCP_NODELAY (no Nagle + delayed-ACK stalls).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind((host, 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", server_header=False, lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the storage sandbox stopped before it started")
            await asyncio.sleep(0.01)
        yield RunningStorageSandbox(f"http://{host}:{sock.getsockname()[1]}", config, app.state.sandbox)
    finally:
        server.should_exit = True
        await task
        sock.close()


def serve(port: int, *, host: str = "127.0.0.1", config: StorageSandboxConfig | None = None) -> None:
    """Serve until Ctrl-C (the CLI command)."""
    config = config or StorageSandboxConfig()
    log.warning(
        "%s simulated Supabase Storage on http://%s:%d (SUPABASE_URL), buckets %s, %s",
        LOG_PREFIX,
        host,
        port,
        ", ".join(config.buckets),
        f"state in {config.data_dir}" if config.data_dir else "state in memory",
    )
    uvicorn.run(create_app(config), host=host, port=port, log_level="info", server_header=False, lifespan="off")


__all__ = [
    "DEFAULT_SERVICE_KEY",
    "SANDBOX_NAME",
    "RunningStorageSandbox",
    "StorageSandbox",
    "StorageSandboxConfig",
    "create_app",
    "running_storage_sandbox",
    "serve",
]
