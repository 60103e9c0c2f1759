"""SendGrid's Mail Send request schema, from its official OpenAPI file, and the documented rules.

``validate(body)`` returns SendGrid-shaped errors (``{"message", "field", "help"}``) for a
``POST /v3/mail/send`` body, empty when SendGrid would take it: first the request schema of
``tests/sendgrid/tsg_mail_v3.json`` (Draft 2020-12 with jsonschema, its $refs resolved with
referencing, its known faults patched in memory: see ``tests/sendgrid/README.md``), then the
cross-field rules the file does not express.

``validate(body, fast=True)`` reaches the same verdict faster for big batches (see
``fast_is_valid``); tests prove the two agree.
"""

from __future__ import annotations

import copy
import json
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

SPEC = Path(__file__).parent / "sendgrid" / "tsg_mail_v3.json"
SPEC_URI = "urn:sendgrid-oai:tsg_mail_v3.json"
SCHEMA_POINTER = "#/components/requestBodies/PostMailSend/content/application~1json/schema"
MAX_RECIPIENTS = 1000
MAX_ARGS_BYTES = 10_000
MAX_BODY_BYTES = 30 * 1024 * 1024
RESERVED_HEADERS = {
    "x-sg-id", "x-sg-eid", "received", "dkim-signature", "content-type",
    "content-transfer-encoding", "to", "from", "subject", "reply-to", "cc", "bcc",
}  # fmt: skip
FROM_REQUIRED = (
    "The from object must be provided for every email send. It is an object that requires the "
    "email parameter, but may also contain a name parameter."
)
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}


def _patch(document: dict[str, Any]) -> dict[str, Any]:
    """Fix, in memory, the faults SOURCE.md lists in the official file."""
    document = copy.deepcopy(document)
    body = document["components"]["requestBodies"]["PostMailSend"]["content"]["application/json"]
    props = body["schema"]["properties"]
    # 1. top-level custom_args is an object of string -> string, not a string
    props["custom_args"] = {**STRING_MAP, "description": props["custom_args"]["description"]}
    personal = props["personalizations"]["items"]["properties"]
    # 2. per-personalization custom_args: string values; byte limits are checked in code
    personal["custom_args"] = {**STRING_MAP, "description": personal["custom_args"]["description"]}
    personal["substitutions"].pop("maxProperties")
    # 3. at least one personalization
    props["personalizations"]["minItems"] = 1
    return document


@cache
def document() -> dict[str, Any]:
    return _patch(json.loads(SPEC.read_text()))


