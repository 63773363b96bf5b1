"""`$ref` resolution confined to the plugin folder, the static check of every `$ref`, and the search for
`$ref` loops that validation would follow forever.

Relative `$ref`s resolve under a base URI that cannot be fetched (`.invalid` is reserved) and are mapped to
files inside the plugin folder; an `http(s):`/`file:` (or any other absolute) reference is refused, never
fetched.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urljoin, urlsplit

from plughost.plugins.manifest import Diagnostic, contained_path
from plughost.safefile import loads_json, read_text

BASE_URI = "https://plugin.plughost.invalid/"
_SKIP_KEYWORDS = frozenset({"const", "enum", "default", "examples"})

if TYPE_CHECKING:  # referencing is imported only when a schema is loaded (plugins without one never pay for it)
    from referencing import Resource


class RefRefused(Exception):
    """A `$ref` that would leave the plugin folder. Raised by the retrieve function, never fetched."""


def pointer(parts: Any) -> str:
    """The JSON pointer of a path of keys and indexes."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _refusal(ref: str, target: str) -> str | None:
    scheme = urlsplit(ref).scheme.lower()
    if scheme in ("http", "https") and not target.startswith(BASE_URI):
        return f"remote $ref {ref!r} refused: plughost never fetches schemas; copy it into the plugin folder"
    if scheme == "file":
        return f"file: $ref {ref!r} refused: use a path relative to the schema, inside the plugin folder"
    if not target.startswith(BASE_URI):
        return (
            f"$ref {ref!r} resolves to {target!r}, outside the plugin folder; refused "
            f"(a schema `$id` with an absolute URL makes relative refs remote: remove it)"
        )
    return None


def ref_reason(exc: BaseException) -> str:
    """Why a `$ref` did not resolve: the refusal when one is in the chain of causes."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, RefRefused):
            return str(cause)
        cause = cause.__cause__ or cause.__context__
    return str(exc)


def _iter_refs(node: Any, base: str, path: tuple[str, ...] = ()) -> Iterator[tuple[str, str, str]]:
    """(pointer, $ref, base URI) for every `$ref`/`$dynamicRef` in a schema document."""
    if isinstance(node, dict):
        if isinstance(node.get("$id"), str) and path:
            base = urljoin(base, node["$id"])
        for key in ("$ref", "$dynamicRef"):
            if isinstance(node.get(key), str):
                yield pointer((*path, key)), node[key], base
        for key, value in node.items():
            if key in _SKIP_KEYWORDS:
                continue
            if key in (
                "properties",
                "patternProperties",
                "$defs",
                "definitions",
                "dependentSchemas",
            ) and isinstance(value, dict):
                for k, v in value.items():
                    yield from _iter_refs(v, base, (*path, key, k))
            elif isinstance(value, dict | list):
                yield from _iter_refs(value, base, (*path, key))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _iter_refs(v, base, (*path, str(i)))


def make_retrieve(plugin_dir: Path) -> Any:
    """The registry's retrieve function: files inside `plugin_dir` only."""
    from referencing import Resource
    from referencing.exceptions import NoSuchResource
    from referencing.jsonschema import DRAFT202012

    def retrieve(uri: str) -> Resource[Any]:
        if not uri.startswith(BASE_URI):
            raise RefRefused(
                f"$ref to {uri!r} refused: only files inside the plugin folder can be referenced "
                f"(remote and file: references are never fetched)"
            )
        rel = unquote(urlsplit(uri).path).lstrip("/")
        real, why = contained_path(plugin_dir, rel)
        if real is None:
            raise RefRefused(f"$ref to {rel!r} refused: it {why}")
        try:
            contents = loads_json(read_text(real))
        except FileNotFoundError:
            missing = RefRefused(f"{rel} does not exist in the plugin folder")
            raise NoSuchResource(ref=uri) from missing  # type: ignore[call-arg]
        except (OSError, ValueError) as exc:
            raise RefRefused(f"{rel} is not readable JSON: {exc}") from None
        return Resource.from_contents(contents, default_specification=DRAFT202012)

    return retrieve


