"""Just enough of the Kafka wire protocol to talk to a broker without a client library.

The integration tests need this where no client can help: sending malformed or unsupported
frames (test_fuzz_live), issuing DeleteRecords and DeleteGroups (confluent-kafka 1.7 has no API for
them), driving the consumer-group protocol with deliberately wrong generations, member ids and
sizes (test_groups), and reading record batches straight from a segment file (test_torn_write).
Layouts follow the Kafka protocol guide (kafka.apache.org/protocol) and the message schemas; record
batch v2 and CRC-32C follow KIP-98. Everything is big-endian.

The group encoders use the newest version of each API below its first flexible version, so every
field is a classic int16/int32-length type and the response header is v0 (correlation id only).
"""

import socket
import struct

API_PRODUCE = 0
API_FETCH = 1
API_LIST_OFFSETS = 2
API_METADATA = 3
API_OFFSET_COMMIT = 8
API_OFFSET_FETCH = 9
API_FIND_COORDINATOR = 10
API_JOIN_GROUP = 11
API_HEARTBEAT = 12
API_LEAVE_GROUP = 13
API_SYNC_GROUP = 14
API_DESCRIBE_GROUPS = 15
API_LIST_GROUPS = 16
API_API_VERSIONS = 18
API_DELETE_RECORDS = 21
API_DELETE_GROUPS = 42

ERR_NONE = 0
ERR_CORRUPT_MESSAGE = 2
ERR_UNKNOWN_TOPIC_OR_PARTITION = 3
ERR_OFFSET_METADATA_TOO_LARGE = 12
ERR_INVALID_TOPIC_EXCEPTION = 17
ERR_ILLEGAL_GENERATION = 22
ERR_INVALID_GROUP_ID = 24
ERR_UNKNOWN_MEMBER_ID = 25
ERR_INVALID_SESSION_TIMEOUT = 26
ERR_REBALANCE_IN_PROGRESS = 27
ERR_UNSUPPORTED_VERSION = 35
ERR_INVALID_REQUEST = 42
ERR_GROUP_ID_NOT_FOUND = 69
ERR_MEMBER_ID_REQUIRED = 79

RECORD_BATCH_HEADER_SIZE = 61  # baseOffset .. recordCount, i.e. everything before the records
CRC_FIELD_OFFSET = 17          # baseOffset(8) batchLength(4) partitionLeaderEpoch(4) magic(1)
CRC_COVERED_FROM = 21          # CRC-32C covers attributes .. end of batch


def _crc32c_table():
    poly = 0x82F63B78  # Castagnoli, reflected (RFC 3720 appendix B.4)
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C_TABLE = _crc32c_table()


def crc32c(data, crc=0):
    """CRC-32C of `data` (bytes-like) as an unsigned 32-bit int; crc32c(b"123456789") == 0xE3069283."""
    crc ^= 0xFFFFFFFF
    table = _CRC32C_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# --- primitive encoders -------------------------------------------------------------------------

def i8(v):
    """Signed 8-bit integer (INT8 in the protocol guide)."""
    return struct.pack(">b", v)


def i16(v):
    """Signed big-endian 16-bit integer (INT16)."""
    return struct.pack(">h", v)


def i32(v):
    """Signed big-endian 32-bit integer (INT32); also the frame size prefix."""
    return struct.pack(">i", v)


def i64(v):
    """Signed big-endian 64-bit integer (INT64)."""
    return struct.pack(">q", v)


def uvarint(v):
    """Unsigned LEB128 varint (protobuf style), as used by flexible versions (KIP-482)."""
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def varint(v):
    """Zig-zag signed varint, as used inside record batches."""
    return uvarint((v << 1) ^ (v >> 63))


def string(s):
    """Nullable int16-length string; None is length -1."""
    if s is None:
        return i16(-1)
    b = s.encode() if isinstance(s, str) else s
    return i16(len(b)) + b


def compact_string(s):
    """COMPACT_STRING of flexible versions: unsigned varint length+1, then UTF-8 bytes."""
    b = s.encode() if isinstance(s, str) else s
    return uvarint(len(b) + 1) + b


def nbytes(b):
    """Nullable int32-length bytes."""
    if b is None:
        return i32(-1)
    return i32(len(b)) + b


def array(items):
    """int32 count followed by the already-encoded items."""
    return i32(len(items)) + b"".join(items)


def frame(payload):
    """Size-prefixed frame as sent on the socket."""
    return i32(len(payload)) + payload


