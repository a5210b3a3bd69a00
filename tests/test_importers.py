"""Importers (dlkit/host/importers.py): collect_env text and bare nvidia-smi files read as
captures (spec §1 "--from also accepts ..."), and load_input's refusals.

The corpus samples are read from ../shared/corpus at run time (never copied here); the
inline texts below are written for these tests in collect_env's formats.
"""

from __future__ import annotations

import doctest
import gzip
import json
import os

import pytest
from conftest import CORPUS

from dlkit.host import Capture, CaptureError, ReplayHost, load_capture, write_capture
from dlkit.host import importers
from dlkit.host.importers import detect_kind, import_collect_env, import_nvidia_smi, load_input, torch_cudnn_int

COLLECT_ENV_SAMPLES = [
    "pytorch-issue-20978-maxwell-driver-390-pip-conda-skew",
    "pytorch-issue-28280-2x-gtx-titan-black-kepler",
    "pytorch-issue-28360-windows-mojibake-os-name",
    "pytorch-issue-33473-cpu-only-torch-windows",
    "pytorch-issue-37668-cu102-torch-on-driver-430-below-minimum",
    "pytorch-issue-60258-cu111-torch-no-gpu-driver-centos7",
    "pytorch-issue-65480-4x-v100-sxm2",
    "pytorch-issue-65652-mixed-rtx3090-titan-v",
]
WINDOWS_XML = {"netdata-rtx-2080-windows-wddm", "telegraf-grid-p4-1q-vgpu-windows",
               "telegraf-rtx-3080-windows-wddm-driver-536"}


def corpus_path(sample: str, name: str) -> str:
    path = CORPUS / sample / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return str(path)


def bare_xml_samples() -> list[str]:
    if not CORPUS.is_dir():
        return []
    return sorted(p.parent.name for p in CORPUS.glob("*/nvidia-smi_-q_-x.xml"))


def cmd(cap: Capture, *argv: str):
    return cap.commands.get(tuple(argv))


def single_line_error(excinfo) -> str:
    msg = str(excinfo.value)
    assert msg and "\n" not in msg, f"not one line: {msg!r}"
    return msg


# ---------------------------------------------------------------- the corpus collect_env texts


def test_every_corpus_collect_env_is_found_by_the_fixture_list():
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is absent")
    assert sorted(p.parent.name for p in CORPUS.glob("*/collect_env.txt")) == COLLECT_ENV_SAMPLES


@pytest.mark.parametrize("sample", COLLECT_ENV_SAMPLES)
def test_corpus_collect_env_imports(sample, tmp_path):
    path = corpus_path(sample, "collect_env.txt")
    with open(path, "rb") as fh:
        assert detect_kind(fh.read()) == "collect_env"
    cap = load_input(path)
    m = cap.manifest
    assert (m["format"], m["version"], m["dlkit_version"]) == ("dlkit-capture", 1, "dlkit-import-collect_env")
    assert m["platform"] in ("linux", "windows", "darwin")
    assert "collect_env report" in m["notes"]
    py = cap.python
    assert set(py) == {"executable", "python_version", "packages", "torch"}
    assert py["executable"] is None
    assert set(py["torch"]) == {"version", "cuda", "hip", "cuda_available", "device_count", "arch_list",
                                "cudnn_version", "error"}
    assert py["torch"]["arch_list"] is None
    # every synthesized entry is named in the notes
    for argv in cap.commands:
        assert " ".join(argv) in m["notes"]
    for path_ in cap.files:
        assert path_ in m["notes"]
    # round trip through the capture format
    out = tmp_path / "cap"
    write_capture(cap, str(out))
    back = load_capture(str(out))
    assert back.python == cap.python
    assert back.commands == cap.commands
    assert back.files == cap.files
    assert back.manifest == cap.manifest


