"""Wire-protocol health checks for Kafka and Cassandra (standard library only)."""

from __future__ import annotations

import socket
import struct

from .common import HOST


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by peer")
        buf += chunk
    return bytes(buf)


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        vals = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return vals[0] if len(vals) == 1 else vals

    def raw(self, n: int) -> bytes:
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def kstring(self) -> str | None:  # Kafka STRING / NULLABLE_STRING: int16 length
        n = self.take(">h")
        return None if n < 0 else self.raw(n).decode()

    def cstring(self) -> str:  # CQL [string]: unsigned short length
        return self.raw(self.take(">H")).decode()


def _kafka_call(sock: socket.socket, api_key: int, version: int, corr: int, body: bytes) -> _Reader:
    client_id = b"kafkapipeline-services"
    header = struct.pack(">hhih", api_key, version, corr, len(client_id)) + client_id
    msg = header + body
    sock.sendall(struct.pack(">i", len(msg)) + msg)
    size = struct.unpack(">i", _recv_exact(sock, 4))[0]
    r = _Reader(_recv_exact(sock, size))
    if r.take(">i") != corr:
        raise ConnectionError("kafka: correlation id mismatch")
    return r


def _kafka_plain_login(sock: socket.socket, username: str, password: str) -> None:
    """SaslHandshake v1 (PLAIN), then SaslAuthenticate v1 with ``\\0user\\0password``."""
    mech = b"PLAIN"
    r = _kafka_call(sock, 17, 1, 3, struct.pack(">h", len(mech)) + mech)
    err = r.take(">h")
    if err != 0:
        raise ConnectionError(f"kafka SaslHandshake error code {err} (is the listener SASL with PLAIN?)")
    token = b"\0" + username.encode() + b"\0" + password.encode()
    r = _kafka_call(sock, 36, 1, 4, struct.pack(">i", len(token)) + token)
    err = r.take(">h")
    if err != 0:
        raise ConnectionError(f"kafka refused the login of {username!r}: {r.kstring()}")


def kafka_probe(
    port: int, host: str = HOST, timeout: float = 3.0, plain: tuple[str, str] | None = None
) -> dict:
    """ApiVersions v0, a SASL/PLAIN login when ``plain`` gives (user, password), then a non-flexible Metadata.

    Healthy means the broker answers and lists itself (a registered, unfenced broker).
    Raises on any failure.
    """
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        r = _kafka_call(sock, 18, 0, 1, b"")  # ApiVersions v0: empty body (allowed before login)
        err = r.take(">h")
        if err != 0:
            raise ConnectionError(f"kafka ApiVersions error code {err}")
        versions = {}
        for _ in range(r.take(">i")):
            key, lo, hi = r.take(">hhh")
            versions[key] = (lo, hi)
        if plain is not None:
            _kafka_plain_login(sock, *plain)
        if 3 not in versions:
            raise ConnectionError("kafka broker does not offer Metadata")
        lo, hi = versions[3]
        v = min(hi, 8)  # v9+ is the flexible encoding; 1..8 share this simple layout
        if v < max(lo, 1):
            raise ConnectionError(f"kafka Metadata versions {lo}..{hi} not supported by this probe")
        body = struct.pack(">i", -1)  # topics: null = all topics
        if v >= 4:
            body += b"\x00"  # allow_auto_topic_creation
        if v >= 8:
            body += b"\x00\x00"  # include cluster / topic authorized operations
        r = _kafka_call(sock, 3, v, 2, body)
        if v >= 3:
            r.take(">i")  # throttle_time_ms
        brokers = []
        for _ in range(r.take(">i")):
            node = r.take(">i")
            bhost = r.kstring()
            bport = r.take(">i")
            r.kstring()  # rack (v1+)
            brokers.append((node, bhost, bport))
        cluster_id = r.kstring() if v >= 2 else None
        controller = r.take(">i")
        ntopics = r.take(">i")
        if not brokers:
            raise ConnectionError("kafka answers but lists no broker yet")
        return {
            "brokers": brokers,
            "cluster_id": cluster_id,
            "controller_id": controller,
            "topics": ntopics,
            "metadata_version": v,
        }


def _cql_frame(opcode: int, body: bytes, stream: int = 0) -> bytes:
    return struct.pack(">BBhBi", 0x04, 0, stream, opcode, len(body)) + body