def request_header(api_key, version, correlation_id, client_id="ferry-it", flexible=False):
    """Request header v1, or v2 (adds an empty tagged-field section) when `flexible`."""
    h = i16(api_key) + i16(version) + i32(correlation_id) + string(client_id)
    return h + (b"\x00" if flexible else b"")


# --- request bodies -----------------------------------------------------------------------------

def api_versions_v3_body(name="ferry-it", version="1.0"):
    """ApiVersions v3 body (KIP-511): client software name and version, empty tagged fields. Both
    strings must match [a-zA-Z0-9](?:[a-zA-Z0-9\\-.]*[a-zA-Z0-9])? or the broker answers
    INVALID_REQUEST."""
    return compact_string(name) + compact_string(version) + b"\x00"


def metadata_v1_body(topics):
    """Metadata v1: topics as a nullable array of strings (None = all topics)."""
    if topics is None:
        return i32(-1)
    return array([string(t) for t in topics])


def produce_body(topic, partition, batch, acks=-1, timeout_ms=10000):
    """Produce v3-v8 body (they share a layout): one topic, one partition."""
    return (string(None) + i16(acks) + i32(timeout_ms)
            + array([string(topic) + array([i32(partition) + nbytes(batch)])]))


def list_offsets_v1_body(topic, partition, timestamp):
    """ListOffsets v1 body for one partition; timestamp -1 = latest, -2 = earliest (KIP-79)."""
    return i32(-1) + array([string(topic) + array([i32(partition) + i64(timestamp)])])


def fetch_v4_body(topic, partition, offset, max_bytes=1 << 20):
    """Fetch v4 body for one partition: replica -1, max wait 100 ms, min 1 byte, READ_UNCOMMITTED."""
    return (i32(-1) + i32(100) + i32(1) + i32(max_bytes) + i8(0)
            + array([string(topic) + array([i32(partition) + i64(offset) + i32(max_bytes)])]))


def delete_records_v0_body(topic, partition, offset, timeout_ms=10000):
    """DeleteRecords v0 body (KIP-107): move the partition's log start offset up to `offset`."""
    return array([string(topic) + array([i32(partition) + i64(offset)])]) + i32(timeout_ms)


def find_coordinator_v2_body(key, key_type=0):
    """FindCoordinator v1-v2 body: the group id (key_type 0) or transactional id (1) to locate."""
    return string(key) + i8(key_type)


def consumer_subscription(topics, user_data=None):
    """ConsumerProtocolSubscription v0: the protocol metadata a consumer puts in JoinGroup (the topics
    it subscribes to, then opaque user data). Kafka's embedded consumer protocol (KIP-62 era)."""
    return i16(0) + array([string(t) for t in topics]) + nbytes(user_data)


def consumer_assignment(partitions, user_data=None):
    """ConsumerProtocolAssignment v0, as a group leader sends it per member in SyncGroup:
    `partitions` maps topic -> list of partition ids."""
    return (i16(0) + array([string(t) + array([i32(p) for p in ps]) for t, ps in partitions.items()])
            + nbytes(user_data))


def join_group_v5_body(group_id, member_id="", protocols=(("range", b""),), session_timeout_ms=10000,
                       rebalance_timeout_ms=10000, group_instance_id=None, protocol_type="consumer"):
    """JoinGroup v5 body. `protocols` is a list of (name, metadata bytes); an empty `member_id` on
    v4+ is answered MEMBER_ID_REQUIRED with a member id to rejoin with (KIP-394)."""
    return (string(group_id) + i32(session_timeout_ms) + i32(rebalance_timeout_ms) + string(member_id)
            + string(group_instance_id) + string(protocol_type)
            + array([string(name) + nbytes(meta) for name, meta in protocols]))


def sync_group_v3_body(group_id, generation_id, member_id, assignments=None, group_instance_id=None):
    """SyncGroup v3 body. `assignments` maps member id -> assignment bytes (the leader sends them,
    followers send none)."""
    return (string(group_id) + i32(generation_id) + string(member_id) + string(group_instance_id)
            + array([string(m) + nbytes(a) for m, a in (assignments or {}).items()]))


def heartbeat_v3_body(group_id, generation_id, member_id, group_instance_id=None):
    """Heartbeat v3 body (v3 adds the KIP-345 group instance id)."""
    return string(group_id) + i32(generation_id) + string(member_id) + string(group_instance_id)


