"""Redaction that holds (spec §1 "Redaction"): every kind of identifying value, planted across
files, commands, the environment and directory names of a fake machine, is gone from the
written capture (its bytes and its path names), from ``--json`` and from ``--markdown``, live
and replayed; the diagnosis survives; ``--no-redact`` keeps everything; no network is used.

The fake machine is the full desktop of test_golden.py, read through the real LiveHost and
RecordingHost code (test_host.RootedLiveHost), with the planted values below.
"""

from __future__ import annotations

import doctest
import json
import os
import re
import socket
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

import dlkit.cli.doctor as doctor_cli
import dlkit.host.redact as redact_module
import dlkit.host.redact_rules as redact_rules
from dlkit.cli import app
from dlkit.engine import doctor
from dlkit.host import Capture, CommandResult, RecordingHost, Redactor, ReplayHost, load_capture, write_capture
from test_golden import CMDLINE, DMESG, NVSMI_XML, XID13, full_machine, python_json
from test_host import RootedLiveHost, materialize

# ------------------------------------------------------------------ what is planted

FQDN, SHORT = "node17.cluster.example.org", "node17"
USER = "marguerite"
VENV = f"/data/{USER}/venv"
PYTHON = f"{VENV}/bin/python"
MAC_COLON, MAC_DASH, MAC_CISCO = "00:1a:2b:3c:4d:5e", "00-1A-2B-3C-4D-5F", "001a.2b3c.4d60"
IB_GUID = "00:02:c9:03:00:a1:b2:c3"
IB_ADDR = "80:00:02:08:fe:80:00:00:00:00:00:00:" + IB_GUID
URL_PASSWORD = "Hunter2Secret"
URL = f"https://deploy:{URL_PASSWORD}@git.example.org/team/repo.git"
CVD_TOKEN, LD_TOKEN = "tokCVD8f3a91", "tokLDP77c1e2"
SECRET_VALUE = "s3cr3tValue42"  # WANDB_API_KEY
HF_VALUE = "hf_" + "Ab1Cd2Ef3" * 3  # HF_TOKEN
SCRATCH_LIB = f"/scratch/{USER}/cuda/lib64"

PLANTED = [FQDN, SHORT, USER, MAC_COLON, MAC_DASH, MAC_CISCO, IB_GUID, IB_ADDR, URL_PASSWORD,
           f"deploy:{URL_PASSWORD}", CVD_TOKEN, LD_TOKEN, SECRET_VALUE, HF_VALUE]
# Facts that must survive redaction (in the redacted report, as in the plain one).
FACTS = ["NVIDIA GeForce RTX 4090", "550.54.14", "12.4", "9.1.0", "9.1.0.70", "0000:01:00.0", "0000:02:00.0",
         "2.5.1+cu124", "6.5.0-35-generic"]
FACTS_MD = ["NVIDIA GeForce RTX 4090", "550.54.14", "12.4", "2.5.1+cu124", "6.5.0-35-generic"]

PLANTED_XID = (f"NVRM: Xid (PCI:0000:02:00): 13, pid=48211, name={PYTHON} --push {URL} --run wandb-{SECRET_VALUE}"
               f" on {SHORT}, Graphics SM Warp Exception on (GPC 0, TPC 0, SM 0): Out Of Range Address")
PLANTED_CMDLINE = (f"{CMDLINE} hostname={SHORT} nfsroot=10.1.2.3:/scratch/{USER} console={SHORT.upper()}-ib0 "
                   f"ifname=ib0:{IB_ADDR} ifname=eth0:{MAC_COLON} BOOTIF=01-{MAC_DASH} cisco={MAC_CISCO} "
                   f"repo={URL} node={FQDN.upper()} home=~{USER}/x")
PROCESS = (f"<processes><process_info><pid>48211</pid><type>C</type><process_name>{PYTHON} train.py "
           f"--db {URL} --user {USER}@{FQDN} --hf {HF_VALUE}</process_name>"
           "<used_memory>1100 MiB</used_memory></process_info></processes>\n    </gpu>")


