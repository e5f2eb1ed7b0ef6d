"""Wire helpers of the security edge tests (test_security_edges.py, test_security_edges_tls.py):
CreateAcls / DescribeAcls v1 (Kafka message schemas CreateAclsRequest.json and
DescribeAclsRequest.json, non-flexible), one-shot SCRAM and PLAIN logins, a TLS ClientHello cut
in half, and a peer-closed check.
"""

import socket
import ssl
import struct

import kafka_wire as kw
import sasl_wire as sw

API_DESCRIBE_ACLS = 29
API_CREATE_ACLS = 30
# ResourceType / PatternType / Operation / Permission codes (SECURITY-SEMANTICS.md "Wire codes").
TOPIC, LITERAL, ANY, WRITE, ALLOW = 2, 3, 1, 4, 3


def create_acls(conn, bindings):
    """CreateAcls v1. bindings: (resource_type, name, pattern_type, principal, host, operation,
    permission). Returns one error code per binding."""
    body = kw.array([kw.i8(rt) + kw.string(n) + kw.i8(pt) + kw.string(p) + kw.string(h) + kw.i8(o) + kw.i8(pm)
                     for rt, n, pt, p, h, o, pm in bindings])
    r = kw.Reader(conn.request(API_CREATE_ACLS, 1, body))
    r.i32()  # throttle
    return r.array(lambda x: (x.i16(), x.string())[0])


def describe_all_acls(conn):
    """DescribeAcls v1 with a match-everything filter; returns (error_code, set of bindings as
    create_acls takes them)."""
    body = kw.i8(ANY) + kw.string(None) + kw.i8(ANY) + kw.string(None) + kw.string(None) + kw.i8(ANY) + kw.i8(ANY)
    r = kw.Reader(conn.request(API_DESCRIBE_ACLS, 1, body))
    r.i32()
    code = r.i16()
    r.string()
    out = set()
    for _ in range(max(r.i32(), 0)):
        rt, name, pt = r.i8(), r.string(), r.i8()
        for _ in range(max(r.i32(), 0)):
            out.add((rt, name, pt, r.string(), r.string(), r.i8(), r.i8()))
    return code, out


def scram_ok(port, mechanism, user, password):
    """True when a fresh connection logs in as `user` with `password` (SaslHandshake v1 +
    SaslAuthenticate), False on SASL_AUTHENTICATION_FAILED."""
    with kw.Connection("127.0.0.1", port) as conn:
        (code, _, _, _), _ = sw.scram_login(conn, mechanism, user, password)
    assert code in (0, sw.ERR_SASL_AUTHENTICATION_FAILED), f"login answered {code}"
    return code == 0


def plain_login(conn, user, password):
    """PLAIN over SaslHandshake v1 + SaslAuthenticate; returns the error code."""
    code, _ = sw.handshake(conn, "PLAIN")
    assert code == 0, code
    return sw.authenticate(conn, f"\0{user}\0{password}".encode())[0]


def half_client_hello(ca):
    """The first half of a real TLS ClientHello (what a client stalled mid-handshake has sent)."""
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_side=False)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = outgoing.read()
    return hello[:len(hello) // 2]


def partial_request():
    """A request frame's size prefix announcing 64 bytes, then only 6 of them."""
    return struct.pack(">i", 64) + b"\x00\x12\x00\x00\x00\x01"


def closed_by_peer(sock, timeout):
    """True when the peer closes `sock` within `timeout` s (bytes it sends first are skipped)."""
    sock.settimeout(timeout)
    try:
        while sock.recv(4096):
            pass
        return True
    except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
        return True
    except socket.timeout:
        return False
