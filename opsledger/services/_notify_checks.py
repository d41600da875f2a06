"""Checks behind :func:`~opsledger.services.notify_config.load_notify_config`: each returns
the value or ``None`` after adding ``(key, value, why)`` to ``problems``; secrets are read
here (from ``env`` or a file) and never quoted: a problem names the variable or the path."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["LOOPBACK", "Problems", "check_duration", "check_name", "check_names",
           "check_time", "check_url", "entries", "read_secret", "redact_url", "table",
           "unknown", "when"]

Problems = list[tuple[str, object, str]]

#: Hosts a plain ``http://`` URL may name (a receiver on this machine).
LOOPBACK = ("127.0.0.1", "localhost", "::1")
MAX_URL_CHARS = 2048
MAX_SECRET_BYTES = 64 * 1024
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_DURATION = re.compile(r"([0-9]{1,7})(s|m|h|d)")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_CONTROL = re.compile(r"[\x00-\x20\x7f-\x9f]")
_ID_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_DAILY = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-3]):([0-5][0-9])")
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def check_name(problems: Problems, key: str, value: object) -> str | None:
    """A channel's or route's name: letters, digits, ``-`` and ``_``, 1..64 of them."""
    if isinstance(value, str) and _NAME.fullmatch(value):
        return value
    problems.append((key, value, "a name is 1 to 64 letters, digits, '-' or '_'"))
    return None


def check_names(problems: Problems, key: str, value: object,
                allowed: tuple[str, ...] | None) -> frozenset[str] | None:
    """A non-empty list of strings, each in ``allowed`` (``None``: any id of 1..256
    characters without control characters)."""
    if not isinstance(value, list) or not value:
        problems.append((key, value, "a non-empty list of strings (leave the key out to "
                                     "match any)"))
        return None
    good = True
    for item in value:
        if allowed is not None and item not in allowed:
            problems.append((key, item, f"not one of {', '.join(allowed)}"))
            good = False
        elif not isinstance(item, str) or not 1 <= len(item) <= 256 or \
                _ID_CONTROL.search(item):
            problems.append((key, item, "an id is 1 to 256 characters, none of them a "
                                        "control character"))
            good = False
    return frozenset(value) if good else None


def check_duration(problems: Problems, key: str, value: object, low: timedelta,
                   high: timedelta) -> timedelta | None:
    """``"30s"``, ``"10m"``, ``"24h"``, ``"2d"`` within ``[low, high]``."""
    found = _DURATION.fullmatch(value) if isinstance(value, str) else None
    if found is None:
        problems.append((key, value, 'a duration: a whole number and s, m, h or d ("30s", '
                                     '"10m", "24h", "2d")'))
        return None
    duration = timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})
    if not low <= duration <= high:
        problems.append((key, value, f"must lie between {_say(low)} and {_say(high)}"))
        return None
    return duration


def _say(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def check_time(problems: Problems, key: str, value: object) -> datetime | None:
    """An RFC 3339 time with ``Z`` or an offset (a TOML datetime or a string), in
    2000-2100; returned in UTC."""
    moment: object = value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
    if not isinstance(moment, datetime) or moment.tzinfo is None or \
            moment.utcoffset() is None:
        problems.append((key, str(value), 'an RFC 3339 time with Z or an offset '
                                          '("2026-12-05T02:00:00Z")'))
        return None
    moment = moment.astimezone(UTC)
    if not _EARLIEST <= moment < _LATEST:
        problems.append((key, str(value), "must lie in 2000-2100 UTC"))
        return None
    return moment


def redact_url(url: str) -> str:
    """A URL that is itself a secret (a Slack webhook), shown as its scheme and host."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}/…" if parts.scheme else "…"


def check_url(problems: Problems, key: str, value: object, shown: object) -> str | None:
    """An ``https`` URL, or ``http`` to this machine only; a problem quotes ``shown``
    (the URL itself, or where a secret URL came from)."""
    if not isinstance(value, str) or not value:
        problems.append((key, shown, "a URL (a string)"))
        return None
    if len(value) > MAX_URL_CHARS or _CONTROL.search(value):
        problems.append((key, shown, f"a URL of at most {MAX_URL_CHARS} characters, without "
                                     "spaces or control characters"))
        return None
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError:
        problems.append((key, shown, "not a URL"))
        return None
    if parts.scheme == "https" and host:
        return value
    if parts.scheme == "http" and host in LOOPBACK:
        return value
    why = ("http is allowed only to 127.0.0.1, localhost or ::1 (a receiver on this "
           "machine); use https" if parts.scheme == "http" else "must be an https URL")
    problems.append((key, shown, why))
    return None