def planted_machine() -> dict:
    m = full_machine()
    files = m["files"]
    files["/proc/cmdline"] = PLANTED_CMDLINE + "\n"
    files["/etc/hostname"] = f"{SHORT}\n"
    files["/proc/sys/kernel/hostname"] = f"{SHORT}\n"
    files["/etc/hosts"] = f"127.0.0.1 localhost\n127.0.1.1 {FQDN} {SHORT}\n10.9.9.9 other-node\n"
    # a directory named after the user inside the capture: LD_LIBRARY_PATH's dirs are listed
    files[f"{SCRATCH_LIB}/libcudnn.so.9.1.0"] = "ELF"
    commands = dict(m["commands"])
    commands[("dmesg",)] = CommandResult(("dmesg",), 0, DMESG.replace(XID13, PLANTED_XID)
                                         + f"[   9.1] mlx5_core 0000:41:00.0 ib0: GUID {IB_GUID} on {SHORT.upper()}\n",
                                         "", "ok")
    xml = NVSMI_XML.replace("\n    </gpu>", "\n        " + PROCESS, 1)
    commands[("nvidia-smi", "-q", "-x")] = CommandResult(("nvidia-smi", "-q", "-x"), 0, xml, "", "ok")
    environ = {
        "CUDA_VISIBLE_DEVICES": f"0,{CVD_TOKEN},1",
        "LD_LIBRARY_PATH": f"/usr/local/cuda-12.4/lib64:{SCRATCH_LIB}:{LD_TOKEN}:$ORIGIN/../lib",
        "VIRTUAL_ENV": VENV,
        "USER": USER, "LOGNAME": USER, "HOME": f"/home/{USER}",
        "WANDB_API_KEY": SECRET_VALUE, "HF_TOKEN": HF_VALUE,
    }
    python = python_json()
    text = json.dumps(python).replace("/home/ada/venv", VENV)
    python = json.loads(text)
    return {"files": files, "links": m["links"], "commands": commands, "environ": environ,
            "which": {PYTHON: PYTHON}, "python": python}


def fake_getpwuid(uid):
    import pwd
    return pwd.struct_passwd((USER, "x", 1000, 1000, "", f"/home/{USER}", "/bin/sh"))


def _no_network(*args, **kwargs):
    raise AssertionError("redaction must not use the network")


@pytest.fixture
def fake_identity(monkeypatch):
    """This process runs on node17 as USER, with secrets in its environment, and has no network."""
    monkeypatch.setattr(socket, "gethostname", lambda: SHORT)
    for name in ("getfqdn", "gethostbyname", "gethostbyname_ex", "gethostbyaddr", "getaddrinfo", "getnameinfo"):
        monkeypatch.setattr(socket, name, _no_network)
    import pwd
    monkeypatch.setattr(pwd, "getpwuid", fake_getpwuid)
    monkeypatch.setenv("USER", USER)
    monkeypatch.setenv("WANDB_API_KEY", SECRET_VALUE)
    monkeypatch.setenv("HF_TOKEN", HF_VALUE)


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """The planted machine on disk; doctor's live runs read it (RecordingHost over RootedLiveHost)."""
    m = planted_machine()
    root = materialize(tmp_path / "machine", m["files"], m["links"])

    def live() -> RootedLiveHost:
        return RootedLiveHost(root, commands=m["commands"], environ=m["environ"], which=m["which"], python=m["python"])

    monkeypatch.setattr(doctor_cli, "RecordingHost", lambda: RecordingHost(live()))
    monkeypatch.setattr(doctor_cli, "LiveHost", live)
    return live


