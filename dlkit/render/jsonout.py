"""``--json``: exactly one ``dlkit.doctor/1`` document (spec §2)."""

from __future__ import annotations

import json

from dlkit.report import Report


def render_json(report: Report) -> str:
    return json.dumps(report.to_json(), indent=2, ensure_ascii=False)
