"""No public read or command returns an untyped shape (issue 14, point 3): the return
annotation of every public method of ``opsledger.Operations`` (each the method of a service
it forwards to) and of every service it composes (:class:`opsledger.services.compose.
Services`) is walked, and ``Any``, ``dict``/``Mapping`` (so ``dict[str, Any]``,
``list[dict[...]]``, ``Iterator[dict]``) anywhere in it fails.

``to_dict`` is exempt: it is the documented JSON view of a typed result."""

from __future__ import annotations

import collections.abc
import dataclasses
import inspect
import typing
from collections.abc import Callable, Iterator
from typing import Any

import opsledger.scheduler.driver

import opsledger
import opsledger.application
import opsledger.results
from opsledger.services.compose import Forward, Services

EXEMPT = frozenset({"to_dict"})
UNTYPED_ORIGINS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)


def _public_classes() -> Iterator[type]:
    yield opsledger.Operations
    hints = typing.get_type_hints(Services)
    for item in dataclasses.fields(Services):
        yield hints[item.name]


def _public_methods(cls: type) -> Iterator[tuple[str, Callable[..., Any]]]:
    for name, value in inspect.getmembers(cls):
        if name.startswith("_") or name in EXEMPT:
            continue
        if isinstance(value, Forward):  # the facade's: the service's own method
            hints = typing.get_type_hints(Services)
            value = getattr(hints[value.service], value.name)
        function = value.fget if isinstance(value, property) else value
        if ((inspect.isfunction(function) or inspect.ismethod(function))
                and function.__module__.startswith("opsledger")):  # not pydantic's own
            yield name, function


def _return_hint(function: Callable[..., Any]) -> Any:
    """The resolved return annotation; names imported only for type checking (the mixins'
    ``Operations``, a result type) resolve in :mod:`opsledger.application` and
    :mod:`opsledger.results`."""
    target = inspect.unwrap(function)
    names = {**vars(opsledger.results), **vars(opsledger.application),
             **vars(opsledger.scheduler.driver)}
    hints = typing.get_type_hints(target, localns=names)
    return hints.get("return", inspect.Signature.empty)


def untyped_parts(hint: Any) -> list[str]:
    """What in ``hint`` is untyped: ``Any``, or a ``dict``/``Mapping`` at any depth."""
    if hint is Any:
        return ["Any"]
    origin = typing.get_origin(hint)
    if hint in UNTYPED_ORIGINS or origin in UNTYPED_ORIGINS:
        return [repr(hint)]
    return [part for arg in typing.get_args(hint) for part in untyped_parts(arg)]


def test_the_walker_finds_untyped_shapes_at_any_depth() -> None:
    assert untyped_parts(dict[str, Any])
    assert untyped_parts(list[dict[str, int]])
    assert untyped_parts(Iterator[dict[str, Any]])
    assert untyped_parts(collections.abc.Mapping[str, int] | None)
    assert untyped_parts(tuple[int, Any])
    assert untyped_parts(dict)
    assert not untyped_parts(tuple[opsledger.TenantState, ...])
    assert not untyped_parts(Iterator[int] | None)
    assert not untyped_parts(None)


def test_the_walk_covers_the_facade_and_the_services() -> None:
    classes = {c.__module__ for c in _public_classes()}
    assert "opsledger.application" in classes
    assert any(m.startswith("opsledger.services.") for m in classes)
    names = {name for name, _ in _public_methods(opsledger.Operations)}
    assert {"slo", "alerts", "incident", "gate_status", "audit", "replay",
            "record_publish", "register_tenant", "open_incident"} <= names


def test_no_public_method_returns_an_untyped_shape() -> None:
    found = []
    for cls in _public_classes():
        for name, function in _public_methods(cls):
            hint = _return_hint(function)
            if untyped_parts(hint):
                found.append(f"{cls.__module__}.{cls.__qualname__}.{name} -> {hint}")
    assert not found, "untyped return annotations:\n" + "\n".join(sorted(set(found)))
