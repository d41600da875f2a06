"""Where dangerous data leaves as files: names derived from ids, confined to the output
folder, and the markdown escaping of data (HTML is escaped by the templates' autoescape).

Ids come from outside (import lines, CLI arguments) and may hold ``../``, ``/``, quotes,
markup or hundreds of characters. A file name made from one is a short slug of its safe
characters plus a hash of the whole id (distinct ids never share a name), and every path
written is resolved and checked to lie inside the resolved output folder.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import Path

from opsledger.domain.errors import UnsafeOutputPath
from opsledger.store.files import open_private, write_private

__all__ = ["UnsafeOutputPath", "confined", "markdown_text", "open_private", "safe_file_name",
           "visible_controls", "write_private"]  # the private-file writers: for the CLI's outputs

#: Characters of an id kept in its file-name slug (the rest become ``-``).
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
#: Longest slug kept from an id; the full id is represented by the hash.
SLUG_CHARS = 40
#: Hex digits of the id's SHA-256 in the name (64 bits: collisions are not a concern).
HASH_CHARS = 16
#: What a terminal (or a font) would act on instead of showing: C0 controls (ESC
#: included), DEL, C1 controls, bidirectional overrides/isolates/marks, line separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029"
                      "\u202a-\u202e\u2066-\u2069]")
#: Characters markdown (or HTML inside markdown) gives a meaning to.
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#!|~])")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible_controls(text: str) -> str:
    """``text`` with every control character (C0, ESC, DEL, C1, bidi overrides, line
    separators) replaced by a visible ``\\x..``/``\\u....`` escape."""
    return _CONTROL.sub(_visible, text)


def safe_file_name(identity: str, suffix: str) -> str:
    """A file name for data about ``identity`` (any string) ending in ``-{suffix}``: the
    id's safe characters (at most :data:`SLUG_CHARS`, no leading dot) and a hash of the
    whole id, so it never leaves the folder, never grows long, and never collides."""
    ascii_id = unicodedata.normalize("NFKD", identity).encode("ascii", "ignore").decode()
    slug = _UNSAFE.sub("-", ascii_id).strip(".-")[:SLUG_CHARS].strip(".-") or "id"
    digest = hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()
    suffix_slug = _UNSAFE.sub("-", suffix).strip(".-") or "file"
    return f"{slug}-{digest[:HASH_CHARS]}-{suffix_slug}"


def confined(folder: Path, name: str) -> Path:
    """``folder / name`` resolved, refused with :class:`UnsafeOutputPath` unless it is a
    direct child of the resolved ``folder``."""
    root = folder.resolve()
    target = (root / name).resolve()
    if target.parent != root or not name or Path(name).name != name:
        raise UnsafeOutputPath(name, root)
    return target


def markdown_text(value: object) -> str:
    """``value`` as literal markdown text: markdown punctuation backslash-escaped, ``<``
    ``>`` ``&`` as entities, line breaks as spaces (a table cell stays one cell)."""
    text = "-" if value is None else str(value)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = re.sub(r"[\r\n\u2028\u2029]+", " ", text)
    return _MARKDOWN.sub(r"\\\1", text)
