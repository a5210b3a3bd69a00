"""``--json``: exactly one ``dlkit.doctor/1`` document (spec §2)."""

from __future__ import annotations

import json
from typing import Any

from dlkit.report import Report


def render_json(report: Report, redactor: Any = None, *, redactions: bool = False) -> str:
    """The document; with a ``redactor`` (dlkit.host.Redactor) its values are redacted and
    a ``redactions`` key says what kinds were (with ``redactions`` alone: that none were)."""
    doc = report.to_json()
    if redactor is not None:
        redactor.reset_tally()
        doc = redactor.json_value(doc)
        doc["redactions"] = {"applied": True, "kinds": redactor.summary()}
    elif redactions:
        doc["redactions"] = {"applied": False}
    return json.dumps(doc, indent=2, ensure_ascii=False)
