"""Validate real responses against the service's OpenAPI document with jsonschema_rs.

OpenAPI 3.0 schemas are JSON Schema with ``nullable``; this turns ``nullable: true`` into a
``null`` alternative, keeps ``#/components/schemas/...`` references resolvable by putting the
components beside the schema, and checks formats (date-time, date) too.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import jsonschema_rs

from transit.api.openapi import openapi_document


def _json_schema(node: Any) -> Any:
    if isinstance(node, list):
        return [_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _json_schema(v) for k, v in node.items() if k not in ("nullable", "example", "description")}
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        if "$ref" in out:
            return {"anyOf": [{"$ref": out.pop("$ref")}, {"type": "null"}]}
    return out


@functools.lru_cache(maxsize=1)
def _document() -> dict[str, Any]:
    return openapi_document()


def response_schema(path: str, status: int, content_type: str = "application/json") -> dict[str, Any]:
    doc = _document()
    responses = doc["paths"][path]["get"]["responses"]
    spec = responses.get(str(status))
    assert spec is not None, f"status {status} is not documented for GET {path}"
    content = spec.get("content", {})
    assert content_type in content, f"{content_type} is not documented for {status} of GET {path}"
    schema = copy.deepcopy(content[content_type]["schema"])
    return {**_json_schema(schema), "components": _json_schema(doc["components"])}


def check_response(path: str, status: int, body: Any, content_type: str = "application/json") -> None:
    """Raise AssertionError naming every place where ``body`` breaks the documented schema."""
    validator = jsonschema_rs.Draft202012Validator(response_schema(path, status, content_type), validate_formats=True)
    errors = [f"{'/'.join(map(str, e.instance_path))}: {e.message}" for e in validator.iter_errors(body)]
    assert not errors, f"GET {path} {status}: " + "; ".join(errors[:10])
