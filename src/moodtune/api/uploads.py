"""Multipart photo uploads parsed entirely in memory, with the size limit enforced while reading.

Starlette spools uploaded files over 1 MB to a temporary file on disk; photos must never touch
disk, so file parts stay in memory (bounded by the upload limit checked on the stream).
"""

from collections.abc import AsyncGenerator, Collection
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from moodtune.errors import BadForm, TooLarge, UnsupportedMedia

__all__ = ["multipart_body", "read_photo_form", "read_upload_form"]

_FORM_OVERHEAD_BYTES = 64 * 1024  # boundaries, part headers and the small parameter fields


def multipart_body(field: str, description: str) -> dict[str, Any]:
    """OpenAPI for a route that reads its multipart form itself (one file in ``field``)."""
    schema = {
        "type": "object",
        "required": [field],
        "properties": {field: {"type": "string", "format": "binary", "description": description}},
    }
    content = {"multipart/form-data": {"schema": schema}}
    return {
        "requestBody": {"required": True, "content": content}
    }  # boundaries, part headers and the small parameter fields


class _InMemoryMultiPartParser(MultiPartParser):
    spool_max_size = 2**62  # never roll over to disk; the stream limit bounds memory instead


async def _limited(stream: AsyncGenerator[bytes, None], limit: int) -> AsyncGenerator[bytes, None]:
    total = 0
    async for chunk in stream:
        total += len(chunk)
        if total > limit:
            raise TooLarge(f"the upload is larger than {limit} bytes", limit_bytes=limit)
        yield chunk


async def read_photo_form(
    request: Request, *, max_bytes: int, allowed: Collection[str] = ()
) -> tuple[bytes, dict[str, str]]:
    """The ``image`` file's bytes and the other (text) fields of a multipart form, which must
    be among ``allowed`` and sent once."""
    data, _, fields = await read_upload_form(
        request, field="image", what="photo", max_bytes=max_bytes, allowed=allowed
    )
    return data, fields


async def read_upload_form(
    request: Request, *, field: str, what: str, max_bytes: int, allowed: Collection[str] = ()
) -> tuple[bytes, str, dict[str, str]]:
    """The file of ``field`` (bytes and declared content type) and the other text fields."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise UnsupportedMedia(
            f"send the {what} as multipart/form-data in a field named '{field}'",
            content_type=content_type,
        )
    limit = max_bytes + _FORM_OVERHEAD_BYTES
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(
            f"the upload is {declared} bytes; the limit is {max_bytes}", limit_bytes=max_bytes
        )
    parser = _InMemoryMultiPartParser(
        request.headers,
        _limited(request.stream(), limit),
        max_files=1,
        max_fields=20,
        max_part_size=_FORM_OVERHEAD_BYTES,
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise BadForm(f"malformed multipart body: {exc.message}") from exc
    try:
        upload = form.get(field)
        if not isinstance(upload, UploadFile):
            message = f"Field required: a {what} file named '{field}'"
            raise RequestValidationError(
                [{"loc": ("body", field), "msg": message, "type": "missing"}]
            )
        data = await upload.read()
        declared = upload.content_type or ""
        fields = [(key, value) for key, value in form.multi_items() if isinstance(value, str)]
    finally:
        await form.close()  # every part, also files sent under other names
    return data, declared, _check_fields(fields, allowed)


def _check_fields(fields: list[tuple[str, str]], allowed: Collection[str]) -> dict[str, str]:
    """Unknown or repeated text fields are refused (422) as the JSON routes refuse them."""
    problems = []
    seen: set[str] = set()
    for key, _ in fields:
        if key not in allowed:
            problems.append(
                {
                    "loc": ("body", key),
                    "msg": "Extra inputs are not permitted",
                    "type": "extra_forbidden",
                }
            )
        elif key in seen:
            problems.append(
                {"loc": ("body", key), "msg": "Field sent more than once", "type": "duplicate"}
            )
        seen.add(key)
    if problems:
        raise RequestValidationError(problems)
    return dict(fields)
