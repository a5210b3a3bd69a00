"""NVML failures as stable kinds (split from :mod:`dlkit.host.nvml`, the gateway that raises them).

Every failure the gateway records is one of :data:`KINDS`; :func:`error_kind` maps a pynvml
exception to one by its return code, else by its class name.
"""

from __future__ import annotations

# NVML return codes (nvmlReturn_t, nvml.h; compatibility.md §8.1). Numbers, not pynvml
# names, so that any binding version (and the tests' fake) maps the same way.
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_INSUFFICIENT_POWER = 8
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_TIMEOUT = 10
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18
NVML_ERROR_UNKNOWN = 999

_KIND_BY_CODE = {
    NVML_ERROR_LIBRARY_NOT_FOUND: "library-not-found",
    NVML_ERROR_DRIVER_NOT_LOADED: "driver-not-loaded",
    NVML_ERROR_LIB_RM_VERSION_MISMATCH: "library-mismatch",
    NVML_ERROR_FUNCTION_NOT_FOUND: "function-not-found",
    NVML_ERROR_GPU_IS_LOST: "gpu-lost",
    NVML_ERROR_NOT_SUPPORTED: "not-supported",
    NVML_ERROR_NO_PERMISSION: "no-permission",
    NVML_ERROR_INSUFFICIENT_POWER: "insufficient-power",
    NVML_ERROR_TIMEOUT: "timeout",
    NVML_ERROR_UNKNOWN: "unknown",
}
# pynvml builds one NVMLError_<CamelName> subclass per code; a binding whose exception
# lacks ``.value`` is still mapped by its class name.
_KIND_BY_CLASS = {
    "NVMLError_LibraryNotFound": "library-not-found",
    "NVMLError_DriverNotLoaded": "driver-not-loaded",
    "NVMLError_LibRmVersionMismatch": "library-mismatch",
    "NVMLError_FunctionNotFound": "function-not-found",
    "NVMLError_GpuIsLost": "gpu-lost",
    "NVMLError_NotSupported": "not-supported",
    "NVMLError_NoPermission": "no-permission",
    "NVMLError_InsufficientPower": "insufficient-power",
    "NVMLError_Timeout": "timeout",
    "NVMLError_Unknown": "unknown",
}
# Every kind this module writes. "binding-not-installed": ``import pynvml`` failed, so
# NVML was never asked (LiveHost.nvml() turns that into None: no NVML answer at all).
KINDS = (
    "library-not-found", "driver-not-loaded", "library-mismatch", "function-not-found",
    "gpu-lost", "not-supported", "no-permission", "insufficient-power", "unknown",
    "timeout", "binding-not-installed",
)

class FunctionMissing(Exception):
    """The binding has none of the functions asked for (an old nvidia-ml-py)."""


def error_kind(exc: BaseException) -> str:
    """The stable kind of an exception raised by pynvml (or by this module's calls)."""
    if isinstance(exc, FunctionMissing):
        return "function-not-found"
    code = getattr(exc, "value", None)
    if isinstance(code, int) and not isinstance(code, bool) and code in _KIND_BY_CODE:
        return _KIND_BY_CODE[code]
    for cls in type(exc).__mro__:
        if cls.__name__ in _KIND_BY_CLASS:
            return _KIND_BY_CLASS[cls.__name__]
    return "unknown"


def error_code(exc: BaseException) -> int | None:
    code = getattr(exc, "value", None)
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def message(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # pynvml's __str__ calls into the library, which may be gone
        text = ""
    return text or type(exc).__name__
