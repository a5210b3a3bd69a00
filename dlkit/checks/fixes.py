"""Fix text per distribution family, so a pasted fix works on the user's distro."""

from __future__ import annotations

FAMILY_NAMES = {"debian": "Debian/Ubuntu", "rhel": "RHEL/Fedora", "arch": "Arch", "suse": "openSUSE/SLES"}


def per_family(family: str | None, commands: dict[str, str]) -> str:
    """The commands for this family, or every family's, labelled, when it is unknown."""
    if family in commands:
        return commands[family]
    return "\n".join(f"# {FAMILY_NAMES.get(fam, fam)}\n{cmd}" for fam, cmd in commands.items())


BLACKLIST_NOUVEAU = "printf 'blacklist nouveau\\noptions nouveau modeset=0\\n' | sudo tee /etc/modprobe.d/blacklist-nouveau.conf"
REBUILD_INITRAMFS = {
    "debian": f"{BLACKLIST_NOUVEAU}\nsudo update-initramfs -u\nsudo reboot",
    "rhel": f"{BLACKLIST_NOUVEAU}\nsudo grubby --update-kernel=ALL --args='rd.driver.blacklist=nouveau modprobe.blacklist=nouveau'\nsudo dracut --force\nsudo reboot",
    "arch": f"{BLACKLIST_NOUVEAU}\nsudo mkinitcpio -P\nsudo reboot",
    "suse": f"{BLACKLIST_NOUVEAU}\nsudo dracut --force\nsudo reboot",
}
