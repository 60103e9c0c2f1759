"""The issue file as a form: read it into fields, and write submitted fields back with tomlkit.

Only what the person changed is written: a field whose value is the file's stays untouched, and
so does a field the submitted form does not carry (``carried``), so comments, key order and the
layout of everything else survive a save (git shows one line changed for one field changed).
Values are written as typed (a limit of ``"ten"`` stays a string), so the loader
(``saving.validate``) reports the same error the CLI gives.

The form's field names are the loader's field paths (``subject``, ``sections[1].limit``), so an
error's ``field`` names the control it belongs to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Table

from newsletter.errors import IssueFileError
from newsletter.issues.file import SectionSpec

TOP_FIELDS = ("title", "subject", "preheader", "intro", "outro")
MULTILINE = frozenset({"intro", "outro"})
LIST_FIELDS = ("categories", "tags", "pin", "exclude")
SECTION_FIELDS: tuple[str, ...] = ("title", "intro", "categories", "tags", "limit", "order")
SECTION_FIELDS += ("display", "pin", "exclude")
ORDERS = ("newest", "oldest", "title")
DISPLAYS = ("summary", "full")
MAX_SECTIONS = 30
MAX_LIST = 200  # names in one categories/tags/pin/exclude field
_DEFAULTS: dict[str, Any] = {
    name: info.default for name, info in SectionSpec.model_fields.items() if name != "title"
}


@dataclass
class SectionForm:
    title: str = ""
    intro: str = ""
    categories: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    limit: str = "10"  # as typed: the loader says what is wrong with it
    order: str = "newest"
    display: str = "summary"
    pin: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    origin: int | None = None  # which [[sections]] table of the file this is (None: new)
    carried: frozenset[str] | None = None  # the fields submitted (None: every field)


@dataclass
class IssueForm:
    title: str = ""
    subject: str = ""
    preheader: str = ""
    intro: str = ""
    outro: str = ""
    sections: list[SectionForm] = field(default_factory=list)
    # shown, not edited here: the period and template (the file), send_at (the send page)
    quarter: str = ""
    template: str = ""
    carried: frozenset[str] | None = None  # the top fields submitted (None: every field)

    def section(self, index: int) -> SectionForm:
        return self.sections[index]


def parse(text: str, *, name: str = "issue file") -> tomlkit.TOMLDocument:
    try:
        return tomlkit.parse(text)
    except TOMLKitError as exc:
        raise IssueFileError(name, f"TOML syntax error: {exc}") from exc


def read_form(text: str, *, name: str = "issue file") -> IssueForm:
    """The file's values as form fields (IssueFileError when it is not TOML)."""
    data = parse(text, name=name).unwrap()
    form = IssueForm(
        quarter=_text(data.get("quarter") or _period_text(data)),
        template=_text(data.get("template", "quarterly")),
    )
    for key in TOP_FIELDS:
        setattr(form, key, _text(data.get(key, "")))
    sections = data.get("sections")
    for index, raw in enumerate(sections if isinstance(sections, list) else []):
        if not isinstance(raw, dict):
            continue
        form.sections.append(
            SectionForm(
                origin=index,
                title=_text(raw.get("title", "")),
                intro=_text(raw.get("intro", "")),
                limit=_text(raw.get("limit", 10)),
                order=_text(raw.get("order", "newest")),
                display=_text(raw.get("display", "summary")),
                categories=_names(raw.get("categories")),
                tags=_names(raw.get("tags")),
                pin=_names(raw.get("pin")),
                exclude=_names(raw.get("exclude")),
            )
        )
    return form


def from_fields(fields: Mapping[str, str]) -> IssueForm:
    """The form as submitted (``sections`` says how many sections it has)."""
    count = _count(fields.get("sections", "0"))
    form = IssueForm(
        quarter=fields.get("quarter", ""),
        template=fields.get("template", ""),
        carried=frozenset(key for key in TOP_FIELDS if key in fields),
    )
    for key in TOP_FIELDS:
        setattr(form, key, _field(fields, key, key in MULTILINE))
    for index in range(count):
        prefix = f"sections[{index}]."
        origin = fields.get(prefix + "origin", "")
        form.sections.append(
            SectionForm(
                origin=int(origin) if origin.isdigit() else None,
                title=_field(fields, prefix + "title"),
                intro=_field(fields, prefix + "intro", multiline=True),
                limit=_field(fields, prefix + "limit").strip(),
                order=_field(fields, prefix + "order") or "newest",
                display=_field(fields, prefix + "display") or "summary",
                **{key: split_names(fields.get(prefix + key, "")) for key in LIST_FIELDS},
                carried=frozenset(key for key in SECTION_FIELDS if prefix + key in fields),
            )
        )
    return form