def leave_group_v3_body(group_id, members):
    """LeaveGroup v3 body: a batch of (member_id, group_instance_id) identities (KIP-345)."""
    return string(group_id) + array([string(m) + string(inst) for m, inst in members])


def offset_commit_v7_body(group_id, offsets, generation_id=-1, member_id="", group_instance_id=None):
    """OffsetCommit v7 body. `offsets` maps topic -> list of (partition, offset, metadata) or
    (partition, offset, metadata, leader_epoch); the leader epoch defaults to -1 (KIP-320).
    Generation -1 with an empty member id is a standalone commit from outside any rebalance."""
    topics = []
    for topic, parts in offsets.items():
        encoded = []
        for entry in parts:
            partition, offset, metadata = entry[:3]
            epoch = entry[3] if len(entry) > 3 else -1
            encoded.append(i32(partition) + i64(offset) + i32(epoch) + string(metadata))
        topics.append(string(topic) + array(encoded))
    return (string(group_id) + i32(generation_id) + string(member_id) + string(group_instance_id)
            + array(topics))


def offset_fetch_v5_body(group_id, topics):
    """OffsetFetch v5 body. `topics` maps topic -> list of partitions; None asks for every partition
    the group has committed (v2+)."""
    if topics is None:
        return string(group_id) + i32(-1)
    return string(group_id) + array([string(t) + array([i32(p) for p in ps]) for t, ps in topics.items()])


def describe_groups_v4_body(group_ids, include_authorized_operations=False):
    """DescribeGroups v4 body (v3 adds the KIP-430 authorized-operations flag)."""
    return array([string(g) for g in group_ids]) + i8(1 if include_authorized_operations else 0)


def delete_groups_v1_body(group_ids):
    """DeleteGroups v0-v1 body (KIP-229): the group ids to delete with their committed offsets."""
    return array([string(g) for g in group_ids])


def record_batch(records, base_timestamp=1_700_000_000_000, corrupt_crc=False):
    """Uncompressed magic-2 record batch with base offset 0.

    `records` is a list of (key, value) bytes pairs (either may be None). With `corrupt_crc` the
    stored CRC is the true one with its low bit flipped, so it is wrong for certain.
    """
    body = bytearray()
    for delta, (key, value) in enumerate(records):
        rec = (i8(0) + varint(0) + varint(delta)
               + (varint(-1) if key is None else varint(len(key)) + key)
               + (varint(-1) if value is None else varint(len(value)) + value)
               + varint(0))
        body += varint(len(rec)) + rec
    after_crc = (i16(0) + i32(len(records) - 1) + i64(base_timestamp) + i64(base_timestamp)
                 + i64(-1) + i16(-1) + i32(-1) + i32(len(records)) + bytes(body))
    crc = crc32c(after_crc)
    if corrupt_crc:
        crc ^= 1
    tail = i32(-1) + i8(2) + struct.pack(">I", crc) + after_crc
    return i64(0) + i32(len(tail)) + tail


# --- response decoding --------------------------------------------------------------------------

class Reader:
    """Sequential big-endian reader over one response body; raises ValueError when it runs out."""

    def __init__(self, data, pos=0):
        self.data = data
        self.pos = pos

    def _take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError(f"response truncated: need {n} bytes at {self.pos} of {len(self.data)}")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def i8(self):
        return struct.unpack(">b", self._take(1))[0]

    def i16(self):
        return struct.unpack(">h", self._take(2))[0]

    def i32(self):
        return struct.unpack(">i", self._take(4))[0]

    def i64(self):
        return struct.unpack(">q", self._take(8))[0]

    def string(self):
        n = self.i16()
        return None if n < 0 else self._take(n).decode("utf-8", "replace")

    def nbytes(self):
        """Nullable int32-length bytes; None for length -1."""
        n = self.i32()
        return None if n < 0 else bytes(self._take(n))

    def array(self, item):
        """int32 count, then `item(self)` that many times; a null array (-1) reads as []."""
        return [item(self) for _ in range(max(self.i32(), 0))]

    def remaining(self):
        return len(self.data) - self.pos


def split_frames(stream):
    """Splits a byte stream into complete size-prefixed frames; returns (frames, leftover)."""
    frames = []
    pos = 0
    while len(stream) - pos >= 4:
        (n,) = struct.unpack_from(">i", stream, pos)
        if n < 0 or len(stream) - pos - 4 < n:
            break
        frames.append(bytes(stream[pos + 4:pos + 4 + n]))
        pos += 4 + n
    return frames, bytes(stream[pos:])


