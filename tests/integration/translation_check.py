"""What a consumer group that cuts over from a source region to its mirror must see, checked from
the outside with real clients: shared by test_mirror_translation (regressions of issue 13) and
test_mirror_translation_property (the seeded property test).

A group commits offset u on a source partition (u = the next record it would read). Exact
translation (docs/mirror.md "Offset syncs and exact translation") gives the target offset of the
first replicated record whose upstream offset is >= u, else the target's next offset. Judged here
from what the brokers hold, never from the mirror's own word:

- every checkpoint the mirror ever wrote for the group (the checkpoints topic is never compacted in
  these tests) equals that exact answer computed on the target's final layout: a checkpoint for an
  offset not yet replicated, or one translated to a later record, shows up as a different number;
- the target group's synced offsets equal it;
- a consumer of that group on the target reads on with 0 re-delivered (upstream < u) and 0
  skipped (a record a source consumer from u reads now that the target consumer never sees).

MM2's records are decoded with mirror_groups' independent decoder (MM2's own schemas).
"""

import time

from confluent_kafka import KafkaError, KafkaException

import kafka_wire as kw
from ferry_harness import consume_all, consumer, poll_detail, watermarks
from test_mirror import UPSTREAM, split_headers
from mirror_groups import committed, decode_checkpoint, decode_offset_sync, read_internal


def delete_records(broker, topic, partition, offset):
    """DeleteRecords (KIP-107, on the wire: confluent-kafka 1.7 has no API for it): moves the
    partition's log start offset up to `offset`."""
    with kw.Connection("127.0.0.1", broker.port) as conn:
        body = conn.request(kw.API_DELETE_RECORDS, 0, kw.delete_records_v0_body(topic, partition, offset))
    (low, err), = kw.parse_delete_records_v0(body).values()
    assert err == kw.ERR_NONE and low == offset, (topic, partition, offset, low, err)


def upstream_of(msg, alias):
    """The source offset in a record's ferry.upstream header ("<alias>/<p>/<offset>"), or None for
    a record the flow from `alias` did not write."""
    ups = split_headers(msg)[1].get(UPSTREAM, [])
    if len(ups) != 1:
        return None
    source, partition, offset = ups[0].decode().split("/")
    if (source, int(partition)) != (alias, msg.partition()):
        return None
    return int(offset)


def remote_layout(target, remote, partitions, alias):
    """{p: [(target offset, upstream offset or None, value)]} of every record on the target."""
    got = consume_all(target, remote, partitions=list(range(partitions)), timeout=90)
    return {p: [(m.offset(), upstream_of(m, alias), m.value()) for m in msgs] for p, msgs in got.items()}


def read_group(target, group, remotes, alias, timeout=60):
    """Subscribes to `remotes` on the target as `group` and reads every partition to its current end.
    Returns {(remote, p): [(upstream offset or None, value)]}; leaves the group Empty, commits nothing."""
    c = consumer(target, **{"group.id": group, "enable.partition.eof": True, "auto.offset.reset": "earliest",
                            "enable.auto.commit": False})
    try:
        tps = [(t, p) for t in remotes for p in c.list_topics(t, timeout=10).topics[t].partitions]
        c.subscribe(list(remotes))
        out, pending = {tp: [] for tp in tps}, set(tps)
        deadline = time.monotonic() + timeout
        while pending:
            if time.monotonic() > deadline:
                raise AssertionError(f"{group} did not reach the end of {sorted(pending)} in {timeout}s")
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    pending.discard((m.topic(), m.partition()))
                    continue
                raise KafkaException(m.error())
            out[(m.topic(), m.partition())].append((upstream_of(m, alias), m.value()))
        return out
    finally:
        c.close()


def exact_downstream(layout_p, u, end):
    """The exact translation of committed upstream offset u on one partition's layout."""
    for off, up, _ in layout_p:
        if up is not None and up >= u:
            return off
    return end


def all_checkpoints(target, alias, group):
    """[(remote topic, partition, upstream, downstream)] of every checkpoint of `group` ever written to
    <alias>.checkpoints.internal on the target, in the order written."""
    topic = f"{alias}.checkpoints.internal"
    if watermarks(target, topic, 0)[1] == 0:
        return []
    return [(t, p, v[0], v[1]) for _, (g, t, p), v in read_internal(target, topic, decode_checkpoint) if g == group]


def offset_syncs(source, target_alias, topic):
    """{partition: number of offset syncs} for `topic` in mm2-offset-syncs.<target>.internal."""
    name = f"mm2-offset-syncs.{target_alias}.internal"
    try:
        if watermarks(source, name, 0)[1] == 0:
            return {}
    except Exception:  # the topic does not exist (yet)
        return {}
    out = {}
    for _, (t, p), _ in read_internal(source, name, decode_offset_sync):
        if t == topic:
            out[p] = out.get(p, 0) + 1
    return out