@cache
def validator(pointer: str = SCHEMA_POINTER) -> Draft202012Validator:
    """A validator for the schema at ``pointer`` in the patched file, its $refs resolved."""
    registry = Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(document()))
    return Draft202012Validator(
        {"$ref": SPEC_URI + pointer},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


# The fast path. A personalization's verdict under these keywords depends only on the JSON
# types, the string lengths, whether strings contain "@" (jsonschema's "email" format check),
# array lengths and object keys: ``_shape`` keeps exactly those, so a batch of 1000
# personalizations usually needs a single schema validation instead of 1000.
SHAPE_KEYWORDS = {
    "type", "properties", "items", "required", "format", "minLength", "maxLength", "minItems",
    "maxItems", "additionalProperties", "maxProperties", "$ref", "description", "title",
}  # fmt: skip
ITEM_POINTER = SCHEMA_POINTER + "/properties/personalizations/items"


def _resolve(pointer: str) -> Any:
    node: Any = document()
    for part in pointer.lstrip("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _keywords(schema: Any, seen: set[str]) -> tuple[set[str], set[str]]:
    """Every keyword and every format used by ``schema`` and what it refers to."""
    if not isinstance(schema, dict):
        return set(), set()
    keywords, formats = set(schema), {schema["format"]} if "format" in schema else set()
    children = list(schema.get("properties", {}).values())
    children += [schema[k] for k in ("items", "additionalProperties") if k in schema]
    ref = schema.get("$ref")
    if ref and ref not in seen:
        seen.add(ref)
        children.append(_resolve(ref))
    for child in children:
        more_keywords, more_formats = _keywords(child, seen)
        keywords |= more_keywords
        formats |= more_formats
    return keywords, formats


@cache
def shape_is_enough() -> bool:
    keywords, formats = _keywords(_resolve(ITEM_POINTER), set())
    array = _resolve(SCHEMA_POINTER + "/properties/personalizations")
    return keywords <= SHAPE_KEYWORDS and formats <= {"email"} and "$ref" not in array


def _shape(value: Any) -> tuple[Any, ...]:
    """What the schema can see of ``value``, hashable: kinds, lengths, "@", keys."""
    kind = type(value)
    if kind is str:
        return ("s", len(value), "@" in value)
    if kind is dict:
        return ("d", tuple((key, _shape(item)) for key, item in value.items()))
    if kind is list:
        return ("l", tuple(_shape(item) for item in value))
    if kind is float:
        return ("f", value.is_integer())
    if kind is int:
        return ("i",)
    return ("v", value)  # True, False, None


def _stand_in(shape: tuple[Any, ...]) -> Any:
    """A JSON value with that shape."""
    kind = shape[0]
    if kind == "s":
        return ("@" if shape[2] else "x") * shape[1]
    if kind == "d":
        return {key: _stand_in(item) for key, item in shape[1]}
    if kind == "l":
        return [_stand_in(item) for item in shape[1]]
    if kind == "f":
        return 1.0 if shape[1] else 0.5
    return 1 if kind == "i" else shape[1]


@cache
def _array_validator() -> Draft202012Validator:
    array = _resolve(SCHEMA_POINTER + "/properties/personalizations")
    return Draft202012Validator({k: v for k, v in array.items() if k != "items"})


@lru_cache(maxsize=4096)
def _shape_valid(shape: tuple[Any, ...]) -> bool:
    return bool(validator(ITEM_POINTER).is_valid(_stand_in(shape)))


def fast_is_valid(body: Any) -> bool:
    """The schema's verdict on ``body``, validating each distinct personalization shape once."""
    items = body.get("personalizations") if isinstance(body, dict) else None
    if not shape_is_enough() or not isinstance(items, list) or not items:
        return bool(validator().is_valid(body))
    if not _array_validator().is_valid(items):  # the array itself: minItems, maxItems, ...
        return False
    stand_in = {**body, "personalizations": [{"to": [{"email": "a@example.org"}]}]}
    if not validator().is_valid(stand_in):  # everything outside the personalizations
        return False
    return all(_shape_valid(_shape(item)) for item in items)


def error_entry(message: str, field: str | None = None) -> dict[str, Any]:
    return {"message": message, "field": field, "help": None}


def _schema_message(error: Any, path: str) -> str:
    """SendGrid's documented wording where there is one, jsonschema's otherwise."""
    if error.validator == "required" and not path and "'from'" in error.message:
        return FROM_REQUIRED
    if path == "personalizations" and error.validator == "minItems":
        return "You must have at least one personalization."
    if path == "personalizations" and error.validator == "maxItems":
        return (
            "The personalization block is limited to 1000 personalizations per API request. "
            f"You have provided {len(error.instance)} personalizations. Please consider "
            "splitting this into multiple requests and resending your request."
        )
    return str(error.message)


def schema_errors(body: Any) -> list[dict[str, Any]]:
    found = []
    for error in sorted(validator().iter_errors(body), key=lambda e: list(map(str, e.path))):
        path = ".".join(str(p) for p in error.absolute_path)
        message = _schema_message(error, path)
        if len(message) > 300:  # jsonschema quotes the whole instance
            message = message[:300] + "..."
        found.append(error_entry(message, path or None))
    return found


def _bytes(mapping: dict[str, Any]) -> int:
    """UTF-8 bytes of keys and values (counted only when they could reach the limits)."""
    if sum(len(str(k)) + len(str(v)) for k, v in mapping.items()) * 4 < MAX_ARGS_BYTES:
        return 0
    return sum(len(str(k).encode()) + len(str(v).encode()) for k, v in mapping.items())


def _personalization_errors(body: dict[str, Any]) -> list[dict[str, Any]]:
    errors, seen, total = [], set(), 0
    custom_args = body.get("custom_args")
    top_args: dict[str, Any] = custom_args if isinstance(custom_args, dict) else {}
    for index, entry in enumerate(body["personalizations"]):
        for kind in ("to", "cc", "bcc"):
            for address in entry.get(kind, []):
                total += 1
                email = str(address.get("email", "")).lower()
                if email in seen:
                    errors.append(
                        error_entry(
                            "Each unique email address in the personalizations array should "
                            "only be included once. You have included [" + email + "] more "
                            "than once.",
                            f"personalizations.{index}.{kind}",
                        )
                    )
                seen.add(email)
        if _bytes(entry.get("substitutions", {})) >= MAX_ARGS_BYTES:
            errors.append(
                error_entry("substitutions exceed 10,000 bytes", f"personalizations.{index}")
            )
        if _bytes({**top_args, **entry.get("custom_args", {})}) >= MAX_ARGS_BYTES:
            errors.append(
                error_entry("custom_args exceed 10,000 bytes", f"personalizations.{index}")
            )
        errors += _header_errors(entry.get("headers", {}), f"personalizations.{index}.headers")
    if total > MAX_RECIPIENTS:
        errors.append(
            error_entry(
                "There is a limit of 1000 total recipients (to + cc + bcc) per request.",
                "personalizations",
            )
        )
    return errors


def _header_errors(headers: dict[str, Any], where: str) -> list[dict[str, Any]]:
    errors = []
    for name, value in headers.items():
        if name.lower() in RESERVED_HEADERS:
            errors.append(error_entry(f"The {name} header cannot be set", where))
        if not isinstance(value, str):
            errors.append(error_entry("Invalid type. Expected: string", f"{where}.{name}"))
    return errors


def rule_errors(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The cross-field rules of the docs (only run on a body the schema accepted)."""
    errors = _personalization_errors(body)
    if "template_id" not in body and not body.get("content"):
        errors.append(
            error_entry(
                "Unless a valid template_id is provided, the content parameter is required. "
                "There must be at least one defined content block.",
                "content",
            )
        )
    every_has_subject = all(p.get("subject") for p in body["personalizations"])
    if not body.get("subject") and "template_id" not in body and not every_has_subject:
        errors.append(
            error_entry(
                "The subject is required. You can get around this requirement if you use a "
                "template with a subject defined or if every personalization has a subject "
                "defined.",
                "subject",
            )
        )
    if "reply_to" in body and "reply_to_list" in body:
        errors.append(error_entry("reply_to and reply_to_list cannot both be used", "reply_to"))
    if any(not c.isascii() for c in body.get("categories", [])):
        errors.append(error_entry("categories must be US-ASCII", "categories"))
    errors += _header_errors(body.get("headers", {}), "headers")
    return errors


def validate(body: Any, *, fast: bool = False) -> list[dict[str, Any]]:
    """SendGrid-shaped errors for a request body; empty when SendGrid would take it."""
    errors = [] if fast and fast_is_valid(body) else schema_errors(body)
    return errors or rule_errors(body)