def parse_api_versions_v0(body):
    """ApiVersions response body v0 (after the correlation id): (error_code, {key: (min, max)})."""
    r = Reader(body)
    err = r.i16()
    apis = {}
    for _ in range(r.i32()):
        key, lo, hi = r.i16(), r.i16(), r.i16()
        apis[key] = (lo, hi)
    return err, apis


def parse_produce_response(body):
    """Produce response v3-v7: {(topic, partition): error_code}."""
    r = Reader(body)
    out = {}
    for _ in range(r.i32()):
        name = r.string()
        for _ in range(r.i32()):
            part, err = r.i32(), r.i16()
            r.i64()  # base_offset
            r.i64()  # log_append_time_ms (v2+)
            out[(name, part)] = err
    return out


def parse_delete_records_v0(body):
    """DeleteRecords v0 response: {(topic, partition): (low_watermark, error_code)}."""
    r = Reader(body)
    r.i32()  # throttle_time_ms
    out = {}
    for _ in range(r.i32()):
        name = r.string()
        for _ in range(r.i32()):
            part, low, err = r.i32(), r.i64(), r.i16()
            out[(name, part)] = (low, err)
    return out


def parse_metadata_v1(body):
    """Metadata v1 response: {topic: {"error", "internal", "partitions"}} (partition count)."""
    r = Reader(body)
    r.array(lambda r: (r.i32(), r.string(), r.i32(), r.string()))  # brokers: id, host, port, rack
    r.i32()  # controller_id
    out = {}
    for _ in range(r.i32()):
        err, name, internal = r.i16(), r.string(), r.i8() != 0
        parts = r.array(lambda r: (r.i16(), r.i32(), r.i32(), r.array(Reader.i32), r.array(Reader.i32)))
        out[name] = {"error": err, "internal": internal, "partitions": len(parts)}
    return out


def parse_metadata_v1_controller(body):
    """Metadata v1 response: (controller_id, [broker ids])."""
    r = Reader(body)
    brokers = r.array(lambda r: (r.i32(), r.string(), r.i32(), r.string()))
    return r.i32(), [b[0] for b in brokers]


def parse_find_coordinator_v2(body):
    """FindCoordinator v1-v2 response: dict with error, message, node_id, host, port."""
    r = Reader(body)
    r.i32()  # throttle_time_ms
    return {"error": r.i16(), "message": r.string(), "node_id": r.i32(), "host": r.string(),
            "port": r.i32()}


def parse_join_group_v5(body):
    """JoinGroup v5 response: dict with error, generation_id, protocol_name, leader, member_id and
    members (list of (member_id, group_instance_id, metadata); filled for the leader only)."""
    r = Reader(body)
    r.i32()  # throttle_time_ms
    out = {"error": r.i16(), "generation_id": r.i32(), "protocol_name": r.string(),
           "leader": r.string(), "member_id": r.string()}
    out["members"] = r.array(lambda r: (r.string(), r.string(), r.nbytes()))
    return out


def parse_sync_group_v3(body):
    """SyncGroup v1-v3 response: (error_code, assignment bytes)."""
    r = Reader(body)
    r.i32()  # throttle_time_ms
    return r.i16(), r.nbytes()


def parse_heartbeat_v3(body):
    """Heartbeat v1-v3 response: the error code."""
    r = Reader(body)
    r.i32()  # throttle_time_ms
    return r.i16()


def parse_leave_group_v3(body):
    """LeaveGroup v3 response: (top-level error, {member_id: error})."""
    r = Reader(body)
    r.i32()  # throttle_time_ms
    err = r.i16()
    members = r.array(lambda r: (r.string(), r.string(), r.i16()))
    return err, {m: e for m, _, e in members}


def parse_offset_commit_v7(body):
    """OffsetCommit v3-v7 response: {(topic, partition): error_code}."""
    r = Reader(body)
    r.i32()  # throttle_time_ms
    out = {}
    for _ in range(r.i32()):
        name = r.string()
        for _ in range(r.i32()):
            part, err = r.i32(), r.i16()
            out[(name, part)] = err
    return out


def parse_offset_fetch_v5(body):
    """OffsetFetch v5 response: (top-level error, {(topic, partition): (offset, leader_epoch,
    metadata, error)}); offset -1 means nothing is committed."""
    r = Reader(body)
    r.i32()  # throttle_time_ms
    out = {}
    for _ in range(r.i32()):
        name = r.string()
        for _ in range(r.i32()):
            part, offset, epoch, meta, err = r.i32(), r.i64(), r.i32(), r.string(), r.i16()
            out[(name, part)] = (offset, epoch, meta, err)
    return r.i16(), out