def test_37668_driver_430_one_gtx_1080(corpus_file):
    cap = import_collect_env(corpus_file("pytorch-issue-37668-cu102-torch-on-driver-430-below-minimum", "collect_env.txt"))
    assert cap.manifest["platform"] == "linux"
    assert cap.python["python_version"] == "3.7"
    assert cap.python["torch"] == {"version": "1.5.0", "cuda": "10.2", "hip": None, "cuda_available": True,
                                   "device_count": 1, "arch_list": None, "cudnn_version": None, "error": None}
    assert cmd(cap, "nvidia-smi", "-L").stdout == "GPU 0: GeForce GTX 1080\n"
    assert cmd(cap, "nvidia-smi").stdout == "Driver Version: 430.26\n"
    assert cmd(cap, "nvidia-smi", "-L").status == "ok" and cmd(cap, "nvidia-smi", "-L").returncode == 0
    # "CUDA runtime version: Could not collect": collect_env's nvcc failed -> no entry
    assert cmd(cap, "nvcc", "--version") is None
    assert set(cap.commands) == {("nvidia-smi", "-L"), ("nvidia-smi",)}
    # pip's torch, conda's cudatoolkit
    assert cap.python["packages"]["torch"] == "1.5.0"
    assert cap.python["packages"]["cudatoolkit"] == "10.2.89"
    assert cap.python["packages"]["numpy"] == "1.18.1"


def test_65652_four_mixed_gpus_driver_455(corpus_file):
    cap = import_collect_env(corpus_file("pytorch-issue-65652-mixed-rtx3090-titan-v", "collect_env.txt"))
    assert cap.python["python_version"] == "3.8.11"  # "3.8.11 (default, Aug  3 2021, ...) (64-bit runtime)"
    t = cap.python["torch"]
    assert (t["version"], t["cuda"], t["hip"], t["cuda_available"], t["device_count"]) == ("1.9.1", "11.1", None, True, 4)
    # "cuDNN version: Probably one of the following: /usr/lib/.../libcudnn.so.7.6.2 ..." lists
    # system files, not the cuDNN torch loads
    assert t["cudnn_version"] is None
    assert cmd(cap, "nvidia-smi", "-L").stdout == (
        "GPU 0: GeForce RTX 3090\nGPU 1: GeForce RTX 3090\nGPU 2: TITAN V\nGPU 3: TITAN V\n")
    assert cmd(cap, "nvidia-smi").stdout == "Driver Version: 455.45.01\n"
    assert cmd(cap, "nvcc", "--version").stdout == "Cuda compilation tools, release 11.1, V11.1.105\n"
    assert cap.python["packages"]["torch"] == "1.9.1"


def test_60258_cuda_torch_without_driver_has_no_gpu_command(corpus_file):
    cap = import_collect_env(corpus_file("pytorch-issue-60258-cu111-torch-no-gpu-driver-centos7", "collect_env.txt"))
    t = cap.python["torch"]
    assert t == {"version": "1.9.0+cu111", "cuda": "11.1", "hip": None, "cuda_available": False,
                 "device_count": None, "arch_list": None, "cudnn_version": None, "error": None}
    assert cap.python["python_version"] == "3.6"  # "3.6 (64-bit runtime)"
    # GPU models / driver "Could not collect": nvidia-smi failed, so nothing to replay
    assert not [argv for argv in cap.commands if argv[0] == "nvidia-smi"]
    assert cmd(cap, "nvcc", "--version").stdout == "Cuda compilation tools, release 11.1, V11.1.105\n"
    host = ReplayHost(cap)
    assert host.run(["nvidia-smi", "-L"]).status == "not-found"


def test_60258_os_release_and_kernel_replay_through_the_os_probe(corpus_file):
    from dlkit.probes import osinfo

    cap = import_collect_env(corpus_file("pytorch-issue-60258-cu111-torch-no-gpu-driver-centos7", "collect_env.txt"))
    assert cap.files["/etc/os-release"].decode() == 'PRETTY_NAME="CentOS Linux 7 (Core)"\nID=centos\nVERSION_ID="7"\n'
    facts = osinfo.collect(ReplayHost(cap))
    assert facts.platform == "linux"
    assert facts.distro_id == "centos"
    assert facts.distro_name == "CentOS Linux 7 (Core)"
    assert facts.distro_family == "rhel"
    # "Python platform: Linux-3.10.0-1160.25.1.el7.x86_64-x86_64-with-centos-7.9.2009-Core"
    assert facts.kernel == "3.10.0-1160.25.1.el7.x86_64"
    assert facts.wsl is False