def _cql_read(sock: socket.socket) -> tuple[int, bytes]:
    _version, flags, _stream, opcode, length = struct.unpack(">BBhBi", _recv_exact(sock, 9))
    body = _recv_exact(sock, length)
    if flags & 0x02:  # tracing id
        body = body[16:]
    if flags & 0x08:  # warnings: [string list]
        r = _Reader(body)
        for _ in range(r.take(">H")):
            r.cstring()
        body = body[r.pos :]
    if opcode == 0x00:  # ERROR: [int code][string message]
        r = _Reader(body)
        code = r.take(">i")
        raise ConnectionError(f"cassandra error 0x{code:04x}: {r.cstring()}")
    return opcode, body


def _cql_skip_type(r: _Reader) -> None:
    tid = r.take(">H")
    if tid == 0x0000:  # custom
        r.cstring()
    elif tid in (0x0020, 0x0022):  # list, set
        _cql_skip_type(r)
    elif tid == 0x0021:  # map
        _cql_skip_type(r)
        _cql_skip_type(r)
    elif tid == 0x0030:  # udt
        r.cstring()
        r.cstring()
        for _ in range(r.take(">H")):
            r.cstring()
            _cql_skip_type(r)
    elif tid == 0x0031:  # tuple
        for _ in range(r.take(">H")):
            _cql_skip_type(r)


class CqlLoginRefused(ConnectionError):
    """Cassandra refused the user name or password (error 0x0100)."""


def cql_query(
    port: int,
    query: str,
    host: str = HOST,
    timeout: float = 5.0,
    login: tuple[str, str] | None = None,
) -> list[list[bytes | None]]:
    """One CQL statement over native protocol v4 (STARTUP, a PLAIN login as ``login``, QUERY): raw rows."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        startup = struct.pack(">H", 1)
        for k, v in (("CQL_VERSION", "3.0.0"),):
            startup += struct.pack(">H", len(k)) + k.encode() + struct.pack(">H", len(v)) + v.encode()
        sock.sendall(_cql_frame(0x01, startup))
        opcode, _ = _cql_read(sock)
        if opcode == 0x03:  # AUTHENTICATE: answer with a SASL PLAIN token
            if login is None:
                raise ConnectionError("cassandra asks for a login, and none was given")
            token = b"\0" + login[0].encode() + b"\0" + login[1].encode()
            sock.sendall(_cql_frame(0x0F, struct.pack(">i", len(token)) + token))
            try:
                opcode, _ = _cql_read(sock)
            except ConnectionError as err:
                if "error 0x0100" in str(err):
                    raise CqlLoginRefused(f"cassandra refused the login of {login[0]!r}") from err
                raise
            if opcode != 0x10:  # AUTH_SUCCESS
                raise ConnectionError(f"cassandra: unexpected reply 0x{opcode:02x} to AUTH_RESPONSE")
        elif opcode != 0x02:
            raise ConnectionError(f"cassandra: unexpected reply 0x{opcode:02x} to STARTUP")
        q = query.encode()
        # [long string] query, [short] consistency ONE, [byte] flags 0
        body = struct.pack(">i", len(q)) + q + struct.pack(">HB", 0x0001, 0)
        sock.sendall(_cql_frame(0x07, body, stream=1))
        opcode, body = _cql_read(sock)
        if opcode != 0x08:
            raise ConnectionError(f"cassandra: unexpected reply 0x{opcode:02x} to QUERY")
        r = _Reader(body)
        kind = r.take(">i")
        if kind != 0x0002:  # not Rows (Void, SetKeyspace, SchemaChange...)
            return []
        flags, ncols = r.take(">ii")
        if flags & 0x0002:  # has_more_pages: [bytes] paging state
            n = r.take(">i")
            if n > 0:
                r.raw(n)
        if not flags & 0x0004:  # metadata present
            if flags & 0x0001:  # global table spec
                r.cstring()
                r.cstring()
            for _ in range(ncols):
                if not flags & 0x0001:
                    r.cstring()
                    r.cstring()
                r.cstring()  # column name
                _cql_skip_type(r)
        rows = []
        for _ in range(r.take(">i")):
            row = []
            for _ in range(ncols):
                n = r.take(">i")
                row.append(None if n < 0 else r.raw(n))
            rows.append(row)
        return rows


def cassandra_probe(
    port: int, host: str = HOST, timeout: float = 5.0, login: tuple[str, str] | None = None
) -> dict:
    rows = cql_query(
        port, "SELECT release_version FROM system.local", host=host, timeout=timeout, login=login
    )
    if not rows or rows[0][0] is None:
        raise ConnectionError("cassandra: system.local returned no row")
    return {"release_version": rows[0][0].decode()}
