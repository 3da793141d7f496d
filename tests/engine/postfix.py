"""A private Postfix instance on loopback, for tests that need bounces a real mail server writes.

It has its own configuration, queue and data directories under a temporary directory and is driven with
``postfix -c DIR``, so it never touches a system instance (Debian's package installs none when told
"No configuration"). Its SMTP server listens on 127.0.0.1 on a free unprivileged port; it delivers only to
the domains in ``routes``, each sent to ``smtp:[127.0.0.1]:PORT``, and refuses every other destination.

``maximal_queue_lifetime = 0`` makes Postfix try each delivery once: a recipient refused with a 4xx is
returned at once in a bounce whose ``Status`` is 4.x.x and ``Action`` is ``failed``, the report a mail
server sends when it gives up after a temporary failure, without waiting days for the queue to expire.

Postfix's master runs as root and drops to the ``postfix`` user, so this needs root and the package
(``apt-get install postfix``); `problem` says what is missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from .helpers import wait_for

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
HOSTNAME = "mx.example.com"
SERVICES = """\
{listen} inet n - n - - smtpd
pickup    unix  n - n 60    1 pickup
cleanup   unix  n - n -     0 cleanup
qmgr      unix  n - n 300   1 qmgr
rewrite   unix  - - n -     - trivial-rewrite
bounce    unix  - - n -     0 bounce
defer     unix  - - n -     0 bounce
trace     unix  - - n -     0 bounce
verify    unix  - - n -     1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -     - proxymap
smtp      unix  - - n -     - smtp
relay     unix  - - n -     - smtp
showq     unix  n - n -     - showq
error     unix  - - n -     - error
retry     unix  - - n -     - error
discard   unix  - - n -     - discard
anvil     unix  - - n -     1 anvil
scache    unix  - - n -     1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


def problem() -> str | None:
    """Why a private Postfix cannot run here, or None."""
    if not os.path.exists(POSTFIX):
        return "no postfix; install Debian's postfix package (apt-get install postfix)"
    if os.geteuid() != 0:
        return "Postfix's master process must start as root"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Postfix:
    """``with Postfix(routes) as mta:`` a running instance; ``mta.port`` takes mail from 127.0.0.1."""

    def __init__(self, routes: dict[str, int], **settings: str) -> None:
        self.routes = routes
        self.settings = settings  # main.cf parameters added to (or overriding) the ones below
        # not pytest's tmp_path: the postfix user must be able to reach the queue, and that path is private
        self.root = Path(tempfile.mkdtemp(prefix="nurture-postfix-"))
        self.root.chmod(0o755)
        self.conf = self.root / "conf"
        self.port = 0

    @property
    def log(self) -> str:
        path = self.root / "maillog"
        return path.read_text(errors="replace") if path.exists() else ""

    def _postfix(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([POSTFIX, "-c", str(self.conf), *args], capture_output=True, text=True, timeout=60)

    def start(self) -> Postfix:
        self.conf.mkdir()
        (self.root / "queue").mkdir()  # Postfix makes what goes inside on its first start
        (self.conf / "transport").write_text("".join(f"{domain} smtp:[127.0.0.1]:{port}\n"
                                                     for domain, port in self.routes.items()))
        refuse = "error:5.7.1 this instance delivers only to its loopback routes"
        (self.conf / "main.cf").write_text(f"""\
compatibility_level = 3.6
queue_directory = {self.root / 'queue'}
data_directory = {self.root / 'data'}
maillog_file = {self.root / 'maillog'}
maillog_file_prefixes = {self.root}
myhostname = {HOSTNAME}
mydomain = example.com
myorigin = $myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
transport_maps = texthash:{self.conf / 'transport'}
default_transport = {refuse}
relay_transport = {refuse}
alias_maps =
alias_database =
local_recipient_maps =
smtp_dns_support_level = disabled
smtp_tls_security_level = none
smtpd_tls_security_level = none
maximal_queue_lifetime = 0
bounce_queue_lifetime = 0
biff = no
""" + "".join(f"{name} = {value}\n" for name, value in self.settings.items()))
        problems = []
        for _ in range(3):  # the free port may be taken between choosing it and Postfix binding it
            self.port = free_port()
            (self.conf / "master.cf").write_text(SERVICES.format(listen=f"127.0.0.1:{self.port}"))
            started = self._postfix("start")
            if started.returncode == 0 and self._listening_soon():
                return self
            problems.append(f"{started.stdout}{started.stderr}")
            self._halt()
        log = self.log
        self.stop()
        raise RuntimeError(f"postfix did not start: {' '.join(problems)}\n{log}")

    def _listening_soon(self) -> bool:
        """Whether Postfix listens within 30 seconds, while its master runs."""
        try:
            wait_for(lambda: self._listening() or self._master() is None, "Postfix to listen or to give up")
        except AssertionError:
            return False
        return self._listening()

    def _listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def _master(self) -> int | None:
        """The pid of the running master process, or None."""
        try:
            pid = int((self.root / "queue" / "pid" / "master.pid").read_text().split()[0])
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, ValueError, IndexError):
            return None
        return None if state in ("Z", "X") else pid  # an exited master its parent has not reaped yet is gone

    def _halt(self) -> None:
        if self._master() is not None:
            self._postfix("stop")
            wait_for(lambda: self._master() is None, "Postfix's master to exit")

    def stop(self) -> None:
        try:
            self._halt()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Postfix:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
