"""Hosts for farm tests: network namespaces joined to this one by veth pairs.

The test's own namespace is the hub (Redis and the orchestrator); each worker
host is a namespace of its own with one veth link to the hub, on a /24 of its
own: the hub side is ``10.231.N.1``, the host side ``10.231.N.2``. A worker
reaches Redis only over its link, so taking the link down is a partition of
that host (packets are dropped, TCP connections stall and resume, as across a
real network), and bringing it up heals it.

Needs root and ``ip`` (iproute2); ``Hosts.create`` raises ``HostsUnavailable``
with the reason otherwise, for the caller to skip with. Everything made here
is removed by ``close`` (deleting a namespace deletes its veth pair). A namespace
is named after the PID of the process that made it, so one left by a test process
that was killed before its ``close`` ran (SIGKILL, a lost CI job) is removed by the
next ``create``, once that PID is gone.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass

SUBNET = "10.231"  # host N gets 10.231.N.0/24
PREFIX = "btp"  # namespaces "btp{PID}w{N}", their hub links "btp{PID}h{N}" (15 characters at most)
# only names of this form are ever removed as stale: the full PID of the process that made them
_OURS = re.compile(rf"^{PREFIX}(?P<pid>[0-9]+)w[0-9]+$")


class HostsUnavailable(RuntimeError):
    """Namespaces cannot be made here (not root, no iproute2, no kernel support)."""


@dataclass(frozen=True)
class Host:
    namespace: str
    hub_link: str  # the veth end in the hub: down = this host partitioned
    link: str  # the veth end in the host
    hub_address: str  # the hub as this host reaches it (bind Redis to it)
    address: str  # this host's address on its link

    @property
    def prefix(self) -> tuple[str, ...]:
        """Run a command on this host: ``(*host.prefix, "python", ...)``."""
        return ("ip", "netns", "exec", self.namespace)


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise HostsUnavailable(
            f"`ip {' '.join(args)}` failed: {done.stderr.strip() or done.returncode}"
        )


def remove_stale() -> list[str]:
    """Delete the namespaces made here by processes that are gone (killed before ``close``);
    the names deleted."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    stale = []
    for line in listed.splitlines():
        name = line.split(" ", 1)[0]
        found = _OURS.match(name)
        if found and not _alive(int(found["pid"])):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
            stale.append(name)
    return stale


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Hosts:
    """``count`` worker hosts, made by ``create`` and removed by ``close``."""

    def __init__(self, count: int) -> None:
        tag = f"{PREFIX}{os.getpid()}"
        self.hosts: list[Host] = []
        self._planned = [
            Host(
                namespace=f"{tag}w{i}",
                hub_link=f"{tag}h{i}",
                link=f"{tag}n{i}",
                hub_address=f"{SUBNET}.{self._octet(i)}.1",
                address=f"{SUBNET}.{self._octet(i)}.2",
            )
            for i in range(1, count + 1)
        ]

    @staticmethod
    def _octet(i: int) -> int:
        return (os.getpid() * 7 + i) % 250 + 1  # two sessions at once rarely share a subnet

    def create(self) -> Hosts:
        if os.geteuid() != 0:
            raise HostsUnavailable("network namespaces need root (CI runs as root)")
        if shutil.which("ip") is None:
            raise HostsUnavailable("no `ip` command: install iproute2")
        remove_stale()
        try:
            for host in self._planned:
                peer = host.link
                _ip("netns", "add", host.namespace)
                self.hosts.append(host)
                _ip("link", "add", host.hub_link, "type", "veth", "peer", "name", peer)
                _ip("link", "set", peer, "netns", host.namespace)
                _ip("addr", "add", f"{host.hub_address}/24", "dev", host.hub_link)
                _ip("link", "set", host.hub_link, "up")
                _ip("-n", host.namespace, "addr", "add", f"{host.address}/24", "dev", peer)
                _ip("-n", host.namespace, "link", "set", peer, "up")
                _ip("-n", host.namespace, "link", "set", "lo", "up")
        except HostsUnavailable:
            self.close()
            raise
        return self

    def partition(self, host: Host) -> None:
        """Cut ``host`` off the hub: its link down, everything it sends dropped."""
        _ip("link", "set", host.hub_link, "down")

    def heal(self, host: Host) -> None:
        _ip("link", "set", host.hub_link, "up")

    def close(self) -> None:
        for host in self.hosts:
            subprocess.run(["ip", "link", "del", host.hub_link], capture_output=True)
            subprocess.run(["ip", "netns", "del", host.namespace], capture_output=True)
        self.hosts = []

    def __enter__(self) -> Hosts:
        return self.create()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
