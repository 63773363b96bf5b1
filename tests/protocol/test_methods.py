"""The protocol's method enum and PROTOCOL.md agree: every method is specified, every specified one named."""

from __future__ import annotations

import re
from pathlib import Path

from plughost.protocol.methods import Method

SPEC = Path(__file__).resolve().parents[2] / "protocol" / "PROTOCOL.md"


def test_every_method_has_its_section_in_the_spec_and_no_section_is_unnamed() -> None:
    text = SPEC.read_text()
    sections = set(re.findall(r"^### `([a-z_]+)`", text, re.M))
    assert sections == {m.value for m in Method}
