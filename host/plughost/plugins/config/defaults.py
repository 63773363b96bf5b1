"""Schema `default`s filled into a config: followed through `$ref` and `allOf`, into nested objects and
array items (an object property without a default is filled when its own properties have some)."""

from __future__ import annotations

import copy
from typing import Any

_MISSING = object()
_MAX_DEPTH = 32  # schema nesting followed; deeper is left as given (the validator reports what matters)


def _lookup(node: dict[str, Any], resolver: Any) -> tuple[dict[str, Any], Any] | None:
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return None
    from referencing.exceptions import Unresolvable  # here: only a plugin with a schema needs referencing

    try:
        resolved = resolver.lookup(ref)
    except Unresolvable:
        return None
    return (resolved.contents, resolved.resolver) if isinstance(resolved.contents, dict) else None


def _default_of(node: dict[str, Any], resolver: Any, depth: int) -> Any:
    if "default" in node:
        return node["default"]
    target = _lookup(node, resolver) if depth < _MAX_DEPTH else None
    if target is not None:
        return _default_of(target[0], target[1], depth + 1)
    return _MISSING


def apply_defaults(node: Any, value: Any, resolver: Any, depth: int = 0) -> Any:
    """`value` with the defaults of schema `node` filled in (mutates and returns `value`)."""
    if depth > _MAX_DEPTH or not isinstance(node, dict):
        return value
    target = _lookup(node, resolver)
    if target is not None:
        value = apply_defaults(target[0], value, target[1], depth + 1)
    for sub in node.get("allOf") or []:
        value = apply_defaults(sub, value, resolver, depth + 1)
    if isinstance(value, dict):
        props = node.get("properties")
        if isinstance(props, dict):
            for key, sub in props.items():
                if not isinstance(sub, dict):
                    continue
                if key in value:
                    value[key] = apply_defaults(sub, value[key], resolver, depth + 1)
                    continue
                default = _default_of(sub, resolver, 0)
                if default is not _MISSING:
                    value[key] = apply_defaults(sub, copy.deepcopy(default), resolver, depth + 1)
                else:
                    filled = (
                        apply_defaults(sub, {}, resolver, depth + 1) if _is_object(sub, resolver) else {}
                    )
                    if filled:
                        value[key] = filled
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        value = [apply_defaults(node["items"], v, resolver, depth + 1) for v in value]
    return value


def _is_object(node: dict[str, Any], resolver: Any) -> bool:
    if node.get("type") == "object" or "properties" in node:
        return True
    target = _lookup(node, resolver)
    return target is not None and _is_object(target[0], target[1])
