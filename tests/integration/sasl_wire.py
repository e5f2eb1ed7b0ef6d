"""SASL and SCRAM credential administration on the wire, for tests no client library can drive:
malformed and out-of-order SASL frames, KIP-368 re-authentication, and the credential APIs
(AlterUserScramCredentials and DescribeUserScramCredentials, KIP-554) that confluent-kafka 2.0 and
kafka-python 2.0 lack. The SCRAM client side follows RFC 5802 with hashlib; layouts follow the
Kafka message schemas (SaslHandshake 17, SaslAuthenticate 36, keys 50 and 51, flexible v0).
"""

import base64
import hashlib
import hmac
import os
import struct

import kafka_wire as kw

API_SASL_HANDSHAKE = 17
API_SASL_AUTHENTICATE = 36
API_DESCRIBE_SCRAM = 50
API_ALTER_SCRAM = 51

ERR_UNSUPPORTED_SASL_MECHANISM = 33
ERR_ILLEGAL_SASL_STATE = 34
ERR_SASL_AUTHENTICATION_FAILED = 58
ERR_CLUSTER_AUTHORIZATION_FAILED = 31
ERR_RESOURCE_NOT_FOUND = 91
ERR_DUPLICATE_RESOURCE = 92
ERR_UNACCEPTABLE_CREDENTIAL = 93

MECHANISMS = {"SCRAM-SHA-256": (1, hashlib.sha256), "SCRAM-SHA-512": (2, hashlib.sha512)}


def handshake(conn, mechanism, version=1):
    """SaslHandshake; returns (error_code, [enabled mechanisms])."""
    body = conn.request(API_SASL_HANDSHAKE, version, kw.string(mechanism))
    r = kw.Reader(body)
    return r.i16(), r.array(lambda x: x.string())


def authenticate(conn, token, version=1):
    """SaslAuthenticate v0/v1; returns (error_code, error_message, auth_bytes, session_lifetime_ms)."""
    body = conn.request(API_SASL_AUTHENTICATE, version, kw.nbytes(token))
    r = kw.Reader(body)
    code, message, data = r.i16(), r.string(), r.nbytes()
    lifetime = r.i64() if version >= 1 else 0
    return code, message, data, lifetime


class ScramClient:
    """RFC 5802 client: first(), final(server_first), verify(server_final)."""

    def __init__(self, mechanism, user, password):
        self.hash = MECHANISMS[mechanism][1]
        self.user, self.password = user, password
        self.nonce = base64.b64encode(os.urandom(18)).decode()

    def first(self):
        self.first_bare = f"n={self.user},r={self.nonce}"
        return ("n,," + self.first_bare).encode()

    def final(self, server_first):
        server_first = server_first.decode()
        attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
        salted = hashlib.pbkdf2_hmac(self.hash().name, self.password.encode(), base64.b64decode(attrs["s"]),
                                     int(attrs["i"]))
        client_key = hmac.new(salted, b"Client Key", self.hash).digest()
        stored_key = self.hash(client_key).digest()
        without_proof = f"c=biws,r={attrs['r']}"
        auth = f"{self.first_bare},{server_first},{without_proof}".encode()
        signature = hmac.new(stored_key, auth, self.hash).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        server_key = hmac.new(salted, b"Server Key", self.hash).digest()
        self.expected_server_signature = hmac.new(server_key, auth, self.hash).digest()
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def verify(self, server_final):
        return server_final.decode() == "v=" + base64.b64encode(self.expected_server_signature).decode()


def scram_login(conn, mechanism, user, password, version=1):
    """A whole SCRAM login over SaslHandshake v1 + SaslAuthenticate; returns the last
    (error_code, error_message, auth_bytes, session_lifetime_ms) and the client."""
    code, _ = handshake(conn, mechanism)
    if code != 0:
        return (code, None, None, 0), None
    c = ScramClient(mechanism, user, password)
    first = authenticate(conn, c.first(), version)
    if first[0] != 0:
        return first, c
    return authenticate(conn, c.final(first[2]), version), c


# --- KIP-554 credential APIs (flexible v0: compact types, tagged fields) -------------------------

def _compact_array(items):
    return kw.uvarint(len(items) + 1) + b"".join(items)


def _compact_bytes(b):
    return kw.uvarint(len(b) + 1) + b


TAGS = b"\x00"


def alter_scram(conn, upsertions=(), deletions=()):
    """upsertions: (user, mechanism, password, iterations[, salt]); deletions: (user, mechanism).
    Returns {user: (error_code, error_message)}."""
    dels = [kw.compact_string(u) + struct.pack(">b", MECHANISMS[m][0]) + TAGS for u, m in deletions]
    ups = []
    for u in upsertions:
        user, mechanism, password, iterations = u[:4]
        salt = u[4] if len(u) > 4 else os.urandom(32)
        algo = MECHANISMS[mechanism][1]().name
        salted = hashlib.pbkdf2_hmac(algo, password.encode(), salt, iterations) if password is not None else b""
        ups.append(kw.compact_string(user) + struct.pack(">bi", MECHANISMS[mechanism][0], iterations)
                   + _compact_bytes(salt) + _compact_bytes(salted) + TAGS)
    body = conn.request(API_ALTER_SCRAM, 0, _compact_array(dels) + _compact_array(ups) + TAGS, flexible=True)
    r = _FlexReader(body)
    r.tags()  # response header v1
    r.i32()  # throttle
    out = {}
    for _ in range(r.uvarint() - 1):
        user, code, message = r.cstring(), r.i16(), r.cstring()
        r.tags()
        out[user] = (code, message)
    return out


def describe_scram(conn, users=None):
    """Returns (error_code, {user: (error_code, [(mechanism code, iterations)])})."""
    if users is None:
        users_part = b"\x00"  # null compact array
    else:
        users_part = _compact_array([kw.compact_string(u) + TAGS for u in users])
    body = conn.request(API_DESCRIBE_SCRAM, 0, users_part + TAGS, flexible=True)
    r = _FlexReader(body)
    r.tags()
    r.i32()
    code = r.i16()
    r.cstring()
    results = {}
    for _ in range(r.uvarint() - 1):
        user, ucode = r.cstring(), r.i16()
        r.cstring()
        infos = []
        for _ in range(r.uvarint() - 1):
            infos.append((r.i8(), r.i32()))
            r.tags()
        r.tags()
        results[user] = (ucode, infos)
    return code, results


class _FlexReader(kw.Reader):
    def uvarint(self):
        shift = value = 0
        while True:
            b = self.i8() & 0xFF
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7

    def cstring(self):
        n = self.uvarint()
        return None if n == 0 else self._take(n - 1).decode()

    def tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self._take(self.uvarint())
