"""A throwaway Dovecot IMAP server for the tests and bench/intake, started from Debian's dovecot-imapd.

The server listens on free 127.0.0.1 ports: plain IMAP (STARTTLS offered) and IMAPS, with a self-signed
certificate made at start-up for 127.0.0.1. One passwd-file user logs in with a plaintext password (allowed,
because this is localhost and only tests use it). Mail lives in Maildirs under a fresh /tmp directory owned by
the user Dovecot runs as: as root, Dovecot refuses to run its login processes as root, so it runs them as
``dovenull`` and everything else as ``dovecot``.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path

from imapclient import IMAPClient

START_TIMEOUT = 20.0
USER = "nmss"
PASSWORD = "test-password"  # a throwaway server on localhost


class DovecotUnavailable(RuntimeError):
    """Raised when the server cannot be started: the message says why and shows the log's tail."""


def dovecot_binary() -> str | None:
    """The path of the ``dovecot`` program, or None when dovecot-imapd is not installed."""
    return shutil.which("dovecot") or next((p for p in ("/usr/sbin/dovecot",) if Path(p).is_file()), None)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on just now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Dovecot:
    """One Dovecot instance in its own directory; ``start``, ``restart`` and ``stop`` it, APPEND and look."""

    def __init__(self, *, idle: bool = True) -> None:
        binary = dovecot_binary()
        if binary is None:
            raise DovecotUnavailable("dovecot is not installed: run scripts/install-system-packages")
        self.binary = binary
        self.idle = idle
        self.as_root = os.geteuid() == 0
        # Not pytest's tmp_path: its parents may be root-only (0700), and Dovecot's users must reach the mail.
        self.dir = Path(tempfile.mkdtemp(prefix="nmss-dovecot-", dir="/tmp"))
        os.chmod(self.dir, 0o755)  # noqa: PTH101 - the login user must traverse it
        self.owner = pwd.getpwnam("dovecot") if self.as_root else pwd.getpwuid(os.geteuid())
        self.login_user = "dovenull" if self.as_root else self.owner.pw_name
        self.mail = self.dir / "mail"
        self.log = self.dir / "dovecot.log"
        self.cert, self.key = self.dir / "cert.pem", self.dir / "key.pem"
        self.port = 0
        self.tls_port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.user = USER
        self.password = PASSWORD

    # -- lifecycle ------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the server and wait until it greets on both ports; raise DovecotUnavailable if it will not."""
        if not self.cert.exists():
            self._make_certificate()
            self.mail.mkdir()
            (self.dir / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
            for path in (self.mail, self.cert, self.key):
                os.chown(path, self.owner.pw_uid, self.owner.pw_gid)
            self.port, self.tls_port = free_port(), free_port()
        (self.dir / "dovecot.conf").write_text(self._config())
        self.process = subprocess.Popen(
            [self.binary, "-F", "-c", str(self.dir / "dovecot.conf")],
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("ab"),
        )
        self.wait_until_ready()

    def wait_until_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Wait until a login on the plain port succeeds."""
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                self._fail(f"dovecot exited with status {self.process.returncode}")
            try:
                with self.client() as client:
                    client.noop()
                return
            except (OSError, IMAPClient.Error) as exc:
                last = exc
                time.sleep(0.05)
        self._fail(f"no IMAP login on 127.0.0.1:{self.port} after {timeout:.0f} s ({type(last).__name__}: {last})")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL); the mail stays for a ``start`` or ``restart``."""
        if self.process is None:
            return
        # Dovecot's mail processes can outlive the master and keep serving old connections: end them too,
        # so that a restart cuts every connection, as a real server restart does.
        children = _descendants(self.process.pid)
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None
        for pid in children:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._wait_port_free()

    def restart(self) -> None:
        """Stop and start again on the same ports: every open connection is cut."""
        self.stop()
        self.start()

    def destroy(self) -> None:
        """Stop the server and delete its directory."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- helpers for tests -----------------------------------------------------------------------------------

    def client(self, *, timeout: float = 60.0, limit_wait: float = 60.0) -> IMAPClient:
        """A logged-in IMAPClient on the plain port (use as a context manager).

        The server allows ten sessions per user and address, and on a busy machine a session that logged out
        may still count for a moment: a login refused for that is tried again until ``limit_wait`` has passed,
        and then fails naming the sessions the server still counts.
        """
        deadline = time.monotonic() + limit_wait
        while True:
            client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=timeout)
            try:
                client.login(USER, PASSWORD)
                return client
            except (OSError, IMAPClient.Error) as exc:
                with suppress(OSError, IMAPClient.Error):
                    client.shutdown()  # not left open until garbage collection: it may hold a session
                if "[LIMIT]" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise AssertionError(f"{exc}; the server's sessions:\n{self.sessions()}") from exc
            time.sleep(0.2)

    def sessions(self) -> str:
        """What ``doveadm who`` says of the logged-in sessions (user, count, pids, addresses)."""
        doveadm = shutil.which("doveadm") or "/usr/bin/doveadm"
        result = subprocess.run(
            [doveadm, "-c", str(self.dir / "dovecot.conf"), "who"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        return (result.stdout + result.stderr).strip()

    def mailbox_settings(self, **overrides: object) -> dict[str, object]:
        """``[mailbox]`` settings for the service to use this server: plain IMAP with STARTTLS and a password."""
        imap: dict[str, object] = {
            "host": "127.0.0.1",
            "port": self.port,
            "security": "starttls",
            "ca_file": str(self.cert),
            "username": USER,
            "password": PASSWORD,
            "auth": "password",
            "timeout_seconds": 10,
            "connect_timeout_seconds": 5,
            "max_backoff_seconds": 2,
        }
        return {"kind": "imap", "name": "imap-test", "imap": imap | overrides}

    def uidvalidity_reset(self) -> None:
        """Make the server give INBOX a new UIDVALIDITY (as after a mailbox rebuild): stop, forget UIDs, start."""
        self.stop()
        for path in (self.mail / USER).glob("dovecot*"):  # the UID list, the indexes and the UIDVALIDITY seed
            if path.is_file():
                path.unlink()
        self.start()

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts this server's self-signed certificate."""
        return ssl.create_default_context(cafile=str(self.cert))

    def append(self, messages: Iterable[bytes], folder: str = "INBOX") -> int:
        """APPEND each raw message to ``folder`` (created when missing); returns how many."""
        count = 0
        with self.client() as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            for raw in messages:
                client.append(folder, raw)
                count += 1
        return count

    def folders(self) -> dict[str, int]:
        """Every folder that holds mail, with its message count."""
        with self.client() as client:
            counts = {}
            for _flags, _delim, name in client.list_folders():
                status = client.folder_status(name, ["MESSAGES"])
                if status[b"MESSAGES"]:
                    counts[str(name)] = int(status[b"MESSAGES"])
            return counts

    def messages(self, folder: str) -> list[bytes]:
        """The raw bytes of every message in ``folder``, read without marking anything."""
        with self.client() as client:
            if not client.folder_exists(folder):
                return []
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            fetched = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
            return [fetched[uid][b"BODY[]"] for uid in sorted(fetched)]

    def flags(self, folder: str) -> list[tuple[bytes, ...]]:
        """The flags of every message in ``folder``."""
        with self.client() as client:
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            fetched = client.fetch(uids, ["FLAGS"]) if uids else {}
            return [tuple(fetched[uid][b"FLAGS"]) for uid in sorted(fetched)]

    def empty(self) -> None:
        """Delete every folder but INBOX and every message in INBOX: a fresh mailbox for the next test."""
        with self.client() as client:
            for _flags, _delim, name in client.list_folders():
                if str(name) != "INBOX":
                    client.delete_folder(name)
            client.select_folder("INBOX")
            uids = client.search("ALL")
            if uids:
                client.delete_messages(uids)
                client.expunge()

    # -- internals ---------------------------------------------------------------------------------------------

    def _config(self) -> str:
        owner = self.owner.pw_name
        group = grp.getgrgid(self.owner.pw_gid).gr_name
        # A server without IDLE or MOVE, for the fallbacks: the capability list is announced without it.
        capability = "" if self.idle else "imap_capability = IMAP4rev1 SASL-IR LITERAL+ ID ENABLE UIDPLUS\n"
        return f"""
base_dir = {self.dir}/run
state_dir = {self.dir}/state
log_path = {self.log}
protocols = imap
listen = 127.0.0.1
default_internal_user = {owner}
default_internal_group = {group}
default_login_user = {self.login_user}
first_valid_uid = 1
first_valid_gid = 1
disable_plaintext_auth = no
auth_mechanisms = plain login
ssl = yes
ssl_cert = <{self.cert}
ssl_key = <{self.key}
mail_location = maildir:{self.mail}/%u
{capability}passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.dir}/passwd
}}
userdb {{
  driver = static
  args = uid={self.owner.pw_uid} gid={self.owner.pw_gid} home={self.mail}/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""

    def _make_certificate(self) -> None:
        command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
        command += ["-subj", "/CN=127.0.0.1"]
        command += ["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(self.key)]
        result = subprocess.run(
            [*command, "-out", str(self.cert)],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if result.returncode != 0:
            self._fail(f"openssl could not make a certificate: {result.stderr.strip()}")

    def _wait_port_free(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) != 0:
                    return
            time.sleep(0.05)

    def _fail(self, what: str) -> None:
        try:
            tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])
        except OSError as exc:
            tail = f"(no log: {exc})"
        raise DovecotUnavailable(f"Dovecot: {what}\n--- log tail ({self.log}):\n{tail}")


def _descendants(pid: int) -> list[int]:
    """The ids of every process below ``pid``, read from /proc."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