def test_33473_cpu_only_torch_on_windows(corpus_file):
    cap = import_collect_env(corpus_file("pytorch-issue-33473-cpu-only-torch-windows", "collect_env.txt"))
    assert cap.manifest["platform"] == "windows"
    assert cap.python["torch"] == {"version": "1.4.0+cpu", "cuda": None, "hip": None, "cuda_available": False,
                                   "device_count": None, "arch_list": None, "cudnn_version": None, "error": None}
    assert cap.python["packages"] == {"numpy": "1.16.3", "torch": "1.4.0+cpu", "torchvision": "0.5.0+cpu"}
    # "No CUDA" everywhere: nothing was collected, nothing is synthesized
    assert cap.commands == {}
    assert cap.files == {}  # no os-release on Windows


def test_28360_mojibake_os_name_is_windows(corpus_file):
    text = corpus_file("pytorch-issue-28360-windows-mojibake-os-name", "collect_env.txt")
    cap = import_collect_env(text)
    assert cap.manifest["platform"] == "windows"
    assert "/etc/os-release" not in cap.files
    t = cap.python["torch"]
    assert (t["version"], t["cuda"], t["cuda_available"], t["device_count"]) == ("1.3.0a0+de394b6", "10.0", True, 1)
    # the single-line form "GPU models and configuration: GPU 0: GeForce GTX 1080 Ti"
    assert cmd(cap, "nvidia-smi", "-L").stdout == "GPU 0: GeForce GTX 1080 Ti\n"
    assert cmd(cap, "nvidia-smi").stdout == "Driver Version: 411.31\n"
    # conda lists torchvision 0.4.0 and 0.4.1a0+d94043a; pip's 0.4.1a0+d94043a wins
    assert cap.python["packages"]["torchvision"] == "0.4.1a0+d94043a"
    assert cap.python["packages"]["cuda92"] == "1.0"


def test_20978_pip_torch_differs_from_the_running_one(corpus_file):
    cap = import_collect_env(corpus_file("pytorch-issue-20978-maxwell-driver-390-pip-conda-skew", "collect_env.txt"))
    assert cap.python["torch"]["version"] == "1.2.0.dev20190526"
    assert cap.python["torch"]["cuda"] == "9.0.176"
    assert cap.python["packages"]["torch"] == "1.0.0"  # the skew stays visible
    assert cmd(cap, "nvidia-smi", "-L").stdout == "GPU 0: GeForce GTX 980 Ti\nGPU 1: GeForce GTX TITAN X\n"
    assert cmd(cap, "nvidia-smi").stdout == "Driver Version: 390.116\n"
    assert cap.files["/etc/os-release"].decode().startswith('PRETTY_NAME="Ubuntu 18.04.1 LTS"\nID=ubuntu\n')


def test_28280_conda_pytorch_is_torch_and_nvcc_is_replayed(corpus_file):
    cap = import_collect_env(corpus_file("pytorch-issue-28280-2x-gtx-titan-black-kepler", "collect_env.txt"))
    assert cap.python["packages"]["torch"] == "1.3.0.dev20190917"
    assert "pytorch" not in cap.python["packages"]
    assert cap.python["packages"]["mkl-service"] == "2.3.0"
    assert cmd(cap, "nvcc", "--version").stdout == "Cuda compilation tools, release 10.0, V10.0.130\n"
    assert cap.python["torch"]["device_count"] == 2


