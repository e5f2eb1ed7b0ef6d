"""AlterPartitionReassignments (API 45) and ListPartitionReassignments (API 46), version 0, on the
wire: confluent-kafka 1.7 and kafka-python have no API for them. Both are flexible from v0
(KIP-482): compact arrays and strings, tagged-field sections, request header v2, response header v1.
Layouts follow the message schemas AlterPartitionReassignments{Request,Response}.json and
ListPartitionReassignments{Request,Response}.json (KIP-455).
"""

from kafka_wire import Connection, Reader, compact_string, i32, uvarint

API_ALTER_PARTITION_REASSIGNMENTS = 45
API_LIST_PARTITION_REASSIGNMENTS = 46


def _compact_array(items):
    return uvarint(len(items) + 1) + b"".join(items)


def _compact_int32s(ids):
    return _compact_array([i32(i) for i in ids])


class _Flex(Reader):
    """Reader of the flexible types."""

    def uvarint(self):
        shift, out = 0, 0
        while True:
            b = self._take(1)[0]
            out |= (b & 0x7F) << shift
            if not b & 0x80:
                return out
            shift += 7

    def compact_string(self):
        n = self.uvarint()
        return None if n == 0 else self._take(n - 1).decode()

    def compact_array(self, item):
        n = self.uvarint()
        return None if n == 0 else [item(self) for _ in range(n - 1)]

    def tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self._take(self.uvarint())


def _body(resp):
    r = _Flex(resp)
    r.tags()  # response header v1's tagged fields
    return r


def alter_reassignments(broker, moves, timeout_ms=30000):
    """`moves`: {(topic, partition): [replica ids] or None (cancel)}. Returns (error_code,
    {(topic, partition): (error_code, error_message)})."""
    by_topic = {}
    for (topic, p), replicas in moves.items():
        by_topic.setdefault(topic, []).append((p, replicas))
    topics = []
    for topic, parts in by_topic.items():
        enc = [i32(p) + (b"\x00" if replicas is None else _compact_int32s(replicas)) + b"\x00" for p, replicas in parts]
        topics.append(compact_string(topic) + _compact_array(enc) + b"\x00")
    body = i32(timeout_ms) + _compact_array(topics) + b"\x00"
    host, port = broker.bootstrap.rsplit(":", 1)
    with Connection(host, int(port)) as c:
        r = _body(c.request(API_ALTER_PARTITION_REASSIGNMENTS, 0, body, flexible=True))
    r.i32()  # throttle
    error = r.i16()
    r.compact_string()
    out = {}

    def partition(rr, topic):
        p, code, msg = rr.i32(), rr.i16(), rr.compact_string()
        rr.tags()
        out[(topic, p)] = (code, msg)

    def topic(rr):
        name = rr.compact_string()
        rr.compact_array(lambda x: partition(x, name))
        rr.tags()

    r.compact_array(topic)
    return error, out


def list_reassignments(broker, topics=None):
    """`topics`: None for all, or {topic: [partition indexes]}. Returns (error_code, {(topic,
    partition): {"replicas", "adding", "removing"}})."""
    if topics is None:
        enc = b"\x00"
    else:
        enc = _compact_array([compact_string(t) + _compact_int32s(ps) + b"\x00" for t, ps in topics.items()])
    host, port = broker.bootstrap.rsplit(":", 1)
    with Connection(host, int(port)) as c:
        r = _body(c.request(API_LIST_PARTITION_REASSIGNMENTS, 0, i32(30000) + enc + b"\x00", flexible=True))
    r.i32()
    error = r.i16()
    r.compact_string()
    out = {}

    def ids(rr):
        return rr.compact_array(lambda x: x.i32())

    def partition(rr, topic):
        p = rr.i32()
        out[(topic, p)] = {"replicas": ids(rr), "adding": ids(rr), "removing": ids(rr)}
        rr.tags()

    def topic(rr):
        name = rr.compact_string()
        rr.compact_array(lambda x: partition(x, name))
        rr.tags()

    r.compact_array(topic)
    return error, out
