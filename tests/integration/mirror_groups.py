"""What the mirror's group-side tests share (test_mirror_offsets and the translation tests): the
two regions' broker configs, an independent decoder of MirrorMaker 2's internal records (written
from the field layout of MM2's OffsetSync, Checkpoint and Heartbeat schemas in connect/mirror:
STRING = INT16 length + UTF-8, integers big-endian; not Ferry's code), group commits and reads
through kafka-python and confluent-kafka, and the two-region fixture's helpers."""

import struct

from confluent_kafka import TopicPartition
from kafka import KafkaConsumer, OffsetAndMetadata
from kafka import TopicPartition as KafkaTopicPartition

from ferry_harness import consume_all, consumer, poll_detail, produce_all, watermarks
from test_mirror import UPSTREAM, split_headers

EAST_CONFIG = {"group.initial.rebalance.delay.ms": 0, "log.cleaner.backoff.ms": 200}
# West must not compact anything during a test: every checkpoint ever written stays readable.
WEST_CONFIG = {"group.initial.rebalance.delay.ms": 0, "log.cleaner.backoff.ms": 3_600_000}
FAST = {"refresh.topics.interval.seconds": 1, "emit.checkpoints.interval.seconds": 1,
        "sync.group.offsets.interval.seconds": 1}
CHECKPOINTS, HEARTBEATS, SYNCS = "east.checkpoints.internal", "heartbeats", "mm2-offset-syncs.west.internal"


# --- MM2 formats, decoded from MM2's own schemas alone ------------------------------------------

class Mm2FormatError(ValueError):
    """Bytes that do not follow MM2's layout (truncated, trailing bytes, bad length or version)."""


class _Fields:
    def __init__(self, data, what):
        if data is None:
            raise Mm2FormatError(f"{what}: null")
        self.data, self.pos, self.what = bytes(data), 0, what

    def _take(self, n):
        if self.pos + n > len(self.data):
            raise Mm2FormatError(f"{self.what}: truncated at byte {self.pos} of {len(self.data)}")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def int16(self):
        return struct.unpack(">h", self._take(2))[0]

    def int32(self):
        return struct.unpack(">i", self._take(4))[0]

    def int64(self):
        return struct.unpack(">q", self._take(8))[0]

    def string(self):
        n = self.int16()
        if n < 0:
            raise Mm2FormatError(f"{self.what}: negative string length {n}")
        return self._take(n).decode("utf-8")

    def version0(self):
        v = self.int16()
        if v != 0:
            raise Mm2FormatError(f"{self.what}: version {v}, want 0")

    def done(self, *values):
        if self.pos != len(self.data):
            raise Mm2FormatError(f"{self.what}: {len(self.data) - self.pos} trailing bytes")
        return values


def decode_offset_sync(key, value):
    """((topic, partition), (upstreamOffset, offset)) of an mm2-offset-syncs record (no version)."""
    k = _Fields(key, "offset-sync key")
    k = k.done(k.string(), k.int32())
    v = _Fields(value, "offset-sync value")
    return k, v.done(v.int64(), v.int64())


def decode_checkpoint(key, value):
    """((group, topic, partition), (upstreamOffset, offset, metadata)) of a checkpoints record."""
    k = _Fields(key, "checkpoint key")
    k = k.done(k.string(), k.string(), k.int32())
    v = _Fields(value, "checkpoint value")
    v.version0()
    return k, v.done(v.int64(), v.int64(), v.string())


def decode_heartbeat(key, value):
    """((sourceClusterAlias, targetClusterAlias), timestamp ms) of a heartbeats record."""
    k = _Fields(key, "heartbeat key")
    k = k.done(k.string(), k.string())
    v = _Fields(value, "heartbeat value")
    v.version0()
    return k, v.done(v.int64())[0]


def read_internal(broker, topic, decode):
    """Every record of single-partition `topic`, decoded: [(offset, key, value)] in log order."""
    return [(m.offset(), *decode(m.key(), m.value()))
            for m in consume_all(broker, topic, partitions=[0], timeout=60)[0]]


def latest_checkpoints(west):
    """{(group, remote topic, partition): (upstream, downstream, metadata)}, newest record wins."""
    return {k: v for _, k, v in read_internal(west, CHECKPOINTS, decode_checkpoint)}


