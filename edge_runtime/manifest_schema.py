"""The one definition of a bundle's ``manifest.json`` (format_version 1), and its validator.

``SCHEMA`` is plain data in a small subset of JSON Schema (draft 2020-12), so every runtime can
validate against the same definition: ``python -m edge_runtime.manifest_schema`` prints it as JSON
(the JavaScript runtime keeps a copy that a test compares with it). The subset: ``type`` (one name or
a list), ``const``, ``enum``, ``properties``, ``required``, ``additionalProperties`` (false or a
schema), ``items``, ``minItems``, ``uniqueItems``, ``minLength``, ``pattern``, ``minimum``,
``exclusiveMinimum``, ``maximum``, ``anyOf``; ``description`` is documentation. An ``integer`` is a
JSON number written without a fraction (never a boolean); NaN and infinities are not JSON and are
refused when the file is parsed. No value may nest deeper than ``MAX_DEPTH`` containers.

Sections are closed (an unknown key is refused: a runtime must never ignore a setting it does not
know, such as a temperature), except the free-form ``report`` and the fit report inside
``calibration``. Whoever adds a manifest key adds it here, in docs/ARCHITECTURE.md, and in the
JavaScript runtime's copy. Checks across keys (labels against golden probabilities, file names
against ``files``) are in ``edge_runtime.bundle``. Standard library only.
"""

from __future__ import annotations

import json
import math
import re
import reprlib
from typing import Any

from edge_runtime.errors import EdgeError

MAX_DEPTH = 32
_SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_NAME = {"type": "string", "minLength": 1}
_PROBABILITY = {"type": "number", "minimum": 0, "maximum": 1}


def _closed(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    """An object with these keys only (``required`` among them)."""
    return {"type": "object", "required": required, "additionalProperties": False, "properties": properties}


SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "mobilebert-edge bundle manifest, format_version 1",
    **_closed(["format", "format_version", "labels", "model", "tokenizer", "files", "manifest_sha256"], {
        "format": {"const": "mobilebert-edge-bundle"},
        "format_version": {"const": 1},
        "created": {"type": "string", "description": "UTC time of export, YYYY-MM-DDTHH:MM:SSZ"},
        "labels": {
            "type": "array", "items": _NAME, "minItems": 1, "uniqueItems": True,
            "description": "label names in logit order",
        },
        "model": _closed(["file"], {
            "file": _NAME,
            "precision": {"enum": ["fp32", "int8"]},
            "inputs": {"type": "array", "items": _NAME, "uniqueItems": True},
            "output": _NAME,
            "architecture": {"type": "string"},
            "pooling": {"enum": ["cls", "mean"]},
            "quantization": {"enum": ["static", "qdq", "dynamic"]},
            "optimization_level": {"type": "string"},
            "graph_pass": {"type": "string", "description": "the export's own graph pass, e.g. mobilebert-fusion"},
            "contrib_ops": {"type": "array", "items": _NAME, "uniqueItems": True,
                            "description": "com.microsoft op types the stored graph uses"},
        }),
        "tokenizer": _closed(["file", "max_length", "truncation"], {
            "file": _NAME,
            "max_length": {"type": "integer", "minimum": 3},
            "truncation": _closed(["rule"], {
                "rule": {"enum": ["head", "tail", "head_tail"]},
                "head_tokens": {"type": ["integer", "null"], "minimum": 0},
            }),
        }),
        "files": {
            "type": "object", "additionalProperties": _SHA256,
            "description": "sha256 of every file the runtime reads, by name relative to the bundle folder",
        },
        "versions": {"type": "object", "additionalProperties": {"type": "string"}},
        "report": {"type": "object", "description": "what export measured (free-form)"},
        "golden": _closed(["atol", "examples"], {
            "atol": {"type": "number", "exclusiveMinimum": 0},
            "batch_size": {"type": "integer", "minimum": 1},
            "batch_invariant": {"type": "boolean"},
            "examples": {"type": "array", "items": _closed(["text", "probabilities"], {
                "text": {"type": "string", "minLength": 1},
                "probabilities": {"anyOf": [
                    {"type": "object", "additionalProperties": _PROBABILITY,
                     "description": "by label name (bundles from now on)"},
                    {"type": "array", "items": _PROBABILITY, "description": "in label order (bundles made before)"},
                ]},
            })},
        }),
        "calibration": {"anyOf": [
            {"type": "null"},
            {
                "type": "object",
                "required": ["method", "temperature"],
                "properties": {
                    "method": {"const": "temperature"},
                    "temperature": {"type": "number", "exclusiveMinimum": 0},
                    "confidence_map": _closed(["from", "to"], {
                        "from": {"type": "array", "items": _PROBABILITY, "minItems": 2},
                        "to": {"type": "array", "items": _PROBABILITY, "minItems": 2},
                    }),
                },
                "description": "probabilities = softmax(logits / temperature), then the top probability mapped by "
                               "confidence_map (piecewise linear; from and to: the same length 2..64, from strictly "
                               "increasing in (0, 1], to non-decreasing; edge_runtime.confidence); other keys: the fit report",
            },
        ]},
        "manifest_sha256": _SHA256,
    }),
}