def to_fields(form: IssueForm) -> dict[str, str]:
    """What the editor page submits for ``form``: the inverse of ``from_fields``."""
    fields = {key: getattr(form, key) for key in TOP_FIELDS}
    fields["sections"] = str(len(form.sections))
    for index, section in enumerate(form.sections):
        prefix = f"sections[{index}]."
        fields[prefix + "origin"] = "" if section.origin is None else str(section.origin)
        for key in ("title", "intro", "limit", "order", "display"):
            fields[prefix + key] = getattr(section, key)
        for key in LIST_FIELDS:
            fields[prefix + key] = ", ".join(getattr(section, key))
    return fields


def split_names(value: str) -> list[str]:
    """``"research, events"`` -> ``["research", "events"]`` (commas or new lines)."""
    names = [part.strip() for part in value.replace("\n", ",").split(",")]
    return [name for name in names if name][:MAX_LIST]


def apply_form(text: str, form: IssueForm, *, name: str = "issue file") -> str:
    """The file's text with the form's values: only changed values are rewritten."""
    document = parse(text, name=name)
    for key in TOP_FIELDS:
        if form.carried is None or key in form.carried:
            _put(document, key, getattr(form, key), default="", multiline=key in MULTILINE)
    found = document.get("sections")
    tables = list(found) if isinstance(found, AoT) else []
    origins = [section.origin for section in form.sections]
    if isinstance(found, AoT) and origins == list(range(len(tables))):
        for table, section in zip(tables, form.sections, strict=True):
            _put_section(table, section)  # the usual case: sections edited in place
        return tomlkit.dumps(document)
    rebuilt = tomlkit.aot()  # sections added, removed or moved: each keeps its own table
    taken: set[int] = set()
    for section in form.sections:
        origin = section.origin
        if origin is not None and 0 <= origin < len(tables) and origin not in taken:
            taken.add(origin)
            table = tables[origin]
        else:
            table = tomlkit.table()
        _put_section(table, section)
        rebuilt.append(table)
    document["sections"] = rebuilt
    return tomlkit.dumps(document)


def with_section_change(form: IssueForm, index: int, **changes: Any) -> IssueForm:
    """A copy of the form with one section changed (the post picker's buttons)."""
    sections = list(form.sections)
    carried = sections[index].carried
    if carried is not None:
        carried = carried | frozenset(changes)
    sections[index] = replace(sections[index], carried=carried, **changes)
    return replace(form, sections=sections)


def _put_section(table: Table, section: SectionForm) -> None:
    carried = section.carried if section.carried is not None else SECTION_FIELDS
    limit: int | str = int(section.limit) if section.limit.isdigit() else section.limit
    values: dict[str, Any] = {"limit": limit}
    for key in SECTION_FIELDS:
        if key not in carried:
            continue  # not on the submitted form: the file's value stays
        value = values.get(key, getattr(section, key))
        _put(table, key, value, default=_section_default(key), multiline=key == "intro")


def _section_default(key: str) -> Any:
    """What a section means when the key is absent (an absent title is never the default)."""
    if key in LIST_FIELDS:
        return []
    return {"title": None, "intro": ""}.get(key, _DEFAULTS.get(key))


def _put(container: Any, key: str, value: Any, *, default: Any, multiline: bool = False) -> None:
    """Write ``value`` under ``key`` unless the file already says it (or, when the key is
    absent, unless it is the default)."""
    if key in container:
        current = container[key]
        current = current.unwrap() if hasattr(current, "unwrap") else current
        if current == value:
            return
    elif value == default:
        return
    container[key] = _item(value, multiline=multiline)


def _item(value: Any, *, multiline: bool) -> Any:
    if isinstance(value, str) and multiline and "\n" in value:
        # written as the sample files are: the text starts on the line after the quotes (a new
        # line right after the opening quotes is not part of the value in TOML)
        raw = tomlkit.string(value, multiline=True).as_string()
        if not value.startswith("\n"):
            raw = raw[:3] + "\n" + raw[3:]
        return tomlkit.parse(f"x = {raw}\n")["x"]
    if isinstance(value, list):
        array = tomlkit.array()
        array.extend(value)
        return array
    return value


def _text(value: object) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _names(value: object) -> list[str]:
    return [_text(v) for v in value] if isinstance(value, list) else []


def _period_text(data: Mapping[str, Any]) -> str:
    start, end = data.get("from"), data.get("until")
    return f"{start} to {end}" if start and end else ""


def _field(fields: Mapping[str, str], key: str, multiline: bool = False) -> str:
    value = fields.get(key, "")
    return value.replace("\r\n", "\n").replace("\r", "\n") if multiline else value


def _count(value: str) -> int:
    return min(int(value), MAX_SECTIONS) if value.isdigit() else 0