def test_65480_debian_with_kernel(corpus_file):
    cap = import_collect_env(corpus_file("pytorch-issue-65480-4x-v100-sxm2", "collect_env.txt"))
    t = cap.python["torch"]
    assert (t["version"], t["cuda"], t["cuda_available"], t["device_count"]) == ("1.9.0a0+gitd69c22d", "11.0", True, 4)
    assert cap.python["packages"]["torch"] == "1.10.0a0+gitf69cf3c"
    assert cmd(cap, "nvidia-smi").stdout == "Driver Version: 450.51.06\n"
    assert cap.files["/etc/os-release"].decode() == 'PRETTY_NAME="Debian GNU/Linux 10 (buster)"\nID=debian\nVERSION_ID="10"\n'
    assert cap.files["/proc/version"].decode() == "Linux version 4.19.0-9-amd64\n"


# ---------------------------------------------------------------- collect_env formats, written here

# collect_env of torch 2.x: Python platform, XNNPACK, CPU block (lscpu), nvidia wheels.
MODERN = """\
Collecting environment information...
PyTorch version: 2.5.1+cu124
Is debug build: False
CUDA used to build PyTorch: 12.4
ROCM used to build PyTorch: N/A

OS: Ubuntu 22.04.4 LTS (x86_64)
GCC version: (Ubuntu 11.4.0-1ubuntu1~22.04) 11.4.0
Clang version: Could not collect
CMake version: version 3.22.1
Libc version: glibc-2.35

Python version: 3.11.7 | packaged by conda-forge | (main, Dec 23 2023, 14:43:09) [GCC 12.3.0] (64-bit runtime)
Python platform: Linux-5.15.153.1-microsoft-standard-WSL2-x86_64-with-glibc2.35
Is CUDA available: True
CUDA runtime version: 12.4.131
CUDA_MODULE_LOADING set to: LAZY
GPU models and configuration:
GPU 0: NVIDIA A100-SXM4-40GB
  MIG 3g.20gb     Device  0:
GPU 1: NVIDIA A100-SXM4-40GB

Nvidia driver version: 550.54.14
cuDNN version: 9.1.0
HIP runtime version: N/A
MIOpen runtime version: N/A
Is XNNPACK available: True

CPU:
Architecture:                         x86_64
CPU op-mode(s):                       32-bit, 64-bit
CPU(s):                               32
Model name:                           AMD Ryzen 9 7950X 16-Core Processor

Versions of relevant libraries:
[pip3] numpy==1.26.4
[pip3] nvidia-cudnn-cu12==9.1.0.70
[pip3] torch==2.5.1+cu124
[pip3] triton==3.1.0
[conda] numpy                     1.26.4                   pypi_0    pypi
[conda] pytorch                   2.4.0           py3.11_cuda12.1_cudnn9.1.0_0    pytorch
[conda] pytorch-cuda              12.1                 ha16c6d3_5    pytorch
"""


def test_modern_collect_env():
    cap = import_collect_env(MODERN)
    assert detect_kind(MODERN.encode()) == "collect_env"
    assert cap.manifest["platform"] == "linux"
    assert cap.python["python_version"] == "3.11.7"
    assert cap.python["torch"] == {"version": "2.5.1+cu124", "cuda": "12.4", "hip": None, "cuda_available": True,
                                   "device_count": 2, "arch_list": None, "cudnn_version": 90100, "error": None}
    pk = cap.python["packages"]
    assert pk["torch"] == "2.5.1+cu124"  # pip wins over conda's pytorch 2.4.0
    assert pk["nvidia-cudnn-cu12"] == "9.1.0.70"
    assert pk["pytorch-cuda"] == "12.1"
    # MIG lines are part of what nvidia-smi -L printed
    assert cmd(cap, "nvidia-smi", "-L").stdout == (
        "GPU 0: NVIDIA A100-SXM4-40GB\nMIG 3g.20gb     Device  0:\nGPU 1: NVIDIA A100-SXM4-40GB\n")
    assert cmd(cap, "nvcc", "--version").stdout == "Cuda compilation tools, release 12.4, V12.4.131\n"
    lscpu = cmd(cap, "lscpu").stdout
    assert lscpu.startswith("Architecture:") and "AMD Ryzen 9 7950X" in lscpu and lscpu.endswith("Processor\n")
    # "(x86_64)" is collect_env's suffix, not part of the distribution's name
    assert cap.files["/etc/os-release"].decode() == 'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nID=ubuntu\nVERSION_ID="22.04"\n'
    # the WSL kernel release carries the marker the OS probe looks for
    assert cap.files["/proc/version"].decode() == "Linux version 5.15.153.1-microsoft-standard-WSL2\n"