class SchemaError(EdgeError):
    """A manifest value that breaks the schema; ``where`` is its path (``tokenizer.truncation.rule``)."""

    def __init__(self, where: str, message: str, *, expected: object = None, found: object = None) -> None:
        self.where = where
        super().__init__(f"{where or 'the manifest'} {message}", expected=expected, found=found)


def validate(manifest: Any, schema: dict[str, Any] = SCHEMA) -> None:
    """Raise :class:`SchemaError` at the first value of ``manifest`` that breaks ``schema``."""
    _check(manifest, schema, "", 0)


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxdict, _REPR.maxlist, _REPR.maxstring, _REPR.maxother = 2, 3, 3, 40, 40


def _show(value: Any) -> str:
    """A short repr, however long or deep the value."""
    return _REPR.repr(value)


# JSON type names of the values json.loads makes; bool before int (a bool is an int in Python).
_JSON_TYPES = ((type(None), "null"), (bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
               (list, "array"), (dict, "object"))


def _type_of(value: Any) -> str:
    return next((name for kind, name in _JSON_TYPES if isinstance(value, kind)), type(value).__name__)


def _has_type(value: Any, name: str) -> bool:
    found = _type_of(value)
    return found == name or (name == "number" and found == "integer")


def _child(where: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else key


def _check(value: Any, schema: dict[str, Any], where: str, depth: int) -> None:
    if isinstance(value, (dict, list)) and depth >= MAX_DEPTH:
        raise SchemaError(where, "nests too deep", expected=f"at most {MAX_DEPTH} levels", found="more")
    if "anyOf" in schema:
        errors = []
        for option in schema["anyOf"]:
            try:
                _check(value, option, where, depth)
                return
            except SchemaError as error:
                errors.append(error)
        # the option of the value's own type explains best; else the first
        best = next((e for e, o in zip(errors, schema["anyOf"]) if _has_type(value, o.get("type", ""))), errors[0])
        raise best
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else types
        if not any(_has_type(value, name) for name in names):
            raise SchemaError(where, "has the wrong type", expected=" or ".join(names), found=f"{_type_of(value)} {_show(value)}")
    if "const" in schema and (value != schema["const"] or _type_of(value) != _type_of(schema["const"])):
        raise SchemaError(where, "has the wrong value", expected=repr(schema["const"]), found=_show(value))
    if "enum" in schema and not any(value == e and _type_of(value) == _type_of(e) for e in schema["enum"]):
        raise SchemaError(where, "is not a known value", expected=" | ".join(map(str, schema["enum"])), found=_show(value))
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            raise SchemaError(where, "is too short", expected=f"at least {schema['minLength']} character(s)", found=_show(value))
        if "pattern" in schema and not re.search(schema["pattern"], value):
            raise SchemaError(where, "is malformed", expected=f"text matching {schema['pattern']}", found=_show(value))
    if _has_type(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            raise SchemaError(where, "is out of range", expected=f">= {schema['minimum']}", found=_show(value))
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            raise SchemaError(where, "is out of range", expected=f"> {schema['exclusiveMinimum']}", found=_show(value))
        if "maximum" in schema and value > schema["maximum"]:
            raise SchemaError(where, "is out of range", expected=f"<= {schema['maximum']}", found=_show(value))
        if isinstance(value, float) and not math.isfinite(value):
            raise SchemaError(where, "is not a finite number", found=_show(value))
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            raise SchemaError(where, "has too few items", expected=f"at least {schema['minItems']}", found=len(value))
        if schema.get("uniqueItems"):
            seen = [json.dumps(item, sort_keys=True) for item in value]
            duplicate = next((value[i] for i, item in enumerate(seen) if item in seen[:i]), None)
            if len(set(seen)) != len(seen):
                raise SchemaError(where, "has a duplicate item", expected="unique items", found=_show(duplicate))
        for index, item in enumerate(value):
            _check(item, schema.get("items", {}), _child(where, index), depth + 1)
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        missing = [key for key in schema.get("required", ()) if key not in value]
        if missing:
            raise SchemaError(where, "lacks required keys", expected=", ".join(schema["required"]), found=f"missing {', '.join(missing)}")
        extra = schema.get("additionalProperties", {})
        for key, item in value.items():
            if key in properties:
                _check(item, properties[key], _child(where, key), depth + 1)
            elif extra is False:
                raise SchemaError(_child(where, key), "is not a known key", expected=", ".join(properties), found=_show(key))
            else:
                _check(item, extra, _child(where, key), depth + 1)


if __name__ == "__main__":
    print(json.dumps(SCHEMA, indent=2))
