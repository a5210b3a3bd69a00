"""Golden tests on real machines: the whole ``dlkit doctor --from X --json`` envelope of
five raw2capture captures and two collect_env reports from ``../shared/corpus``.

Only MIT-licensed samples are used (see ``tests/golden_corpus/README.md``): the goldens are
dlkit's output derived from them. The samples themselves are read at run time and never
copied here; without ``../shared/corpus`` every test skips.

Normalised, because it legitimately varies: ``facts.run.created`` of a capture
(raw2capture stamps the conversion time into the manifest) and ``facts.run.dlkit_version``
(checked against ``dlkit.__version__``, stored as a placeholder as in test_golden.py).

Regenerate after a deliberate change of the report, then READ the diff and check every
finding against the sample's expected.json and the ground-truth paragraph of its SOURCE.md
(``test_golden_agrees_with_the_ground_truth`` below reads the goldens themselves, so a
careless regeneration cannot pin a wrong diagnosis):

    DLKIT_REGEN_GOLDEN=1 python -m pytest -q tests/test_golden_corpus.py
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import CORPUS
from dlkit import __version__
from dlkit.cli import app

GOLDEN = Path(__file__).resolve().parent / "golden_corpus"
REGEN = os.environ.get("DLKIT_REGEN_GOLDEN") == "1"
VERSION_PLACEHOLDER = "<dlkit.__version__>"
CREATED_PLACEHOLDER = "<raw2capture conversion time>"

CAPTURES = (
    "bifurcation-2x-rtx-4090-x670-x8x8-slow-card",
    "exporter-h100-80gb-mig-vm",
    "exporter-h200-vm",
    "exporter-rtx-2080-super-fedora-driver-595",
    "exporter-rtx-2080-super-windows-591",
)
COLLECT_ENV = (
    "pytorch-issue-37668-cu102-torch-on-driver-430-below-minimum",
    "pytorch-issue-60258-cu111-torch-no-gpu-driver-centos7",
)
SAMPLES = CAPTURES + COLLECT_ENV
PROBLEMS = ("error", "warning")

# What each sample's SOURCE.md ground truth says a correct diagnosis holds: the findings
# that are not ok/skipped, with their severities (everything else must be ok, skipped or info).
GROUND_TRUTH = {
    # x8/x8 bifurcation riser: both RTX 4090 at x8 of x16 (idle Gen1 is power saving)
    "bifurcation-2x-rtx-4090-x670-x8x8-slow-card": {"pcie.link-degraded": "warning", "cuda.versions": "info"},
    # healthy H100 with MIG (4 MIG devices on 1 GPU)
    "exporter-h100-80gb-mig-vm": {"cuda.versions": "info"},
    # healthy H200, persistence on, no throttling
    "exporter-h200-vm": {"cuda.versions": "info"},
    # healthy RTX 2080 SUPER; Gen1 of Gen3 at idle is power saving (info at most)
    "exporter-rtx-2080-super-fedora-driver-595": {"pcie.link-degraded": "info", "cuda.versions": "info"},
    # healthy RTX 2080 SUPER on Windows (WDDM): persistence N/A
    "exporter-rtx-2080-super-windows-591": {"cuda.versions": "info"},
    # cu102 torch on 430.26 (< 440.33) while collect_env says CUDA is available: a warning
    "pytorch-issue-37668-cu102-torch-on-driver-430-below-minimum": {"driver.too-old-for-cuda": "warning",
                                                                    "cuda.versions": "info"},
    # cu111 torch, no driver / GPU visible: runs on the CPU; not a version mismatch
    "pytorch-issue-60258-cu111-torch-no-gpu-driver-centos7": {"gpu.none-visible": "warning", "cuda.versions": "info"},
}


def _input(sample: str, corpus_capture) -> str:
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is absent")
    if sample in CAPTURES:
        return str(corpus_capture(sample))
    return str(CORPUS / sample / "collect_env.txt")


def _golden(sample: str) -> dict:
    path = GOLDEN / f"{sample}.json"
    assert path.is_file(), f"{path} is missing: run DLKIT_REGEN_GOLDEN=1 python -m pytest tests/test_golden_corpus.py"
    return json.loads(path.read_text(encoding="utf-8"))


def _expected(sample: str) -> dict:
    path = CORPUS / sample / "expected.json"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("sample", SAMPLES)
def test_json_envelope_matches_golden(sample, corpus_capture):
    result = CliRunner().invoke(app, ["doctor", "--from", _input(sample, corpus_capture), "--json"])
    assert result.stderr == ""
    doc = json.loads(result.stdout)
    assert result.stdout == json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    assert result.exit_code == {"ok": 0, "warning": 1, "error": 2}[doc["status"]]
    run = doc["facts"]["run"]
    assert run["dlkit_version"] == __version__
    run["dlkit_version"] = VERSION_PLACEHOLDER
    if sample in CAPTURES:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", run["created"] or ""), run["created"]
        run["created"] = CREATED_PLACEHOLDER
    else:
        assert run["created"] is None  # a collect_env report carries no time
    actual = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    path = GOLDEN / f"{sample}.json"
    if REGEN:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.is_file(), f"{path} is missing: run DLKIT_REGEN_GOLDEN=1 python -m pytest tests/test_golden_corpus.py"
    assert actual == path.read_text(encoding="utf-8"), (
        f"{path.name} differs from the golden file (DLKIT_REGEN_GOLDEN=1 regenerates it; review the diff)")


@pytest.mark.parametrize("sample", SAMPLES)
def test_golden_agrees_with_the_ground_truth(sample):
    """Reads the golden file itself (no corpus needed): what SOURCE.md says a correct diagnosis is."""
    doc = _golden(sample)
    assert {"schema", "status", "facts", "findings", "redactions"} == set(doc)
    assert doc["redactions"]["applied"] is True  # the default output, as users paste it
    assert doc["schema"] == "dlkit.doctor/1"
    for f in doc["findings"]:
        assert set(f) == {"code", "severity", "title", "detail", "fix", "evidence"}
        assert f["severity"] != "crashed", f
    notable = {f["code"]: f["severity"] for f in doc["findings"] if f["severity"] not in ("ok", "skipped")}
    assert notable == GROUND_TRUTH[sample]
    worst = max((f["severity"] for f in doc["findings"]), key=["skipped", "ok", "info", "warning", "error"].index)
    assert doc["status"] == {"info": "ok", "skipped": "ok"}.get(worst, worst)
    gpus = doc["facts"]["gpus"]
    assert [g["pci_bus_id"] for g in gpus] == sorted(g["pci_bus_id"] for g in gpus)
    for g in gpus:
        assert {"name", "memory_total_mib", "pci_bus_id", "compute_capability", "pcie_gen_current", "pcie_gen_max",
                "pcie_width_current", "pcie_width_max", "power_limit_w", "power_default_limit_w"} <= set(g)


@pytest.mark.parametrize("sample", SAMPLES)
def test_golden_meets_the_samples_expected_json(sample):
    """eval_corpus.py's rules, applied to the golden: expected codes reported, traps not, facts held."""
    expected, doc = _expected(sample), _golden(sample)
    found = {}
    for f in doc["findings"]:
        found.setdefault(f["code"], set()).add(f["severity"])
    for code in expected["expect_codes"]:
        assert found.get(code, set()) & {"error", "warning", "info"}, f"{code} expected, got {found.get(code)}"
    for code in expected["forbid_codes"]:
        assert not found.get(code, set()) & set(PROBLEMS), f"{code} must not be a problem here"
    for key, want in expected["facts"].items():
        got = _fact(doc["facts"], key)
        if isinstance(want, str):
            assert isinstance(got, str) and got.strip().lower() == want.strip().lower(), (key, got, want)
        else:
            assert got == want, (key, got, want)
    # every error must be one the sample expects (the corpus counts the others as false alarms)
    errors = {f["code"] for f in doc["findings"] if f["severity"] == "error"}
    assert errors <= set(expected["expect_codes"])


def _fact(facts: dict, key: str):
    if key == "gpus.count":
        return len(facts["gpus"])
    node = facts
    for part in key.split("."):
        if isinstance(node, list):
            node = node[int(part)] if int(part) < len(node) else None
        elif isinstance(node, dict):
            node = node.get(part)
        if node is None:
            return None
    return node


def test_golden_folder_holds_exactly_the_samples_and_names_them_in_the_readme():
    names = sorted(p.stem for p in GOLDEN.glob("*.json"))
    assert names == sorted(SAMPLES)
    readme = (GOLDEN / "README.md").read_text(encoding="utf-8")
    for sample in SAMPLES:
        assert sample in readme