NO_TORCH = """\
PyTorch version: N/A
Is debug build: N/A
CUDA used to build PyTorch: N/A
ROCM used to build PyTorch: N/A

OS: Fedora Linux 39 (Workstation Edition) (x86_64)
Python version: 3.12.1 (main, Dec 18 2023, 00:00:00) [GCC 13.2.1 20231205 (Red Hat 13.2.1-6)] (64-bit runtime)
Python platform: Linux-6.6.8-200.fc39.x86_64-x86_64-with-glibc2.38
Is CUDA available: N/A
CUDA runtime version: Could not collect
GPU models and configuration: GPU 0: NVIDIA GeForce RTX 4090
Nvidia driver version: 545.29.06
cuDNN version: Could not collect

Versions of relevant libraries:
[pip3] numpy==1.26.2
[conda] Could not collect
"""


def test_torch_not_installed():
    cap = import_collect_env(NO_TORCH)
    assert cap.python["torch"] is None
    assert cap.python["packages"] == {"numpy": "1.26.2"}
    assert cmd(cap, "nvidia-smi", "-L").stdout == "GPU 0: NVIDIA GeForce RTX 4090\n"
    assert cmd(cap, "nvidia-smi").stdout == "Driver Version: 545.29.06\n"
    assert 'ID=fedora\nVERSION_ID="39"' in cap.files["/etc/os-release"].decode()


ROCM = """\
PyTorch version: 2.4.1+rocm6.1
Is debug build: False
CUDA used to build PyTorch: N/A
ROCM used to build PyTorch: 6.1.40091-a8dbc0c19

OS: Ubuntu 22.04.5 LTS (x86_64)
Python version: 3.10.12 (main, Nov  6 2024, 20:22:13) [GCC 11.4.0] (64-bit runtime)
Python platform: Linux-6.8.0-45-generic-x86_64-with-glibc2.35
Is CUDA available: True
CUDA runtime version: Could not collect
CUDA_MODULE_LOADING set to: LAZY
GPU models and configuration: AMD Radeon PRO W7900 (gfx1100)
Nvidia driver version: Could not collect
cuDNN version: Could not collect
HIP runtime version: 6.1.40091
MIOpen runtime version: 3.1.0

Versions of relevant libraries:
[pip3] torch==2.4.1+rocm6.1
"""


def test_rocm_build():
    cap = import_collect_env(ROCM)
    t = cap.python["torch"]
    assert (t["cuda"], t["hip"], t["cuda_available"]) == (None, "6.1.40091-a8dbc0c19", True)
    assert t["device_count"] is None  # the AMD line is not nvidia-smi -L's
    assert not [argv for argv in cap.commands if argv[0] == "nvidia-smi"]