def parse_describe_groups_v4(body):
    """DescribeGroups v4 response: list of dicts (error, group_id, state, protocol_type, protocol,
    members: list of dicts with member_id, group_instance_id, client_id, client_host, metadata,
    assignment)."""
    r = Reader(body)
    r.i32()  # throttle_time_ms

    def member(r):
        return {"member_id": r.string(), "group_instance_id": r.string(), "client_id": r.string(),
                "client_host": r.string(), "metadata": r.nbytes(), "assignment": r.nbytes()}

    def group(r):
        g = {"error": r.i16(), "group_id": r.string(), "state": r.string(),
             "protocol_type": r.string(), "protocol": r.string()}
        g["members"] = r.array(member)
        g["authorized_operations"] = r.i32()
        return g

    return r.array(group)


def parse_list_groups_v2(body):
    """ListGroups v1-v2 response: (error, {group_id: protocol_type})."""
    r = Reader(body)
    r.i32()  # throttle_time_ms
    err = r.i16()
    return err, dict(r.array(lambda r: (r.string(), r.string())))


def parse_delete_groups_v1(body):
    """DeleteGroups v0-v1 response: {group_id: error_code}."""
    r = Reader(body)
    r.i32()  # throttle_time_ms
    return dict(r.array(lambda r: (r.string(), r.i16())))


def parse_consumer_subscription(data):
    """ConsumerProtocolSubscription (any version): the subscribed topic names, in order."""
    r = Reader(data)
    r.i16()  # version
    return r.array(Reader.string)


def parse_consumer_assignment(data):
    """ConsumerProtocolAssignment (any version): {topic: [partition, ...]}; empty bytes (a member
    without an assignment) give {}."""
    if not data:
        return {}
    r = Reader(data)
    r.i16()  # version
    return dict(r.array(lambda r: (r.string(), r.array(Reader.i32))))


class Connection:
    """A blocking request/response connection to one broker, for well-formed requests."""

    def __init__(self, host, port, timeout=15.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.next_id = 1
        self.buf = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def recv_frame(self):
        """Next response frame; raises ConnectionError if the broker closed the connection."""
        while True:
            frames, rest = split_frames(self.buf)
            if frames:
                first = frames[0]
                self.buf = self.buf[4 + len(first):]
                return first
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("broker closed the connection")
            self.buf += chunk

    def request(self, api_key, version, body, flexible=False):
        """Sends one request and returns the response body after the correlation id.

        Response header v1 (flexible, other than ApiVersions) carries a tagged-field section that
        this helper does not strip; callers of flexible APIs must skip it themselves.
        """
        cid = self.next_id
        self.next_id += 1
        self.sock.sendall(frame(request_header(api_key, version, cid, flexible=flexible) + body))
        resp = self.recv_frame()
        (got,) = struct.unpack_from(">i", resp, 0)
        if got != cid:
            raise AssertionError(f"correlation id {got} in reply to request {cid}")
        return resp[4:]


# --- segment files ------------------------------------------------------------------------------

def scan_batches(data):
    """Walks the record batches of a segment file image the way log recovery must.

    Returns (batches, valid_end): batches is a list of dicts (pos, size, base_offset,
    last_offset, record_count) for the longest prefix of complete batches whose magic is 2 and whose
    CRC-32C matches; valid_end is the byte position where that prefix ends.
    """
    batches = []
    pos = 0
    n = len(data)
    while n - pos >= 12:
        base_offset, batch_len = struct.unpack_from(">qi", data, pos)
        if batch_len < RECORD_BATCH_HEADER_SIZE - 12 or n - pos - 12 < batch_len:
            break
        size = 12 + batch_len
        magic = data[pos + 16]
        (stored_crc,) = struct.unpack_from(">I", data, pos + CRC_FIELD_OFFSET)
        if magic != 2 or crc32c(memoryview(data)[pos + CRC_COVERED_FROM:pos + size]) != stored_crc:
            break
        (last_delta,) = struct.unpack_from(">i", data, pos + 23)
        (count,) = struct.unpack_from(">i", data, pos + 57)
        batches.append({"pos": pos, "size": size, "base_offset": base_offset,
                        "last_offset": base_offset + last_delta, "record_count": count})
        pos += size
    return batches, pos