def read_secret(problems: Problems, prefix: str, entry: Mapping[str, Any], base: str,
                env: Mapping[str, str], base_dir: Path | None) -> str | None:
    """The secret named by ``<base>_env`` (a variable of ``env``) or ``<base>_file`` (a
    file, relative to ``base_dir``): exactly one of them. Problems quote the variable's
    name or the path, never what they hold."""
    env_key, file_key = f"{base}_env", f"{base}_file"
    given = [k for k in (env_key, file_key) if k in entry]
    if len(given) != 1:
        why = "give only one of" if given else "required: give one of"
        problems.append((f"{prefix}.{base}", None, f"{why} {env_key} or {file_key}"))
        return None
    key, where = f"{prefix}.{given[0]}", entry[given[0]]
    if given[0] == env_key:
        if not isinstance(where, str) or not _ENV_NAME.fullmatch(where):
            problems.append((key, where, "the name of an environment variable"))
            return None
        if where not in env:
            problems.append((key, where, "not set in the environment"))
            return None
        secret = env[where].strip()
    else:
        if not isinstance(where, str) or not where or "\x00" in where:
            problems.append((key, where, "a file path"))
            return None
        path = Path(where).expanduser()
        path = base_dir / path if base_dir is not None and not path.is_absolute() else path
        try:
            with path.open("rb") as handle:
                raw = handle.read(MAX_SECRET_BYTES + 1)
        except OSError as exc:
            problems.append((key, where, f"cannot be read: {exc.strerror or type(exc).__name__}"))
            return None
        if len(raw) > MAX_SECRET_BYTES:
            problems.append((key, where, f"larger than {MAX_SECRET_BYTES // 1024} KiB"))
            return None
        try:
            secret = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            problems.append((key, where, "not UTF-8 text"))
            return None
    if not secret:
        problems.append((key, where, "is empty"))
        return None
    if _CONTROL.search(secret):
        problems.append((key, where, "holds spaces or control characters (one line expected)"))
        return None
    return secret


def table(problems: Problems, data: dict[str, Any], key: str) -> dict[str, Any]:
    """``data[key]`` if it is a table (missing: an empty one)."""
    value = data.get(key, {})
    if isinstance(value, dict):
        return value
    problems.append((key, None, "a table"))
    return {}


def entries(problems: Problems, data: dict[str, Any], section: str,
             most: int) -> list[tuple[str, dict[str, Any]]]:
    """The named tables of ``[section.NAME]`` (at most ``most``) with good names."""
    named = table(problems, data, section)
    if len(named) > most:
        problems.append((section, len(named), f"at most {most} entries"))
    found = []
    for name, entry in list(named.items())[:most]:
        if not isinstance(entry, dict):
            problems.append((f"{section}.{name}", None, "a table"))
        elif check_name(problems, f"{section}.{name}", name) is not None:
            found.append((name, entry))
    return found


def unknown(problems: Problems, prefix: str, entry: dict[str, Any],
             known: tuple[str, ...]) -> None:
    """A problem for each key of ``entry`` not in ``known`` (its value never quoted: a
    misspelt key may hold a secret)."""
    for key in entry:
        if key in ("secret", "routing_key"):  # never quoted: it may be the secret itself
            problems.append((f"{prefix}.{key}", None, f"a secret is never written in the "
                                                      f"config: use {key}_env or {key}_file"))
        elif key not in known:
            problems.append((f"{prefix}.{key}", None, f"unknown key (known: {', '.join(known)})"))


def when(problems: Problems, prefix: str, entry: dict[str, Any]
          ) -> tuple[tuple[time, time] | None, tuple[datetime, datetime] | None]:
    """Quiet hours (``daily``) or a maintenance window (``start`` and ``end``)."""
    if "daily" in entry and {"start", "end"} & entry.keys():
        problems.append((prefix, None, "either daily (quiet hours) or start and end (a "
                                       "maintenance window), not both"))
    elif "daily" in entry:
        raw = entry["daily"]
        found = _DAILY.fullmatch(raw) if isinstance(raw, str) else None
        if found is None or found.group(1, 2) == found.group(3, 4):
            problems.append((f"{prefix}.daily", raw, '"HH:MM-HH:MM" in UTC, two different '
                                                     'times (an end before the start crosses '
                                                     'midnight)'))
            return None, None
        h1, m1, h2, m2 = (int(g) for g in found.groups())
        return (time(h1, m1), time(h2, m2)), None
    elif "start" in entry and "end" in entry:
        start = check_time(problems, f"{prefix}.start", entry["start"])
        end = check_time(problems, f"{prefix}.end", entry["end"])
        if start is not None and end is not None:
            if end > start:
                return None, (start, end)
            problems.append((f"{prefix}.end", str(entry["end"]), "must be after start"))
    else:
        problems.append((prefix, None, 'needs daily = "HH:MM-HH:MM" (quiet hours) or both '
                                       "start and end (a maintenance window)"))
    return None, None