def test_windows_from_python_platform_with_cuda_init_warning():
    text = (
        "PyTorch version: 2.6.0+cu126\nIs debug build: False\nCUDA used to build PyTorch: 12.6\n"
        "ROCM used to build PyTorch: N/A\n\nOS: Could not collect\n\n"
        "Python version: 3.12.8 (tags/v3.12.8:2dc476b, Dec  3 2024, 19:30:04) [MSC v.1942 64 bit (AMD64)] (64-bit runtime)\n"
        "Python platform: Windows-11-10.0.26100-SP0\n"
        "C:\\Python312\\Lib\\site-packages\\torch\\cuda\\__init__.py:129: UserWarning: CUDA initialization: "
        "The NVIDIA driver on your system is too old (found version 11040). Please update your GPU driver "
        "(Triggered internally at C:\\actions-runner\\_work\\pytorch\\c10\\cuda\\CUDAFunctions.cpp:109.)\n"
        "Is CUDA available: False\nCUDA runtime version: Could not collect\n"
        "GPU models and configuration: GPU 0: NVIDIA GeForce GTX 1650\nNvidia driver version: 472.12\n"
        "cuDNN version: Could not collect\n\nCPU:\nName: Intel(R) Core(TM) i5-9300H CPU @ 2.40GHz\n\n"
        "Versions of relevant libraries:\n[pip3] torch==2.6.0+cu126\n"
    )
    cap = import_collect_env(text)
    assert cap.manifest["platform"] == "windows"
    t = cap.python["torch"]
    assert t["cuda_available"] is False and t["device_count"] is None
    assert t["error"] == ("CUDA initialization: The NVIDIA driver on your system is too old (found version 11040). "
                          "Please update your GPU driver")
    assert cmd(cap, "nvidia-smi").stdout == "Driver Version: 472.12\n"
    assert cmd(cap, "lscpu") is None  # Windows' CPU block is not lscpu
    assert cap.files == {}


def test_capability_warning_on_the_line_after_userwarning():
    text = MODERN.replace(
        "Is CUDA available: True\n",
        "/opt/conda/lib/python3.11/site-packages/torch/cuda/__init__.py:235: UserWarning: \n"
        "NVIDIA GeForce RTX 5090 with CUDA capability sm_120 is not compatible with the current PyTorch installation.\n"
        "The current PyTorch install supports CUDA capabilities sm_50 sm_60 sm_70 sm_75 sm_80 sm_86 sm_90.\n"
        "  warnings.warn(\n"
        "Is CUDA available: True\n")
    cap = import_collect_env(text)
    assert cap.python["torch"]["error"] == (
        "NVIDIA GeForce RTX 5090 with CUDA capability sm_120 is not compatible with the current PyTorch installation.")
    assert cap.python["torch"]["cuda_available"] is True


def test_old_darwin_report_runs_no_nvidia_smi():
    text = ("PyTorch version: 1.0.1\nIs debug build: No\nCUDA used to build PyTorch: 10.0\n\n"
            "OS: Mac OSX 10.13.6\nPython version: 3.7\nIs CUDA available: Yes\nCUDA runtime version: 10.0.130\n"
            "GPU models and configuration: GeForce GTX 1080 Ti\nNvidia driver version: 1.1.0\n"
            "cuDNN version: Probably one of the following:\n/usr/local/cuda/lib/libcudnn.7.dylib\n\n"
            "Versions of relevant libraries:\n[pip] torch==1.0.1\n")
    cap = import_collect_env(text)
    assert cap.manifest["platform"] == "darwin"
    assert not [argv for argv in cap.commands if argv[0] == "nvidia-smi"]
    assert cap.files == {}
    assert cap.python["torch"]["device_count"] is None


def test_pasted_with_crlf_markdown_and_utf16_bom():
    body = "```\r\n" + MODERN.replace("\n", "\r\n") + "```\r\n"
    plain = import_collect_env(MODERN)
    for data in (body.encode("utf-8"), b"\xef\xbb\xbf" + body.encode("utf-8"), body.encode("utf-16"),
                 body.encode("utf-16-le")):
        assert detect_kind(data) == "collect_env"
        cap = import_collect_env(importers._text_of(data))
        assert cap.python == plain.python
        assert cap.commands == plain.commands


def test_issue_template_bullets_are_not_collect_env():
    template = ("## Environment\n - PyTorch Version (e.g., 1.0): 1.5\n - OS (e.g., Linux): Ubuntu\n"
                " - Python version: 3.7\n - CUDA/cuDNN version: 10.2\n - GPU models and configuration: 1080\n")
    assert detect_kind(template.encode()) is None


