"""The Files service: a project's files in the `files` table, which only the router
writes. Every query names the project, so a file of another project is NOT_FOUND,
exactly as an unknown id. Bytes cross the wire in chunks of FILE_CHUNK_BYTES."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn

import grpc
from sqlalchemy import Engine, and_, delete, or_, select

from tollgate.db.batch_models import FILES
from tollgate.db.engine import as_utc
from tollgate.v1 import batch_pb2, batch_pb2_grpc

F = FILES.c
FILE_CHUNK_BYTES = 1024 * 1024
MAX_LIST = 10_000
# Everything but the bytes: what a listing or a lookup reads.
INFO_COLUMNS = (F.id, F.project_id, F.filename, F.purpose, F.bytes, F.created_at)


def new_file_id() -> str:
    return "file-" + secrets.token_hex(12)


def unix(moment: datetime | None) -> int:
    return int(as_utc(moment).timestamp()) if moment is not None else 0


def file_info(row: Any) -> batch_pb2.FileInfo:
    return batch_pb2.FileInfo(
        id=row.id,
        filename=row.filename,
        purpose=row.purpose,
        bytes=row.bytes,
        created_at=unix(row.created_at),
        status="processed",
    )


def store_file(
    engine: Engine, project_id: str, filename: str, purpose: str, content: bytes
) -> batch_pb2.FileInfo:
    """Store a new file of the project; its info."""
    values = {
        "id": new_file_id(),
        "project_id": project_id,
        "filename": filename,
        "purpose": purpose,
        "bytes": len(content),
        "content": content,
        "created_at": datetime.now(UTC),
    }
    with engine.begin() as conn:
        conn.execute(FILES.insert().values(**values))
        row = conn.execute(select(*INFO_COLUMNS).where(F.id == values["id"])).one()
    return file_info(row)


def _mine(project_id: str, file_id: str) -> Any:
    return and_(F.project_id == project_id, F.id == file_id)


def find_file(engine: Engine, project_id: str, file_id: str) -> Any | None:
    with engine.connect() as conn:
        return conn.execute(select(*INFO_COLUMNS).where(_mine(project_id, file_id))).first()


def file_content(engine: Engine, project_id: str, file_id: str) -> bytes | None:
    with engine.connect() as conn:
        found = conn.execute(select(F.content).where(_mine(project_id, file_id))).first()
    return bytes(found.content) if found is not None else None


def delete_file(engine: Engine, project_id: str, file_id: str) -> Any | None:
    with engine.begin() as conn:
        found = conn.execute(select(*INFO_COLUMNS).where(_mine(project_id, file_id))).first()
        if found is not None:
            conn.execute(delete(FILES).where(_mine(project_id, file_id)))
    return found


def list_files(engine: Engine, request: batch_pb2.ListFilesRequest) -> tuple[Sequence[Any], bool]:
    """A page of the project's files (newest first unless ascending) and whether more follow."""
    limit = min(max(request.limit or MAX_LIST, 1), MAX_LIST)
    query = select(*INFO_COLUMNS).where(F.project_id == request.project_id)
    if request.purpose:
        query = query.where(F.purpose == request.purpose)
    order = (F.created_at, F.id) if request.ascending else (F.created_at.desc(), F.id.desc())
    with engine.connect() as conn:
        if request.after:
            cursor = find_file(engine, request.project_id, request.after)
            if cursor is None:
                return [], False
            at, key = cursor.created_at, cursor.id
            if request.ascending:
                query = query.where(or_(F.created_at > at, and_(F.created_at == at, F.id > key)))
            else:
                query = query.where(or_(F.created_at < at, and_(F.created_at == at, F.id < key)))
        rows = conn.execute(query.order_by(*order).limit(limit + 1)).all()
    return rows[:limit], len(rows) > limit


def chunks(content: bytes) -> list[bytes]:
    return [content[i : i + FILE_CHUNK_BYTES] for i in range(0, len(content), FILE_CHUNK_BYTES)]


class FilesServicer(batch_pb2_grpc.FilesServicer):
    def __init__(self, engine: Engine, max_bytes: int) -> None:
        self._engine = engine
        self._max_bytes = max_bytes

    async def CreateFile(
        self, request_iterator: AsyncIterator[batch_pb2.FilePart], context: Any
    ) -> batch_pb2.FileInfo:
        header: batch_pb2.FileHeader | None = None
        content = bytearray()
        async for part in request_iterator:
            if part.WhichOneof("part") == "header":
                header = part.header
            else:
                content += part.chunk
                if len(content) > self._max_bytes:
                    await context.abort(
                        grpc.StatusCode.INVALID_ARGUMENT, "the file is larger than allowed"
                    )
        if header is None or not header.project_id or not header.purpose:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a file needs its header")
        assert header is not None
        return await asyncio.to_thread(
            store_file,
            self._engine,
            header.project_id,
            header.filename,
            header.purpose,
            bytes(content),
        )

    async def GetFile(self, request: batch_pb2.FileRef, context: Any) -> batch_pb2.FileInfo:
        row = await asyncio.to_thread(find_file, self._engine, request.project_id, request.file_id)
        if row is None:
            await _not_found(context, request.file_id)
        return file_info(row)

    async def ListFiles(
        self, request: batch_pb2.ListFilesRequest, context: Any
    ) -> batch_pb2.ListFilesResponse:
        rows, more = await asyncio.to_thread(list_files, self._engine, request)
        return batch_pb2.ListFilesResponse(files=[file_info(r) for r in rows], has_more=more)

    async def ReadFile(
        self, request: batch_pb2.FileRef, context: Any
    ) -> AsyncIterator[batch_pb2.FileChunk]:
        content = await asyncio.to_thread(
            file_content, self._engine, request.project_id, request.file_id
        )
        if content is None:
            await _not_found(context, request.file_id)
            return
        for chunk in chunks(content):
            yield batch_pb2.FileChunk(data=chunk)

    async def DeleteFile(self, request: batch_pb2.FileRef, context: Any) -> batch_pb2.FileInfo:
        row = await asyncio.to_thread(
            delete_file, self._engine, request.project_id, request.file_id
        )
        if row is None:
            await _not_found(context, request.file_id)
        return file_info(row)


async def _not_found(context: Any, file_id: str) -> NoReturn:
    await context.abort(grpc.StatusCode.NOT_FOUND, f"No such File object: {file_id}")
    raise AssertionError("abort raises")  # pragma: no cover
