"""Probes part 2: CUDA toolkits / cuDNN / gcc, the kernel log (Xid, NVRM, nouveau), Secure
Boot, DKMS and the environment. Real captures from ../shared/corpus plus scripted fakes."""

from __future__ import annotations

import doctest

import pytest
from conftest import corpus_samples, fake_host

from dlkit.host import CommandResult, ReplayHost, load_capture
from dlkit.probes import cuda, kernlog, platform


def replay(path) -> ReplayHost:
    return ReplayHost(load_capture(str(path)))


def failed(argv, stderr="", rc=1, status="error") -> CommandResult:
    return CommandResult(tuple(argv), rc if status == "error" else None, "", stderr, status)


@pytest.mark.parametrize("module", [cuda, kernlog, platform])
def test_docstring_samples_hold(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


# ================================================================ cuda

NVCC_12_8 = """nvcc: NVIDIA (R) Cuda compiler driver
Copyright (c) 2005-2025 NVIDIA Corporation
Built on Fri_Feb_21_20:23:50_PST_2025
Cuda compilation tools, release 12.8, V12.8.93
Build cuda_12.8.r12.8/compiler.35583870_0
"""
VERSION_JSON_12_8 = '{"cuda": {"name": "CUDA SDK", "version": "12.8.0"}, "cuda_nvcc": {"name": "CUDA NVCC", "version": "12.8.93"}}'
CUDNN_9_H = "#define CUDNN_MAJOR 9\n#define CUDNN_MINOR 1\n#define CUDNN_PATCHLEVEL 0\n"
CUDNN_8_H = "#define CUDNN_MAJOR 8\n#define CUDNN_MINOR 9\n#define CUDNN_PATCHLEVEL 7\n"


def test_nvcc_on_path_gives_release_and_full_version():
    facts = cuda.collect(fake_host(commands={("nvcc", "--version"): NVCC_12_8}))
    [tk] = facts.toolkits
    assert (tk.version, tk.full_version, tk.on_path, tk.source) == ("12.8", "12.8.93", True, "nvcc --version")


def test_symlinked_usr_local_cuda_is_reported_once_with_its_target():
    host = fake_host(
        files={"/usr/local/cuda-12.8/version.json": VERSION_JSON_12_8,
               "/usr/local/cuda-10.2/version.txt": "CUDA Version 10.2.89\n",
               "/usr/local/bin/foo": ""},
        links={"/usr/local/cuda": "cuda-12.8"},
        environ={"CUDA_HOME": "/usr/local/cuda"},
    )
    facts = cuda.collect(host)
    by_path = {t.path: t for t in facts.toolkits}
    assert set(by_path) == {"/usr/local/cuda-10.2", "/usr/local/cuda-12.8"}
    assert (by_path["/usr/local/cuda-12.8"].version, by_path["/usr/local/cuda-12.8"].full_version) == ("12.8", "12.8.0")
    assert "/usr/local/cuda -> cuda-12.8" in by_path["/usr/local/cuda-12.8"].source
    assert by_path["/usr/local/cuda-10.2"].version == "10.2"
    assert by_path["/usr/local/cuda-10.2"].source == "/usr/local/cuda-10.2/version.txt"
    assert not any(t.on_path for t in facts.toolkits)
    assert facts.cuda_home == "/usr/local/cuda"


def test_link_through_alternatives_to_a_toolkit_outside_usr_local():
    # RPM installs: /usr/local/cuda -> /etc/alternatives/cuda -> /opt/nvidia/cuda-12.4
    host = fake_host(
        files={"/opt/nvidia/cuda-12.4/version.json": '{"cuda": {"name": "CUDA SDK", "version": "12.4.1"}}'},
        links={"/usr/local/cuda": "/etc/alternatives/cuda", "/etc/alternatives/cuda": "/opt/nvidia/cuda-12.4"},
        dirs={"/usr/local"},
    )
    [tk] = cuda.collect(host).toolkits
    assert (tk.path, tk.version) == ("/opt/nvidia/cuda-12.4", "12.4")
    assert "/etc/alternatives/cuda" in tk.source


def test_dangling_cuda_symlink_is_a_toolkit_of_unknown_version():
    host = fake_host(links={"/usr/local/cuda": "cuda-11.8"}, dirs={"/usr/local/bin"})
    facts = cuda.collect(host)
    [tk] = facts.toolkits
    assert tk.version is None and tk.path == "/usr/local/cuda-11.8"
    assert "missing" in facts.unknown["toolkit /usr/local/cuda-11.8"]


def test_cuda_home_outside_usr_local_is_read():
    host = fake_host(files={"/opt/conda/envs/x/version.json": '{"cuda": {"version": "12.1.1"}}'},
                     environ={"CUDA_PATH": "/opt/conda/envs/x"})
    facts = cuda.collect(host)
    assert facts.cuda_home == "/opt/conda/envs/x"
    assert [(t.version, t.path) for t in facts.toolkits] == [("12.1", "/opt/conda/envs/x")]


def test_gcc_version_from_first_line():
    host = fake_host(commands={("gcc", "--version"): "gcc (Ubuntu 11.4.0-1ubuntu1~22.04) 11.4.0\n"
                                                    "Copyright (C) 2021 Free Software Foundation, Inc.\n"})
    assert cuda.collect(host).gcc_version == "11.4.0"


def test_cudnn_headers_debian_multiarch_toolkit_and_alternatives_link():
    host = fake_host(
        files={"/usr/include/x86_64-linux-gnu/cudnn_version_v9.h": CUDNN_9_H,
               "/usr/include/stdio.h": "",
               "/usr/local/cuda-12.8/version.json": VERSION_JSON_12_8,
               "/usr/local/cuda-12.8/include/cudnn_version.h": CUDNN_8_H},
        # /usr/include/cudnn_version.h is the same header through a link: reported once
        links={"/usr/include/cudnn_version.h": "x86_64-linux-gnu/cudnn_version_v9.h"},
    )
    cudnn = {(c.version, c.source) for c in cuda.collect(host).cudnn}
    assert cudnn == {("9.1.0", "/usr/include/cudnn_version.h"),
                     ("8.9.7", "/usr/local/cuda-12.8/include/cudnn_version.h")}


def test_cudnn_7_defines_in_cudnn_h():
    host = fake_host(files={"/usr/local/cuda/version.txt": "CUDA Version 10.0.130\n",
                            "/usr/local/cuda/include/cudnn.h": "#define CUDNN_MAJOR 7\n#define CUDNN_MINOR 6\n#define CUDNN_PATCHLEVEL 5\n"})
    assert [(c.version, c.source) for c in cuda.collect(host).cudnn] == [("7.6.5", "/usr/local/cuda/include/cudnn.h")]


LDCONFIG = """1523 libs found in cache `/etc/ld.so.cache'
\tlibcudnn_ops.so.9 (libc6,x86-64) => /lib/x86_64-linux-gnu/libcudnn_ops.so.9
\tlibcudnn.so.9 (libc6,x86-64) => /lib/x86_64-linux-gnu/libcudnn.so.9
\tlibcudnn.so (libc6,x86-64) => /lib/x86_64-linux-gnu/libcudnn.so
\tlibc.so.6 (libc6,x86-64, OS ABI: Linux 3.2.0) => /lib/x86_64-linux-gnu/libc.so.6
"""


def test_cudnn_libraries_from_ldconfig_and_ld_library_path():
    host = fake_host(
        commands={("ldconfig", "-p"): LDCONFIG},
        files={"/lib/x86_64-linux-gnu/libcudnn.so.9.1.0": "", "/opt/cudnn/lib/libcudnn.so.8.9.7": ""},
        links={"/lib/x86_64-linux-gnu/libcudnn.so.9": "libcudnn.so.9.1.0",
               "/opt/cudnn/lib/libcudnn.so.8": "libcudnn.so.8.9.7",
               "/opt/cudnn/lib/libcudnn.so": "libcudnn.so.8"},
        environ={"LD_LIBRARY_PATH": "/opt/cudnn/lib::relative/dir:/missing"},
    )
    got = [(c.version, c.source) for c in cuda.collect(host).cudnn]
    assert got == [("9.1.0", "/lib/x86_64-linux-gnu/libcudnn.so.9"),
                   ("8.9.7", "/opt/cudnn/lib/libcudnn.so.8 (LD_LIBRARY_PATH)")]


def test_ldconfig_in_sbin_when_not_on_path():
    host = fake_host(commands={("/sbin/ldconfig", "-p"): LDCONFIG})
    assert [c.version for c in cuda.collect(host).cudnn] == ["9"]


@pytest.mark.parametrize("junk", ["", "\x00\xff garbage \n\n", "release", "{", "Cuda compilation tools, release x.y"])
def test_cuda_garbage_outputs_do_not_raise(junk):
    host = fake_host(
        commands={("nvcc", "--version"): junk, ("gcc", "--version"): junk, ("ldconfig", "-p"): junk},
        files={"/usr/local/cuda/version.json": junk, "/usr/local/cuda/version.txt": junk,
               "/usr/include/cudnn_version.h": junk},
        environ={"LD_LIBRARY_PATH": junk},
    )
    facts = cuda.collect(host)
    assert facts.gcc_version is None and facts.cudnn == ()
    assert "nvcc" in facts.unknown and "cudnn" in facts.unknown


def test_cuda_nothing_installed_is_unknown_not_an_error():
    facts = cuda.collect(fake_host())
    assert facts.toolkits == () and facts.cudnn == () and facts.gcc_version is None
    assert {"nvcc", "toolkits", "gcc_version", "cudnn"} <= set(facts.unknown)


def test_corpus_cuda_toolkit_12_8_version_json(corpus_capture):
    facts = cuda.collect(replay(corpus_capture("cuda-toolkit-12.8-windows-version-json")))
    [tk] = facts.toolkits
    assert (tk.version, tk.full_version, tk.path) == ("12.8", "12.8.2", "/usr/local/cuda")
    assert tk.source == "/usr/local/cuda/version.json" and not tk.on_path


def test_corpus_nvcc_12_8(corpus_capture):
    facts = cuda.collect(replay(corpus_capture("infinitrain-8x-a100-sxm4-80gb-nvcc-12.8")))
    assert [(t.version, t.full_version, t.on_path) for t in facts.toolkits] == [("12.8", "12.8.61", True)]


# ================================================================ kernel log

NVBUG = [s for s in corpus_samples() if s.startswith("nvbugreport-")]


@pytest.mark.parametrize("sample", NVBUG)
def test_corpus_bug_reports_read_without_crash(corpus_capture, sample):
    facts = kernlog.collect(replay(corpus_capture(sample)))
    assert facts.sources[0] == "dmesg"
    assert all(x.boot in ("current", "previous") for x in facts.xids)
    assert all(kernlog.message_boot(m) in ("current", "previous") for m in facts.nvrm_messages)
    if sample not in ("nvbugreport-3x-rtx-4070-xid79-fallen-off-bus", "nvbugreport-quadro-p3200-laptop-nvml-lib-missing"):
        assert facts.xids == ()


def test_corpus_xid79_fallen_off_bus_current_and_history(corpus_capture):
    facts = kernlog.collect(replay(corpus_capture("nvbugreport-3x-rtx-4070-xid79-fallen-off-bus")))
    current = [(x.xid, x.pci_bus_id) for x in facts.xids if x.boot == "current"]
    previous = sorted((x.xid, x.pci_bus_id) for x in facts.xids if x.boot == "previous")
    # the dmesg Xid is also in kern.log's last boot: counted once, as this boot
    assert current == [(79, "0000:0f:00.0")]
    assert previous == [(79, "0000:06:00.0"), (79, "0000:09:00.0"), (79, "0000:0b:00.0"), (79, "0000:0c:00.0")]
    assert "/var/log/kern.log" in facts.sources and "journalctl -b -1" in facts.sources
    fell = [m for m in facts.nvrm_messages if "fallen off the bus" in m and kernlog.message_boot(m) == "current"]
    assert fell == ["dmesg: [   22.636736] NVRM: GPU 0000:0f:00.0: GPU has fallen off the bus."]


def test_corpus_p3200_mismatch_history_is_earlier_boots_and_version_mismatch_is_this_boot(corpus_capture):
    facts = kernlog.collect(replay(corpus_capture("nvbugreport-quadro-p3200-laptop-nvml-lib-missing")))
    assert [(x.xid, x.pci_bus_id, x.boot) for x in facts.xids] == [(31, "0000:01:00.0", "previous")]
    api = [m for m in facts.nvrm_messages if "API mismatch" in m]
    assert api and all(kernlog.message_boot(m) == "previous" for m in api)
    # the continuation line (the kernel module's version) is joined to the message
    assert any("the client has the version 418.152.00, but this kernel module has the version 440.95.01" in m for m in api)
    probe = [m for m in facts.nvrm_messages if "probe routine was not called" in m]
    assert probe and all(kernlog.message_boot(m) == "previous" for m in probe)
    current = [m for m in facts.nvrm_messages if kernlog.message_boot(m) == "current"]
    assert "dmesg: [    2.864296] nvidia-modeset: Version mismatch: nvidia.ko(418.152.00) nvidia-modeset.ko(430.64)" in current
    assert not any("API mismatch" in m for m in current)
    assert len(facts.nvrm_messages) <= kernlog.MAX_MESSAGES


def test_corpus_nouveau_probe_lines_this_boot(corpus_capture):
    facts = kernlog.collect(replay(corpus_capture("nvbugreport-4x-gtx-1080ti-nouveau-loaded")))
    assert "dmesg: [    3.026981] nouveau: probe of 0000:04:00.0 failed with error -12" in facts.nouveau_messages
    assert all(kernlog.message_boot(m) == "current" for m in facts.nouveau_messages)


@pytest.mark.parametrize("line,expected", [
    ("NVRM: Xid (PCI:0000:01:00): 79, pid=1234, name=python, GPU has fallen off the bus.", (79, "0000:01:00.0")),
    ("NVRM: Xid (PCI:0000:3B:00): 48, pid='<unknown>', name=<unknown>, An uncorrectable double bit error", (48, "0000:3b:00.0")),
    ("NVRM: Xid (PCI:0000:01:00): 62, 0cb5(2d50) 00000000 00000000", (62, "0000:01:00.0")),
    ("NVRM: Xid (0000:02:00): 13, 0008 00000000 0000a097", (13, "0000:02:00.0")),
    ("NVRM: Xid (PCI:0000:b1:00 GPU-I:05 GPU-C:01): 43, pid=99, Ch 00000008", (43, "0000:b1:00.0")),
    ("kernel: [ 1.0] NVRM: Xid (PCI:00000000:41:00.0): 119, pid=7, Timeout waiting for RPC from GSP!", (119, "0000:41:00.0")),
])
def test_xid_formats(line, expected):
    assert kernlog.parse_xid(line) == expected


def test_dmesg_permission_denied_falls_back_to_journalctl():
    host = fake_host(commands={
        ("dmesg",): failed(["dmesg"], "dmesg: read kernel buffer failed: Operation not permitted"),
        ("journalctl", "-k", "-b", "0", "--no-pager"):
            "Sep 13 09:44:22 red1 kernel: NVRM: Xid (PCI:0000:0f:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.\n",
    })
    facts = kernlog.collect(host)
    assert facts.sources == ("journalctl -k -b 0 --no-pager",)
    assert [(x.xid, x.pci_bus_id, x.boot) for x in facts.xids] == [(79, "0000:0f:00.0", "current")]
    assert "current_boot" not in facts.unknown


def test_journal_refused_for_user_falls_through():
    host = fake_host(commands={
        ("dmesg",): failed(["dmesg"], "dmesg: read kernel buffer failed: Operation not permitted"),
        ("journalctl", "-k", "-b", "0", "--no-pager"): CommandResult(
            ("journalctl", "-k", "-b", "0", "--no-pager"), 0, "-- No entries --\n",
            "Hint: You are currently not seeing messages from other users and the system.", "ok"),
    }, files={"/var/log/kern.log": "Sep 13 09:44:22 red1 kernel: [   22.6] NVRM: Xid (PCI:0000:0f:00): 79, GPU has fallen off the bus.\n"})
    facts = kernlog.collect(host)
    assert "Operation not permitted" in facts.unknown["current_boot"]
    assert "insufficient permissions" in facts.unknown["current_boot"]
    # with no view of this boot, the file's Xid cannot be called current
    assert [(x.xid, x.boot) for x in facts.xids] == [(79, "previous")]


KERN_LOG_TWO_BOOTS = """\
Sep 12 10:00:00 h kernel: [    5.000000] NVRM: loading NVIDIA UNIX x86_64 Kernel Module  550.54.14  Thu Feb 22 01:44:30 UTC 2024
Sep 12 20:00:00 h kernel: [36000.000000] NVRM: Xid (PCI:0000:01:00): 13, pid=42, name=python, Graphics Exception
Sep 13 09:00:00 h kernel: [    5.100000] NVRM: loading NVIDIA UNIX x86_64 Kernel Module  550.54.14  Thu Feb 22 01:44:30 UTC 2024
Sep 13 09:30:00 h kernel: [ 1800.000000] NVRM: Xid (PCI:0000:01:00): 31, pid=43, name=python, Ch 00000010, MMU Fault
Sep 13 10:00:00 h kernel: [ 3600.000000] NVRM: Xid (PCI:0000:01:00): 43, pid=44, name=python, Ch 00000010
"""
# dmesg's ring buffer has wrapped: it keeps only the newest of this boot's lines
DMESG_WRAPPED = "[ 3500.000000] usb 1-1: new device\n[ 3600.000000] NVRM: Xid (PCI:0000:01:00): 43, pid=44, name=python, Ch 00000010\n"


def test_kern_log_last_boot_matching_dmesg_is_this_boot():
    host = fake_host(commands={("dmesg",): DMESG_WRAPPED}, files={"/var/log/kern.log": KERN_LOG_TWO_BOOTS})
    facts = kernlog.collect(host)
    assert [(x.xid, x.boot) for x in facts.xids] == [(13, "previous"), (31, "current"), (43, "current")]
    # the Xid 43 seen in both dmesg and kern.log is one event, shown as dmesg printed it
    assert facts.xids[-1].line.startswith("[ 3600.000000]")
    assert facts.sources == ("dmesg", "/var/log/kern.log")
    loading = [m for m in facts.nvrm_messages if "loading NVIDIA" in m]
    assert [kernlog.message_boot(m) for m in loading] == ["previous", "current"]
    assert loading[1].startswith("/var/log/kern.log (this boot): ")


def test_kern_log_without_dmesg_match_is_all_earlier_boots():
    host = fake_host(commands={("dmesg",): "[    1.000000] Linux version 6.8.0\n"},
                     files={"/var/log/kern.log": KERN_LOG_TWO_BOOTS})
    assert {x.boot for x in kernlog.collect(host).xids} == {"previous"}


def test_same_earlier_event_in_kern_log_and_journal_counts_once():
    line = "NVRM: Xid (PCI:0000:01:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus."
    host = fake_host(commands={
        ("dmesg",): "[    4.0] NVRM: loading NVIDIA UNIX x86_64 Kernel Module  535.230.02\n",
        ("journalctl", "-b", "-1"): f"Sep 08 07:55:37 red1 kernel: {line}\n",
    }, files={"/var/log/messages": f"Sep  8 07:55:37 red1 kernel: {line}\n"})
    facts = kernlog.collect(host)
    assert [(x.xid, x.boot) for x in facts.xids] == [(79, "previous")]
    assert facts.sources == ("dmesg", "/var/log/messages", "journalctl -b -1")


def test_bug_report_kernel_block_handed_over_as_dmesg():
    block = ("  /var/log/kern.log:\n"
             "Sep  8 07:55:37 red1 kernel: [350941.5] NVRM: Xid (PCI:0000:0c:00): 79, GPU has fallen off the bus.\n"
             "\n  journalctl -b -0:\n"
             "Sep 13 09:44:22 red1 kernel: NVRM: Xid (PCI:0000:0f:00): 79, GPU has fallen off the bus.\n"
             "\n  journalctl -b -1:\n"
             "Sep 13 09:20:00 red1 kernel: NVRM: loading NVIDIA UNIX x86_64 Kernel Module  535.230.02\n")
    facts = kernlog.collect(fake_host(commands={("dmesg",): block}))
    assert sorted((x.pci_bus_id, x.boot) for x in facts.xids) == [("0000:0c:00.0", "previous"), ("0000:0f:00.0", "current")]
    assert set(facts.sources) == {"journalctl -b -0", "/var/log/kern.log", "journalctl -b -1"}


def test_xids_are_capped_keeping_the_newest():
    text = "".join(f"[{i}.000000] NVRM: Xid (PCI:0000:01:00): 13, pid={i}, Graphics Exception\n" for i in range(1, 1001))
    facts = kernlog.collect(fake_host(commands={("dmesg",): text}))
    assert len(facts.xids) == kernlog.MAX_XIDS
    assert facts.xids[-1].line.startswith("[1000.000000]")


def test_secure_boot_rejection_lines_are_kept():
    text = "[    3.1] Loading of module with unavailable key is rejected\n[    3.2] usb 1-1: new\n"
    facts = kernlog.collect(fake_host(commands={("dmesg",): text}))
    assert facts.nvrm_messages == ("dmesg: [    3.1] Loading of module with unavailable key is rejected",)


@pytest.mark.parametrize("junk", ["", "\n\n", "\x00\x01\xff\ufffd" * 100, "[ NVRM: Xid (PCI:zz): x\n", "  journalctl -b -1:\n"])
def test_kernel_log_garbage_and_empty(junk):
    host = fake_host(commands={("dmesg",): junk, ("journalctl", "-b", "-1"): junk},
                     files={"/var/log/kern.log": junk, "/var/log/messages": junk})
    facts = kernlog.collect(host)
    assert facts.xids == ()


def test_kernel_log_nothing_readable():
    facts = kernlog.collect(fake_host())
    assert facts.xids == () and facts.sources == ()
    assert "current_boot" in facts.unknown and "earlier_boots" in facts.unknown


# ================================================================ platform

SB_VAR = platform.SECURE_BOOT_VAR


@pytest.mark.parametrize("stdout,stderr,status,expected", [
    ("SecureBoot enabled\n", "", "ok", True),
    ("SecureBoot disabled\n", "", "ok", False),
    ("", "EFI variables are not supported on this system\n", "error", False),
    ("SecureBoot enabled\nSecureBoot validation is disabled in shim\n", "", "ok", False),
])
def test_mokutil_sb_state(stdout, stderr, status, expected):
    argv = ("mokutil", "--sb-state")
    host = fake_host(commands={argv: CommandResult(argv, 0 if status == "ok" else 1, stdout, stderr, status)})
    facts = platform.collect_secure_boot(host)
    assert facts.secure_boot is expected
    assert facts.secure_boot_source.startswith("mokutil --sb-state")


@pytest.mark.parametrize("data,expected", [("\x06\x00\x00\x00\x01", True), ("\x06\x00\x00\x00\x00", False)])
def test_efi_variable_when_mokutil_is_missing(data, expected):
    facts = platform.collect_secure_boot(fake_host(files={SB_VAR: data}))
    assert (facts.secure_boot, facts.secure_boot_source) == (expected, SB_VAR)


def test_mokutil_failure_falls_back_to_efi_variable():
    argv = ("mokutil", "--sb-state")
    host = fake_host(commands={argv: failed(argv, "Failed to read SecureBoot")}, files={SB_VAR: "\x07\x00\x00\x00\x01"})
    assert platform.collect_secure_boot(host).secure_boot is True


def test_bios_boot_has_no_secure_boot():
    facts = platform.collect_secure_boot(fake_host(dirs={"/sys/firmware/acpi", "/sys/firmware/dmi"}))
    assert (facts.secure_boot, facts.secure_boot_source) == (False, "no EFI")


def test_masked_sys_firmware_is_unknown():
    facts = platform.collect_secure_boot(fake_host(dirs={"/sys/firmware"}))
    assert facts.secure_boot is None and "container" in facts.unknown["secure_boot"]


@pytest.mark.parametrize("junk", ["", "\ufffd", "\x06\x00\x00\x00\x02"])
def test_secure_boot_garbage_is_unknown(junk):
    argv = ("mokutil", "--sb-state")
    facts = platform.collect_secure_boot(fake_host(commands={argv: junk}, files={SB_VAR: junk}))
    assert facts.secure_boot is None and "secure_boot" in facts.unknown


def test_secure_boot_not_checked_on_windows():
    facts = platform.collect_secure_boot(fake_host(platform="windows"))
    assert facts.secure_boot is None and "windows" in facts.unknown["secure_boot"]


def test_collect_env():
    env = platform.collect_env(fake_host(environ={"CUDA_VISIBLE_DEVICES": "0,1", "LD_LIBRARY_PATH": "/opt/x"}))
    assert (env.cuda_visible_devices, env.nvidia_visible_devices, env.ld_library_path) == ("0,1", None, "/opt/x")


PROC_VERSION = "Linux version 6.5.0-21-generic (buildd@lcy02-amd64-091) (x86_64-linux-gnu-gcc-12 (Ubuntu 12.3.0-1ubuntu1~22.04) 12.3.0) #21~22.04.1-Ubuntu SMP\n"


@pytest.mark.parametrize("status_text,expected", [
    ("nvidia/550.54.14, 6.5.0-21-generic, x86_64: installed\n", True),
    ("nvidia, 550.54.14, 6.5.0-21-generic, x86_64: installed (Original modules exist)\n", True),
    ("nvidia/550.54.14, 6.2.0-39-generic, x86_64: installed\n", False),
    ("nvidia/550.54.14: added\n", False),
    ("virtualbox/7.0.14, 6.5.0-21-generic, x86_64: installed\nnvidia-fs/2.19, 6.5.0-21-generic, x86_64: installed\n", None),
    ("", None),
])
def test_dkms_nvidia_for_running_kernel(status_text, expected):
    host = fake_host(files={"/proc/version": PROC_VERSION}, commands={("dkms", "status"): status_text})
    result = platform.collect_dkms(host)
    assert result.nvidia_for_running_kernel is expected
    assert result.kernel == "6.5.0-21-generic"


def test_dkms_absent_is_unknown():
    result = platform.collect_dkms(fake_host(files={"/proc/version": PROC_VERSION}))
    assert result.nvidia_for_running_kernel is None and result.lines == ()
    assert "not found" in result.why
