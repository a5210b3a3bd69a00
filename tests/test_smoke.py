from conftest import fake_host

from dlkit.engine import doctor


def test_nouveau_bound_to_nvidia_gpu_is_an_error():
    host = fake_host(
        files={"/proc/modules": "nouveau 2412544 1 - Live 0x0\n",
               "/sys/bus/pci/devices/0000:01:00.0/vendor": "0x10de\n",
               "/sys/bus/pci/devices/0000:01:00.0/class": "0x030000\n"},
        links={"/sys/bus/pci/devices/0000:01:00.0/driver": "../../../../bus/pci/drivers/nouveau"},
    )
    report = doctor(host)
    codes = {f.code: f.severity.value for f in report.findings}
    assert codes["nouveau.loaded"] == "error"
    assert report.exit_code == 2