# --- groups ---------------------------------------------------------------------------------------

def commit_standalone(broker, group, offsets):
    """Commits {(topic, partition): offset} for `group` from a consumer that never joins it, as an
    operator resetting a group would."""
    c = consumer(broker, **{"group.id": group})
    try:
        c.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=False)
    finally:
        c.close()


def commit_with_metadata(broker, group, offsets):
    """Like commit_standalone, with commit metadata {(topic, partition): (offset, metadata)}, through
    kafka-python (confluent-kafka 1.7 cannot set commit metadata)."""
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group, enable_auto_commit=False,
                      request_timeout_ms=15000)
    try:
        c.commit({KafkaTopicPartition(t, p): OffsetAndMetadata(o, m) for (t, p), (o, m) in offsets.items()})
    finally:
        c.close()


def committed(broker, group, tps):
    """{(topic, partition): committed offset or None} of `group` (OffsetFetch; joins nothing)."""
    c = consumer(broker, **{"group.id": group})
    try:
        got = c.committed([TopicPartition(t, p) for t, p in tps], timeout=10)
        return {(tp.topic, tp.partition): (tp.offset if tp.offset >= 0 else None) for tp in got}
    finally:
        c.close()


def upstream_of(msg):
    """The source offset in a record's ferry.upstream header ("east/<p>/<offset>"), or None for a
    record the mirror did not write."""
    ups = split_headers(msg)[1].get(UPSTREAM, [])
    if len(ups) != 1:
        return None
    source, partition, offset = ups[0].decode().split("/")
    assert (source, int(partition)) == ("east", msg.partition()), ups[0]
    return int(offset)


def remote_layout(west, remote, partitions):
    """{p: [(west offset, upstream offset or None, value)]} of every record on west."""
    got = consume_all(west, remote, partitions=list(range(partitions)), timeout=90)
    return {p: [(m.offset(), upstream_of(m), m.value()) for m in msgs] for p, msgs in got.items()}


def exact_downstream(layout_p, u, west_end):
    """What an exact translation of committed upstream offset u must give: the west offset of the
    first replicated record at or after u, else west's next offset (docs/mirror.md)."""
    import translation_check  # imports this module: bound here, not at the top
    return translation_check.exact_downstream(layout_p, u, west_end)


def read_as_group(test, west, group, remotes, timeout=60):
    """Subscribes to `remotes` on west as `group` and reads every partition to its current end
    (partition EOF). Returns {(remote, p): [(upstream offset, value)]}; the group is left (Empty)
    without committing."""
    import translation_check
    try:
        return translation_check.read_group(west, group, remotes, "east", timeout)
    except AssertionError as e:
        test.fail(str(e))


# --- the shared two-region fixture ---------------------------------------------------------------

def produce_ledger(east, start, n, parts=4):
    """Records start..start+n-1 of every ledger partition; values name partition and index."""
    produce_all(east, "ledger", [{"key": b"acct-%d" % (i % 50), "value": b"ledger-%d-%05d" % (p, i),
                                  "partition": p} for i in range(start, start + n) for p in range(parts)])


def write_foreign(west, remote, counts, tag):
    """Records another writer puts into the remote partitions: no provenance headers."""
    produce_all(west, remote, [{"key": b"foreign", "value": b"%s-%d-%d" % (tag.encode(), p, i),
                                "partition": p} for p, n in enumerate(counts) for i in range(n)])


# For class fixtures, which have no TestCase.poll_until.
wait_for = poll_detail


def flow_caught_up(mirror, east, topics):
    """(done, detail): /status lists every partition of `topics` ({topic: partitions}) with
    next_offset at east's current end. Produce nothing to them while waiting."""
    st = mirror.flow_status("east", "west")
    parts = {(p["topic"], p["partition"]): p for p in st["partitions"]}
    for t, n in topics.items():
        for p in range(n):
            high = watermarks(east, t, p)[1]
            s = parts.get((t, p))
            if s is None or s["next_offset"] != high:
                return False, f"{t}-{p}: east ends at {high}, status {s}; last_error {st['last_error']}"
    return True, st
