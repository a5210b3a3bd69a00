"""PCIe lane wiring per platform (issue 13, item 2): "usable lanes" is not "lanes for GPUs".

Cases from the vendors' own wiring: Intel ARK "PCI Express Configurations" (i9-14900K "Up to
1x16+4, 2x8+4"; i9-9900K "Up to 1x16, 2x8, 1x8+2x4"), AMD's AM5 chipset table (graphics 1x16 or
2x8, the chipset on a PCIe 4.0 x4 uplink: AnandTech's Ryzen 7950X review), AnandTech's TRX40
overview (64 CPU lanes: 8 to the chipset, 8 for storage, 48 free for slots). Rows and sources:
dlkit/catalog/data/platforms.csv.
"""

from __future__ import annotations

import pytest

from dlkit.catalog.gpu_identity import resolve as lookup_gpu
from dlkit.catalog.hardware import cpus, lookup_cpu, lookup_region
from dlkit.checks.buildmath import allocate_lanes
from dlkit.recipes.build import check_build
from dlkit.recipes.machine import lane_wiring

US = lookup_region("us")


def lanes_finding(gpu: str, n: int, cpu: str):
    p = check_build(lookup_gpu(gpu), n, lookup_cpu(cpu), region=US, slots=12)
    return {f.code: f for f in p.findings}["pcie.lanes-oversubscribed"]


def test_am5_two_gpus_split_x8_x8_not_x16_x8():
    f = lanes_finding("RTX 4090", 2, "Ryzen 9 7950X")
    assert (f.severity.value, f.title) == ("info", "2 GPUs on AM5: x8/x8 from the CPU")


def test_am5_third_gpu_sits_behind_the_chipset_and_says_what_it_shares():
    f = lanes_finding("RTX 4090", 3, "Ryzen 9 7950X")
    assert f.severity.value == "warning"
    assert f.title == "3 GPUs on AM5: at best x8/x8 from the CPU + 1× x4 via the chipset"
    assert "PCIe 4.0 x4 uplink (7.9 GB/s per direction)" in f.detail


def test_14900k_never_counts_its_m2_lanes_as_a_gpu_slot():
    # ARK: "Up to 1x16+4, 2x8+4": the +4 is the M.2 link, so a third GPU is on the chipset
    f = lanes_finding("RTX 4090", 3, "Core i9-14900K")
    assert f.title == "3 GPUs on LGA1700: at best x8/x8 from the CPU + 1× x4 via the chipset"
    assert "x8/x8/x4" not in f.title
    assert "PCIe 4.0 x8 uplink (15.8 GB/s per direction)" in f.detail


def test_z390_can_split_x8_x4_x4_from_the_cpu():
    f = lanes_finding("RTX 2080 Ti", 3, "Core i9-9900K")
    assert f.title == "3 GPUs on Z390: at best x8/x4/x4 from the CPU"


def test_trx40_gives_48_of_its_64_lanes_to_slots():
    w = lane_wiring(lookup_cpu("Threadripper 3960X"))
    assert (w.platform, w.gpu_slot_lanes) == ("TRX40", 48)
    assert [link.width for link in allocate_lanes(w, [16] * 4)] == [16, 16, 8, 8]
    assert lanes_finding("RTX 3090", 3, "Threadripper 3960X").severity.value == "ok"  # x16/x16/x16 = 48


@pytest.mark.parametrize("cpu", sorted({c.name for c in cpus() if c.lanes_total}))
def test_no_split_the_platform_cannot_make(cpu):
    w = lane_wiring(lookup_cpu(cpu))
    if w is None or w.gpu_slot_lanes is None:
        pytest.skip(f"{cpu}: no platform wiring in the catalog")
    for n in range(1, 5):
        links = allocate_lanes(w, [16] * n)
        on_cpu = tuple(link.width for link in links if link.via == "CPU")
        assert sum(on_cpu) <= w.gpu_slot_lanes
        if w.splits:
            assert any(len(s) == len(on_cpu) and all(a <= b for a, b in zip(on_cpu, s)) for s in w.splits), (n, on_cpu)
        else:
            assert all(width in (1, 2, 4, 8, 16) for width in on_cpu)


def test_a_platform_without_a_one_slot_split_puts_the_gpu_on_the_chipset_not_a_crash():
    from dlkit.facts import LaneWiring

    links = allocate_lanes(LaneWiring("odd", 16, ((8, 8),), 4, 4, 4), [16])
    assert [(link.width, link.via) for link in links] == [(4, "chipset")]