@pytest.mark.parametrize("version,expected", [
    ("7.6.5", 7605), ("8.9.2", 8902), ("8.0.5", 8005), ("9.1.0", 90100), ("9.10.2", 91002), ("8.9", 8900),
    ("/usr/lib/x86_64-linux-gnu/libcudnn.so.7.6.2", None), ("Probably one of the following:", None),
])
def test_cudnn_integer_form_matches_torch(version, expected):
    assert torch_cudnn_int(version) == expected


def test_doctests():
    assert doctest.testmod(importers).failed == 0


# ---------------------------------------------------------------- bare nvidia-smi files


@pytest.mark.parametrize("sample", bare_xml_samples())
def test_corpus_bare_xml_imports(sample, tmp_path):
    path = corpus_path(sample, "nvidia-smi_-q_-x.xml")
    with open(path, "rb") as fh:
        data = fh.read()
    assert detect_kind(data) == "nvsmi-xml"
    cap = load_input(path)
    assert list(cap.commands) == [("nvidia-smi", "-q", "-x")]
    r = cap.commands[("nvidia-smi", "-q", "-x")]
    assert (r.returncode, r.status, r.stderr) == (0, "ok", "")
    assert r.stdout == data.decode("utf-8").replace("\r\n", "\n")
    assert cap.manifest["platform"] == ("windows" if sample in WINDOWS_XML else "linux")
    assert cap.manifest["dlkit_version"] == "dlkit-import-nvidia-smi"
    assert cap.python is None and cap.files == {}
    write_capture(cap, str(tmp_path / "cap"))
    assert load_capture(str(tmp_path / "cap")).commands == cap.commands


def test_bare_xml_count():
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is absent")
    assert len(bare_xml_samples()) == 17  # 14 used bare by expected.json, 3 through raw2capture
    assert WINDOWS_XML <= set(bare_xml_samples())


@pytest.mark.parametrize("sample,name,platform", [
    ("exporter-rtx-2080-super-windows-591", "nvidia-smi_-q.idle.txt", "windows"),
    ("exporter-rtx-2080-super-windows-610-new-header", "nvidia-smi_-q.idle.txt", "windows"),
    ("exporter-h100-80gb-hbm3-vm", "nvidia-smi_-q.idle.txt", "linux"),
    # WSL2's nvidia-smi says WDDM too, but reports persistence mode and POSIX process names
    ("wsl2-rtx-4090-x8-link-docker", "nvidia-smi_-q.txt", "linux"),
])
def test_corpus_nvidia_smi_q_text(sample, name, platform):
    path = corpus_path(sample, name)
    cap = load_input(path)
    assert list(cap.commands) == [("nvidia-smi", "-q")]
    assert cap.manifest["platform"] == platform
    assert "NVSMI LOG" in cap.commands[("nvidia-smi", "-q")].stdout


def test_text_around_the_output_goes_to_stderr():
    xml = '<?xml version="1.0" ?>\n<nvidia_smi_log>\n<driver_version>550.54.14</driver_version>\n</nvidia_smi_log>'
    cap = import_nvidia_smi("$ nvidia-smi -q -x\r\n" + xml.replace("\n", "\r\n") + "\r\n$ exit\r\n", "nvsmi-xml")
    r = cap.commands[("nvidia-smi", "-q", "-x")]
    assert r.stdout == xml + "\n"
    assert r.stderr == "$ nvidia-smi -q -x\n$ exit"
    assert "stderr" in cap.manifest["notes"]


def test_truncated_xml_is_imported_for_the_probe_to_judge(tmp_path):
    f = tmp_path / "gpu.xml"
    f.write_text('<?xml version="1.0" ?>\n<nvidia_smi_log>\n  <driver_version>535.54.03</driver_version>\n  <gpu id="00')
    cap = load_input(str(f))
    assert cap.commands[("nvidia-smi", "-q", "-x")].stdout.endswith('<gpu id="00')
    assert "truncated" in cap.manifest["notes"]


def test_import_nvidia_smi_rejects_other_kinds():
    with pytest.raises(ValueError):
        import_nvidia_smi("x", "collect_env")