def ref_diagnostics(root_uri: str, schema: Any, path: Path, plugin_dir: Path, resolver: Any) -> list[Diagnostic]:
    """Every `$ref` that is remote, leaves the folder, or does not resolve (local files followed)."""
    from referencing.exceptions import Unresolvable

    out: list[Diagnostic] = []
    queue: list[tuple[str, Any, str]] = [(root_uri, schema, str(path))]
    done: set[str] = set()
    while queue:
        doc_uri, doc, file = queue.pop()
        if doc_uri in done:
            continue
        done.add(doc_uri)
        for at, ref, base in _iter_refs(doc, doc_uri):
            target = urljoin(base, ref)
            doc_part = target.split("#", 1)[0]
            why = _refusal(ref, target)
            if why is None:
                ref_path = unquote(urlsplit(ref).path)
                base_path = unquote(urlsplit(base).path).lstrip("/")
                if ref_path and not ref_path.startswith("/"):
                    joined = posixpath.normpath(posixpath.join(posixpath.dirname(base_path), ref_path))
                    if joined.startswith(".."):
                        why = f"$ref {ref!r} leaves the plugin folder; refused"
            if why is not None:
                out.append(Diagnostic("error", "config-ref", why, file, at))
                continue
            try:
                resolver.lookup(target)
                whole = resolver.lookup(doc_part).contents if doc_part not in done else None
            except Unresolvable as exc:
                out.append(
                    Diagnostic(
                        "error",
                        "config-ref",
                        f"$ref {ref!r} does not resolve: {ref_reason(exc)}",
                        file,
                        at,
                    )
                )
                continue
            if whole is not None:
                rel = unquote(urlsplit(doc_part).path).lstrip("/")
                queue.append((doc_part, whole, str(plugin_dir / rel)))
    return out


# ------------------------------------------------------------------------------------------ $ref loops

_SAME_INSTANCE_LISTS = ("allOf", "anyOf", "oneOf")
_SAME_INSTANCE_ONE = ("not", "if", "then", "else")


def _same_instance_children(node: dict[str, Any], resolver: Any) -> list[tuple[Any, Any, str]]:
    """Subschemas applied to the same instance as `node`: a loop through these never ends."""
    out: list[tuple[Any, Any, str]] = []
    for key in ("$ref", "$dynamicRef"):
        ref = node.get(key)
        if isinstance(ref, str):
            try:
                resolved = resolver.lookup(ref)
            except Exception:  # an unresolvable $ref is reported by ref_diagnostics, not here
                continue
            if isinstance(resolved.contents, dict):
                out.append((resolved.contents, resolved.resolver, ref))
    for key in _SAME_INSTANCE_LISTS:
        items = node.get(key)
        if isinstance(items, list):
            out += [(sub, resolver, key) for sub in items if isinstance(sub, dict)]
    for key in _SAME_INSTANCE_ONE:
        sub = node.get(key)
        if isinstance(sub, dict):
            out.append((sub, resolver, key))
    deps = node.get("dependentSchemas")
    if isinstance(deps, dict):
        out += [(sub, resolver, "dependentSchemas") for sub in deps.values() if isinstance(sub, dict)]
    return out


def _all_subschemas(schema: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found.append(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def circular_ref(schema: Any, resolver: Any) -> str | None:
    """The `$ref` chain of a loop that validation would follow forever (and overflow the stack), or None.

    Iterative depth-first search over "same instance" edges; nodes are schema objects by identity."""
    state: dict[int, int] = {}  # 1: on the current path, 2: done
    keep: list[Any] = []  # identity keys stay valid only while the objects live
    for start in _all_subschemas(schema):
        if id(start) in state:
            continue
        keep.append(start)
        state[id(start)] = 1
        path: list[str] = []
        stack = [(start, iter(_same_instance_children(start, resolver)))]
        while stack:
            _node, children = stack[-1]
            nxt = next(children, None)
            if nxt is None:
                state[id(_node)] = 2
                stack.pop()
                if path:
                    path.pop()
                continue
            child, child_resolver, via = nxt
            seen = state.get(id(child))
            if seen == 1:
                return " -> ".join([*path, via]) or via
            if seen is None:
                keep.append(child)
                state[id(child)] = 1
                path.append(via)
                stack.append((child, iter(_same_instance_children(child, child_resolver))))
    return None
