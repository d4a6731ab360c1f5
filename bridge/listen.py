"""The listening sockets, made once by the supervisor and handed to every worker.

Each worker slot gets its own ``SO_REUSEPORT`` socket (the kernel spreads new connections over
them) that the supervisor keeps open for the whole run. A worker only ever closes its own copy:
when a reload replaces it, the connections waiting in its slot's queue are taken by its
successor, which accepts from the very same socket, instead of being reset as they would be if
the last copy of a listening socket closed.

Before that, the address is bound once without ``SO_REUSEPORT``: that bind fails while another
server (another ``bridge serve`` included) listens there, so a second gateway on the same port
is refused unless it is started with ``--reuse-port`` on purpose.
"""

from __future__ import annotations

import errno
import socket

from bridge.errors import ListenError


def _address(host: str, port: int) -> tuple[socket.AddressFamily, tuple[str, int]]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    family, _, _, _, address = infos[0]
    return family, (str(address[0]), int(address[1]))


def _describe(host: str, port: int, exc: OSError) -> str:
    message = f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    if exc.errno == errno.EADDRINUSE:
        message += (
            " (another server, perhaps another bridge serve, listens there;"
            " --reuse-port shares the port with it on purpose)"
        )
    return message


def _socket(family: socket.AddressFamily, *, reuse_port: bool) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    return sock


def bind_sockets(
    host: str, port: int, count: int, *, backlog: int, share: bool = False
) -> list[socket.socket]:
    """``count`` listening sockets on ``host:port``; raise :class:`ListenError` (one line).

    ``share``: join a server already listening there (``--reuse-port``) instead of refusing.
    """
    family, address = _address(host, port)
    if not share and port != 0:
        probe = _socket(family, reuse_port=False)
        try:
            probe.bind(address)
        except OSError as exc:
            raise ListenError(_describe(host, port, exc)) from None
        finally:
            probe.close()
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = _socket(family, reuse_port=True)
            sockets.append(sock)
            sock.bind(address)
            sock.listen(backlog)
            address = (address[0], int(sock.getsockname()[1]))  # port 0: the same port for all
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise ListenError(_describe(host, port, exc)) from None
    return sockets
