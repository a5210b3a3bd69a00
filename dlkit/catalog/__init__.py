"""Versioned catalogs (data files under ``data/``, every row with ``source`` and ``as_of``)
and the pure functions that query them. Nothing here touches the machine."""

from dlkit.catalog.compat import (
    TABLES,
    XidInfo,
    arch_list_for_torch,
    arch_supported,
    cc_for_gpu_name,
    cc_range_for_cuda,
    cc_supported_by_cuda,
    cudnn_compatible,
    driver_supports_cuda,
    family_min_driver,
    gcc_max_for_cuda,
    gpu_cc_match,
    max_cuda_for_driver,
    min_driver_for_cuda,
    oldest_cc_in_current_wheels,
    rows,
    vtuple,
    xid_info,
)

__all__ = [
    "TABLES",
    "XidInfo",
    "arch_list_for_torch",
    "arch_supported",
    "cc_for_gpu_name",
    "cc_range_for_cuda",
    "cc_supported_by_cuda",
    "cudnn_compatible",
    "driver_supports_cuda",
    "family_min_driver",
    "gcc_max_for_cuda",
    "gpu_cc_match",
    "max_cuda_for_driver",
    "min_driver_for_cuda",
    "oldest_cc_in_current_wheels",
    "rows",
    "vtuple",
    "xid_info",
]