# ---------------------------------------------------------------- load_input: captures and refusals


def test_directory_and_archive_captures(tmp_path):
    cap = import_collect_env(MODERN)
    write_capture(cap, str(tmp_path / "dir"))
    write_capture(cap, str(tmp_path / "cap.tar.gz"))
    # by content, not name: an archive renamed to .txt is still an archive
    os.rename(tmp_path / "cap.tar.gz", tmp_path / "capture.txt")
    with open(tmp_path / "capture.txt", "rb") as fh:
        assert detect_kind(fh.read()) == "capture-archive"
    for p in (tmp_path / "dir", tmp_path / "capture.txt"):
        back = load_input(str(p))
        assert back.python == cap.python and back.commands == cap.commands


def test_collect_env_named_like_xml_is_still_collect_env(tmp_path):
    f = tmp_path / "nvidia-smi.xml"
    f.write_text(NO_TORCH)
    assert load_input(str(f)).manifest["dlkit_version"] == "dlkit-import-collect_env"


@pytest.mark.parametrize("name,content,needle", [
    ("empty.txt", b"", "empty file"),
    ("blank.txt", b"\n\n  \n", "empty file"),
    ("garbage.bin", bytes(range(256)) * 64, "not a dlkit capture, collect_env report or nvidia-smi output"),
    ("notes.txt", b"my GPU does not work, please help\n", "not a dlkit capture"),
    ("data.json", b'{"gpus": [1, 2]}', "JSON"),
    ("manifest.json", json.dumps({"format": "dlkit-capture", "version": 1}).encode(), "pass the folder"),
    ("report.json", json.dumps({"schema": "dlkit.doctor/1", "findings": []}).encode(), "doctor report"),
    ("log.gz", gzip.compress(b"NVRM: loading NVIDIA UNIX x86_64 Kernel Module 550.54.14\n"), "gzip"),
    ("nvidia-bug-report.log", b"____________________________________________\n\nStart of NVIDIA bug report log file.  "
     b"Please include this file\n\n==============NVSMI LOG==============\n", "nvidia-bug-report log"),
    ("nvidia-bug-report.log.gz", gzip.compress(b"____\n\nStart of NVIDIA bug report log file.\n" + b"x" * 5000),
     "gzipped nvidia-bug-report log"),
    ("broken.xml", b'<?xml version="1.0" ?>\n<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v11.dtd">\n', "not a dlkit"),
    ("table.txt", b"| NVIDIA-SMI 550.54.14    Driver Version: 550.54.14    CUDA Version: 12.4 |\n", "nvidia-smi -q -x"),
])
def test_bad_inputs_raise_one_line(tmp_path, name, content, needle):
    f = tmp_path / name
    f.write_bytes(content)
    with pytest.raises(CaptureError) as excinfo:
        load_input(str(f))
    msg = single_line_error(excinfo)
    assert msg.startswith(str(f) + ":")
    assert needle in msg


def test_missing_path_and_folder_without_manifest(tmp_path):
    with pytest.raises(CaptureError) as excinfo:
        load_input(str(tmp_path / "nope"))
    assert "no such file" in single_line_error(excinfo)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CaptureError) as excinfo:
        load_input(str(tmp_path / "empty"))
    assert "manifest.json" in single_line_error(excinfo)


def test_corrupt_archive_is_named_as_such(tmp_path):
    f = tmp_path / "cap.tar.gz"
    good = tmp_path / "good.tar.gz"
    write_capture(import_collect_env(MODERN), str(good))
    f.write_bytes(good.read_bytes()[:200])
    with pytest.raises(CaptureError) as excinfo:
        load_input(str(f))
    assert "corrupt or truncated archive" in single_line_error(excinfo)


def test_oversized_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(importers, "MAX_INPUT_BYTES", 1000)
    f = tmp_path / "big.txt"
    f.write_bytes(MODERN.encode() * 2)
    with pytest.raises(CaptureError) as excinfo:
        load_input(str(f))
    assert "too large" in single_line_error(excinfo)