def run_cli(*args: str):
    result = CliRunner().invoke(app, ["doctor", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def survivors(blob: str | bytes) -> list[str]:
    text = (blob.decode("utf-8", "replace") if isinstance(blob, bytes) else blob).lower()
    return [p for p in PLANTED if p.lower() in text]


def bundle_text(path: Path) -> str:
    """Every file's bytes and every path name of a capture directory or archive."""
    parts = []
    if path.is_dir():
        for p in sorted(path.rglob("*")):
            parts.append(str(p.relative_to(path)))
            if p.is_file() and not p.is_symlink():
                parts.append(p.read_bytes().decode("utf-8", "replace"))
            elif p.is_symlink():
                parts.append(os.readlink(p))
    else:
        with tarfile.open(path) as tar:
            for member in tar.getmembers():
                parts += [member.name, member.linkname]
                if member.isfile():
                    parts.append(tar.extractfile(member).read().decode("utf-8", "replace"))
    return "\n".join(parts)


# ------------------------------------------------------------------ the planted-secret test


@pytest.mark.parametrize("name", ["cap", "cap.tar.gz"])
def test_a_default_capture_and_its_reports_hold_no_planted_value(tmp_path, machine, fake_identity, name):
    dest = tmp_path / name
    live_json = run_cli("--capture", str(dest), "--json")
    assert live_json.stderr == f"capture written to {dest} (redacted; see manifest.json)\n"
    # the planted values were there to be found (the plain capture holds them all)
    plain = tmp_path / f"plain-{name}"
    run_cli("--capture", str(plain), "--no-redact", "--json")
    assert survivors(bundle_text(plain)) == PLANTED

    assert survivors(bundle_text(dest)) == []
    assert survivors(live_json.stdout) == []
    live_md = run_cli("--markdown")
    assert survivors(live_md.stdout) == []
    # replaying the redacted capture, and an unredacted one, prints nothing planted either
    for capture in (dest, plain):
        for fmt in ("--json", "--markdown"):
            out = run_cli("--from", str(capture), fmt).stdout
            # a secret known only from the live environment (no probe reads WANDB_API_KEY) is not
            # in an unredacted capture: replayed elsewhere, nothing can say it is one
            assert survivors(out) == ([SECRET_VALUE] if capture == plain and SECRET_VALUE in out else []), (capture, fmt)
            for fact in FACTS if fmt == "--json" else FACTS_MD:
                assert fact in out, (fact, capture, fmt)


def test_the_plain_report_holds_the_planted_values(tmp_path, machine, fake_identity):
    """--no-redact keeps everything, and says so."""
    doc = json.loads(run_cli("--json", "--no-redact").stdout)
    assert doc["redactions"] == {"applied": False}
    text = json.dumps(doc)
    for value in (SHORT, USER, CVD_TOKEN, LD_TOKEN, URL_PASSWORD, SECRET_VALUE, IB_ADDR):
        assert value in text, value
    md = run_cli("--markdown", "--no-redact").stdout
    assert "Not redacted (`--no-redact`)" in md and SHORT in md and URL_PASSWORD in md


def test_the_reports_say_what_was_redacted(tmp_path, machine, fake_identity):
    doc = json.loads(run_cli("--json").stdout)
    assert doc["schema"] == "dlkit.doctor/1"
    assert doc["redactions"]["applied"] is True
    kinds = doc["redactions"]["kinds"]
    for kind in ("hostname", "user", "mac", "url_credentials", "env_list_values", "secret_env_values"):
        assert kinds.get(kind, 0) >= 1, (kind, kinds)
    assert all(isinstance(n, int) and n > 0 for n in kinds.values())
    # the values themselves are not in the report: the CUDA_VISIBLE_DEVICES check still sees three entries
    assert doc["facts"]["env"]["cuda_visible_devices"] == "0,REDACTED,1"
    md = run_cli("--markdown").stdout
    [line] = [x for x in md.splitlines() if x.startswith("Redacted for sharing: ")]
    assert "host name" in line and "user name" in line and "(`--no-redact` keeps them)" in line


def test_the_manifest_says_what_was_redacted(tmp_path, machine, fake_identity):
    """What README tells a user to check: tar -xzOf x.tar.gz manifest.json."""
    run_cli("--capture", str(tmp_path / "x.tar.gz"))
    with tarfile.open(tmp_path / "x.tar.gz") as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    assert manifest["redacted"] is True
    for kind in ("hostname", "user", "mac", "ip", "uuid", "url_credentials", "env_list_values"):
        assert manifest["redactions"].get(kind, 0) >= 1, (kind, manifest["redactions"])


def test_redacted_and_plain_captures_replay_to_the_same_diagnosis(tmp_path, machine, fake_identity):
    """Only redacted values differ: the plain replay, redacted, is the redacted replay."""
    run_cli("--capture", str(tmp_path / "plain"), "--no-redact")
    run_cli("--capture", str(tmp_path / "red"))
    plain = load_capture(str(tmp_path / "plain"))
    red = load_capture(str(tmp_path / "red"))
    plain_json = doctor(ReplayHost(plain)).to_json()
    red_json = doctor(ReplayHost(red)).to_json()
    assert [(f["code"], f["severity"]) for f in red_json["findings"]] == \
        [(f["code"], f["severity"]) for f in plain_json["findings"]]
    # the plain capture redacted with what the live run knew replays to the plain report, redacted
    r = Redactor.for_host(machine())
    assert doctor(ReplayHost(r.redact_capture(plain))).to_json() == r.json_value(plain_json)
    def no_uuid(gpus):
        return [{k: v for k, v in g.items() if k != "uuid"} for g in gpus]
    assert no_uuid(red_json["facts"]["gpus"]) == no_uuid(plain_json["facts"]["gpus"])  # names, bus ids, links
    assert red_json["facts"]["nvidia_driver"] == plain_json["facts"]["nvidia_driver"]
    assert red_json["facts"]["cuda"] == plain_json["facts"]["cuda"]  # toolkits, cuDNN 9.1.0, gcc
    assert red_json["facts"]["python"]["chosen_by"] == "VIRTUAL_ENV"
    assert red_json["facts"]["python"]["torch"]["version"] == "2.5.1+cu124"
    # the user's directory is a directory of the capture still, under its placeholder
    assert "/scratch/user-1/cuda/lib64" in red.dirs and not any(USER in d for d in red.dirs)


def test_capture_works_without_the_network(tmp_path, machine, fake_identity):
    """socket.getfqdn & co raise (fixture): a capture is written, the names come from files."""
    result = run_cli("--capture", str(tmp_path / "c"), "--json")
    assert result.exit_code in (0, 1, 2)
    assert (tmp_path / "c" / "manifest.json").is_file()
    r = Redactor.for_host(RecordingHost(machine()))
    assert {FQDN, SHORT} <= set(r.hostnames) and "other-node" not in r.hostnames and USER in r.users


def test_no_resolver_is_called_anywhere():
    root = Path(redact_module.__file__).resolve().parents[2]
    sources = [p for d in ("dlkit", "probes", "recipes", "benchmarks") for p in (root / d).rglob("*.py")]
    assert len(sources) > 50
    for path in sources:
        assert re.search(r"socket\.(getfqdn|gethostby\w+|getaddrinfo|getnameinfo)|\bgetfqdn\b", path.read_text()) is None, path


def test_the_archive_headers_name_no_user(tmp_path, machine, fake_identity):
    run_cli("--capture", str(tmp_path / "x.tar.gz"))
    with tarfile.open(tmp_path / "x.tar.gz") as tar:
        owners = {(m.uname, m.gname, m.uid, m.gid) for m in tar.getmembers()}
    assert survivors(json.dumps(sorted(owners))) == [] and {o[2] for o in owners} <= {0}


# ------------------------------------------------------------------ the rules, one by one


def test_hostnames_in_every_form_and_case():
    r = Redactor([FQDN])
    assert r.hostnames == [FQDN, SHORT]
    assert r.text(f"{FQDN} NODE17 node17-ib0 Node17.cluster.example.org node170 anode17 /var/log/{SHORT}/x") == \
        "host-1 host-2 host-2-ib0 host-1 node170 anode17 /var/log/host-2/x"
    assert r.summary() == {"hostname": 2}


@pytest.mark.parametrize("names", [["ubuntu"], ["nvidia"], ["dgx"], ["a100"], ["rtx4090"], ["localhost"], ["ab"],
                                   ["10.0.0.5"], ["host-1"], ["worker"]])
def test_generic_hostnames_are_left_alone(names):
    """A name that would rewrite facts (os-release IDs, module names, GPU models) is not learned."""
    assert Redactor(names).hostnames == []


def test_user_names_wherever_they_appear():
    r = Redactor(users=[USER])
    text = (f"/scratch/{USER}/x /data/{USER}/y {USER}@node ~{USER}/z /home/{USER} C:\\Users\\{USER}\\a "
            f"owner={USER}; {USER}s margueritex")
    assert r.text(text) == ("/scratch/user-1/x /data/user-1/y user-1@node ~user-1/z /home/user-1 C:\\Users\\user-1\\a "
                            f"owner=user-1; {USER}s margueritex")
    # other users under /home and after ~ are replaced too, consistently
    assert r.text("/home/bob/.cache ~carol/x /home/bob") == "/home/user-2/.cache ~user-3/x /home/user-2"


@pytest.mark.parametrize("name", ["root", "dev", "lib", "nvidia", "ubuntu", "user-3", "a"])
def test_generic_user_names_are_never_replaced(name):
    r = Redactor(users=[name])
    assert r.users == []
    assert r.text("/dev/nvidia0 /usr/lib/x ID=ubuntu /root") == "/dev/nvidia0 /usr/lib/x ID=ubuntu /root"


def test_a_two_letter_user_is_replaced_only_as_a_path_component():
    r = Redactor(users=["al"])
    assert r.text("/scratch/al/x ~al/y al is al") == "/scratch/user-1/x ~user-1/y al is al"


@pytest.mark.parametrize("original,redacted", [
    ("ether 00:1a:2b:3c:4d:5e", "ether 00:00:5e:00:53:01"),
    ("Physical Address 00-1A-2B-3C-4D-5E", "Physical Address 00-00-5e-00-53-01"),
    ("mac 001a.2b3c.4d5e", "mac 0000.5e00.5301"),
    ("BOOTIF=01-00-1a-2b-3c-4d-5e", "BOOTIF=01-00-00-5e-00-53-01"),
    ("ifname=eth0:00:1a:2b:3c:4d:5e", "ifname=eth0:00:00:5e:00:53:01"),
    (f"link/infiniband {IB_ADDR}", "link/infiniband 80:00:02:08:fe:80:00:00:00:00:00:00:00:00:5e:00:53:00:00:01"),
    (f"ifname=ib0:{IB_ADDR}", "ifname=ib0:80:00:02:08:fe:80:00:00:00:00:00:00:00:00:5e:00:53:00:00:01"),
    ("node_guid 0002:c903:00a1:b2c3", "node_guid 0000:5e00:5300:0001"),
])
def test_mac_addresses_in_every_notation(original, redacted):
    r = Redactor()
    assert r.text(original) == redacted
    assert r.text(redacted) == redacted  # the documentation-range placeholders are left alone
    assert r.summary() == {"mac": 1}


def test_the_same_mac_in_two_notations_is_one_placeholder():
    r = Redactor()
    assert r.text("00:1a:2b:3c:4d:5e 00-1A-2B-3C-4D-5E 001a.2b3c.4d5e") == \
        "00:00:5e:00:53:01 00-00-5e-00-53-01 0000.5e00.5301"


def test_url_credentials_everywhere():
    r = Redactor()
    xml = f"<process_name>python {URL}</process_name>"
    assert r.text(xml) == "<process_name>python https://REDACTED@git.example.org/team/repo.git</process_name>"
    assert r.text("git clone https://ghp_token@github.com/x") == "git clone https://REDACTED@github.com/x"
    # in JSON text the userinfo never crosses a quote or a backslash
    doc = {"a": "mailto user@example.org", "b": "x://", "c": "@host", "d": f"see {URL}"}
    assert r.json_value(doc) == {"a": "mailto user@example.org", "b": "x://", "c": "@host",
                                 "d": "see https://REDACTED@git.example.org/team/repo.git"}
    # the password is remembered, and goes wherever else it appears
    r.learn_text(URL)
    assert r.text(f"PGPASSWORD {URL_PASSWORD}") == "PGPASSWORD REDACTED"
    assert r.text(r.text(URL)) == r.text(URL)


def test_environment_lists_keep_paths_and_device_ids_only():
    r = Redactor()
    env = {
        "CUDA_VISIBLE_DEVICES": f"0,{CVD_TOKEN},GPU-4a5b6c7d-1234-5678-9abc-def012345678,MIG-GPU-4a5b6c7d/1/2",
        "NVIDIA_VISIBLE_DEVICES": "all", "ROCR_VISIBLE_DEVICES": "none",
        "LD_LIBRARY_PATH": f"/usr/local/cuda/lib64:{LD_TOKEN}:$ORIGIN/lib:~/lib:./lib::{SCRATCH_LIB}",
        "PATH": "/usr/bin:/bin", "CUDA_HOME": "/usr/local/cuda-12.4",
        "PYTHONPATH": f"src:/opt/{USER}-tools", "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
        "HF_TOKEN": HF_VALUE, "DB_PASSWORD": "pw",
    }
    out = r.environ(env)
    assert out == {
        "CUDA_VISIBLE_DEVICES": "0,REDACTED,GPU-00000000-0000-0000-0000-000000000001,MIG-GPU-4a5b6c7d/1/2",
        "NVIDIA_VISIBLE_DEVICES": "all", "ROCR_VISIBLE_DEVICES": "none",
        "LD_LIBRARY_PATH": "/usr/local/cuda/lib64:REDACTED:$ORIGIN/lib:~/lib:./lib::/scratch/marguerite/cuda/lib64",
        "PATH": "/usr/bin:/bin", "CUDA_HOME": "/usr/local/cuda-12.4",
        "PYTHONPATH": f"REDACTED:/opt/{USER}-tools", "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
        "HF_TOKEN": "REDACTED", "DB_PASSWORD": "REDACTED",
    }
    assert r.summary() == {"env_list_values": 3, "secret_env_values": 2, "uuid": 1}
    # each removed value (and each secret value of 4 characters or more) goes wherever else it appears
    assert r.text(f"evidence: {CVD_TOKEN} {LD_TOKEN} {HF_VALUE} src pw") == \
        "evidence: REDACTED REDACTED REDACTED src pw"


def test_windows_path_lists():
    r = Redactor()
    out = r.environ({"PATH": "C:\\Windows\\system32;tok9x8y7z;%SystemRoot%\\bin;C:\\Users\\bob\\bin"})
    assert out == {"PATH": "C:\\Windows\\system32;REDACTED;%SystemRoot%\\bin;C:\\Users\\user-1\\bin"}


def test_secrets_on_command_lines_and_well_known_token_shapes():
    r = Redactor()
    gh = "ghp_" + "a1B2" * 9
    assert r.text(f"python x.py --api-key=abc123xyz HF_TOKEN={HF_VALUE} Authorization: Bearer abcdefgh12345 {gh}") == \
        "python x.py --api-key=REDACTED HF_TOKEN=REDACTED Authorization: Bearer REDACTED REDACTED"
    assert r.text("root=UUID=00000000-0000-0000-0000-000000000001 nouveau.modeset=0 ip=192.0.2.2") == \
        "root=UUID=00000000-0000-0000-0000-000000000001 nouveau.modeset=0 ip=192.0.2.2"


def test_the_manifest_notes_and_unreadable_paths_are_redacted():
    inner = ReplayHost(Capture(manifest={"created": "2026-01-01T00:00:00Z"}, files={}))
    inner._unreadable = {f"/scratch/{USER}/secret.conf": f"permission denied on {SHORT}"}
    rec = RecordingHost(inner)
    rec.read_text(f"/scratch/{USER}/secret.conf")
    cap = rec.to_capture(Redactor([SHORT], [USER]), notes=f"taken by {USER} on {SHORT.upper()}")
    assert cap.manifest["unreadable"] == {"/scratch/user-1/secret.conf": "permission denied on host-1"}
    assert cap.manifest["notes"] == "taken by user-1 on host-1"
    # and replay still answers "permission denied" for the redacted path
    assert ReplayHost(cap).read_text("/scratch/user-1/secret.conf").error == "permission denied on host-1"


def test_a_replayed_capture_is_redacted_with_its_own_names_not_this_machines(monkeypatch):
    monkeypatch.setattr(socket, "gethostname", lambda: "replaying-box")
    cap = Capture(manifest={"format": "dlkit-capture", "version": 1},
                  files={"/etc/hostname": b"gpu-box-9\n", "/proc/sys/kernel/hostname": b"gpu-box-9\n",
                         "/proc/cmdline": b"x=gpu-box-9 y=replaying-box\n"},
                  environ={"USER": "zed9", "HOME": "/home/zed9"})
    r = Redactor.for_capture(cap)
    assert r.hostnames == ["gpu-box-9"] and r.users == ["zed9"]
    assert r.redact_capture(cap).files["/proc/cmdline"] == b"x=host-1 y=replaying-box\n"


def test_redacting_a_redacted_capture_changes_nothing(tmp_path, machine, fake_identity):
    run_cli("--capture", str(tmp_path / "red"))
    red = load_capture(str(tmp_path / "red"))
    again = Redactor.for_capture(red).redact_capture(red)
    assert again.files == red.files and again.environ == red.environ and again.python == red.python
    assert {a: (c.stdout, c.stderr) for a, c in again.commands.items()} == \
        {a: (c.stdout, c.stderr) for a, c in red.commands.items()}


def test_the_doctest_of_hosts_aliases():
    assert doctest.testmod(redact_rules).failed == 0 and doctest.testmod(redact_rules).attempted > 0


def test_a_recorded_capture_keeps_what_replay_needs_to_redact_it(tmp_path, machine, fake_identity):
    """Even unredacted, a capture holds its host name files and user variables, so that
    --from can redact it; nothing else is added (no /etc/hosts, whose other names would leak)."""
    rec = RecordingHost(machine())
    doctor(rec)
    cap = rec.to_capture(None)
    assert cap.files["/etc/hostname"] == f"{SHORT}\n".encode() and "/etc/hosts" not in cap.files
    assert cap.environ["USER"] == USER and cap.environ["HOME"] == f"/home/{USER}"
    write_capture(rec.to_capture(Redactor.for_host(rec)), str(tmp_path / "red"))
    red = load_capture(str(tmp_path / "red"))
    assert red.files["/etc/hostname"] == b"host-2\n" or red.files["/etc/hostname"] == b"host-1\n"
    assert red.environ["USER"] == "user-1"


def test_for_host_learns_every_identity_source(tmp_path, monkeypatch):
    monkeypatch.setattr(socket, "gethostname", lambda: "ws-0042")
    import pwd
    monkeypatch.setattr(pwd, "getpwuid", fake_getpwuid)
    root = materialize(tmp_path / "m", {"/etc/hostname": "kern-host\n", "/proc/sys/kernel/hostname": "kern-host\n",
                                        "/etc/hosts": "127.0.1.1 kern-host.lab.example.net kern-host kh-alias\n"}, {})
    host = RootedLiveHost(root, environ={"HOME": "/u/homeuser"})
    r = Redactor.for_host(host, environ={"USER": "envuser", "LOGNAME": "loguser", "SUDO_USER": "sudoer",
                                         "HOME": "/home/envhome", "AUTH_COOKIE": "c00kie-value"})
    assert set(r.hostnames) == {"ws-0042", "kern-host", "kern-host.lab.example.net", "kh-alias"}
    assert set(r.users) == {USER, "envuser", "loguser", "sudoer", "envhome", "homeuser"}
    assert r.text("cookie c00kie-value") == "cookie REDACTED"


def test_replayed_reports_say_what_was_redacted_and_the_console_is_not_redacted(tmp_path, machine, fake_identity):
    run_cli("--capture", str(tmp_path / "plain.tar.gz"), "--no-redact")
    doc = json.loads(run_cli("--from", str(tmp_path / "plain.tar.gz"), "--json").stdout)
    assert doc["redactions"]["applied"] is True and doc["redactions"]["kinds"]["hostname"] >= 1
    md = run_cli("--from", str(tmp_path / "plain.tar.gz"), "--markdown").stdout
    assert md.splitlines()[4].startswith("Redacted for sharing: ")
    console = run_cli("--from", str(tmp_path / "plain.tar.gz"), "-v").stdout
    assert USER in console or SHORT in console  # for the person at the machine, as it is


def test_a_long_text_is_redacted_as_a_short_one_would_be(monkeypatch):
    """Long texts are scanned only around each rule's markers (a 14 MB GPU name in a pasted
    report costs seconds, not minutes): the result is the same as a full scan."""
    filler = "GeForce RTX 4090 " * 3000
    pieces = [PLANTED_CMDLINE, PLANTED_XID, f"cuDNN 9.1.0.70 at 10.0.0.5 {URL} {USER}@{FQDN}", "x" * 70_000 + "/" + MAC_COLON,
              f"HF_TOKEN={HF_VALUE}", "Serial Number : 1324217012345", f"{CVD_TOKEN},{LD_TOKEN} "]
    text = filler.join(pieces) + filler
    assert len(text) > redact_rules.LONG_TEXT

    def redactor():
        r = Redactor([FQDN], [USER])
        for value in (CVD_TOKEN, LD_TOKEN, SECRET_VALUE):
            r.remember(value, "env_list_values")
        return r

    windowed = redactor().text(text)
    monkeypatch.setattr(redact_rules, "LONG_TEXT", 1 << 40)
    assert windowed == redactor().text(text)
    assert survivors(windowed) == []