wait = poll_detail


def flow_caught_up(mirror, source, alias, target_alias, topics):
    """(done, detail): /status of flow alias->target_alias lists every partition of `topics`
    ({topic: partitions}) with next_offset at the source's current end."""
    try:
        st = mirror.flow_status(alias, target_alias)
    except OSError as e:  # a busy machine: /status answers a moment later
        return False, f"/status: {e}"
    parts = {(p["topic"], p["partition"]): p for p in st["partitions"]}
    for t, n in topics.items():
        for p in range(n):
            high = watermarks(source, t, p)[1]
            s = parts.get((t, p))
            if s is None or s["next_offset"] != high:
                return False, f"{t}-{p}: source ends at {high}, status {s}; last_error {st['last_error']}"
    return True, st


def check_group(source, target, alias, group, commits, partitions, timeout=60):
    """Checks one group that committed `commits` ({(topic, p): u}) on `source`, after the flow from
    `alias` caught up with a source nobody writes to any more. `partitions` = {topic: count}.
    Returns a list of failure strings (empty when exact) and a dict of counts
    {"checked", "redelivered", "skipped", "wrong_checkpoints"}."""
    failures, counts = [], {"checked": 0, "redelivered": 0, "skipped": 0, "wrong_checkpoints": 0}
    topics = sorted({t for t, _ in commits})
    layouts = {t: remote_layout(target, f"{alias}.{t}", partitions[t], alias) for t in topics}
    ends = {(t, p): watermarks(target, f"{alias}.{t}", p)[1] for t, p in commits}
    want = {(f"{alias}.{t}", p): exact_downstream(layouts[t][p], u, ends[(t, p)]) for (t, p), u in commits.items()}
    wanted_up = {(f"{alias}.{t}", p): u for (t, p), u in commits.items()}

    # The newest checkpoint of every committed partition carries u.
    def newest():
        latest = {}
        for t, p, u, d in all_checkpoints(target, alias, group):
            latest[(t, p)] = (u, d)
        return all(latest.get(k, (None,))[0] == u for k, u in wanted_up.items()), latest

    try:
        latest = wait(newest, timeout, f"checkpoints of {group} at {wanted_up}")
    except AssertionError as e:
        failures.append(str(e))
        latest = {}
    for k, (u, d) in sorted(latest.items()):
        if k in want and u == wanted_up[k] and d != want[k]:
            failures.append(f"{group} {k[0]}-{k[1]}@{u}: checkpoint says {d}, exact is {want[k]}")
    # Every distinct checkpoint ever written: exact on the final layout (no foreign records are written to
    # the remote partitions once the mirror runs, so "the target's next offset" then became the
    # next replicated record's offset).
    for t, p, u, d in sorted(set(all_checkpoints(target, alias, group))):
        topic = t[len(alias) + 1:]
        exact = exact_downstream(layouts[topic][p], u, watermarks(target, t, p)[1]) if topic in layouts else None
        if exact is not None and d != exact:
            counts["wrong_checkpoints"] += 1
            failures.append(f"{group} {t}-{p}: a checkpoint {{upstream {u}, downstream {d}}} was written; exact is "
                            f"{exact}")
    if failures:
        return failures, counts

    def synced():
        got = committed(target, group, list(want))
        return got == want, got

    try:
        wait(synced, 30, f"{group}'s target offsets to be synced to {want}")
    except AssertionError as e:
        return [str(e)], counts

    read = read_group(target, group, [f"{alias}.{t}" for t in topics], alias)
    sources = {t: consume_all(source, t, partitions=list(range(partitions[t])), timeout=90) for t in topics}
    for (t, p), u in sorted(commits.items()):
        got = read[(f"{alias}.{t}", p)]
        mirrored = [(up, v) for up, v in got if up is not None]
        redelivered = [up for up, _ in mirrored if up < u]
        seen = {up for up, _ in mirrored}
        skipped = [m.offset() for m in sources[t][p] if m.offset() >= u and m.offset() not in seen]
        counts["checked"] += 1
        counts["redelivered"] += len(redelivered)
        counts["skipped"] += len(skipped)
        if redelivered or skipped:
            failures.append(f"{group} on {alias}.{t}-{p}, committed {u}: re-delivered {len(redelivered)} "
                            f"{redelivered[:5]}, skipped {len(skipped)} {skipped[:5]}")
    return failures, counts
