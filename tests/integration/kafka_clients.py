"""Real Kafka clients against a running broker, for the integration tests: kcat, confluent-kafka
admin, producer and consumer helpers (create topics and wait for them, produce and read
everything, watermarks) and a bounded wait. Re-exported by ferry_harness, where tests import them
from."""

import os
import subprocess
import time
import uuid

from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer,
                             TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic


def wait_until(predicate, timeout, interval=0.1, what="condition"):
    """Polls `predicate` until it returns a truthy value (returned) or `timeout` s pass (raises)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def poll_detail(check, timeout, what, interval=0.5):
    """Polls check() -> (done, detail) until done and returns detail; after `timeout` seconds
    raises AssertionError naming `what` and the last detail."""
    deadline = time.monotonic() + timeout
    while True:
        done, detail = check()
        if done:
            return detail
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {detail}")
        time.sleep(interval)


def run_kcat(broker, args, input=None, timeout=60, check=True):
    """Runs `kcat -b <broker> ARGS` with a timeout; returns CompletedProcess (text mode).

    `broker` is a Broker or a "host:port" string. `input` is fed on stdin (str). With `check`, a
    non-zero exit raises with kcat's stderr.
    """
    bootstrap = broker if isinstance(broker, str) else broker.bootstrap
    cmd = ["kcat", "-b", bootstrap] + list(args)
    p = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout,
                       stdin=None if input is not None else subprocess.DEVNULL)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {p.returncode}; stderr:\n{p.stderr}")
    return p


# --- confluent-kafka ----------------------------------------------------------------------------

def admin(broker, **conf):
    """An AdminClient for `broker`. Keep a reference until its futures resolve: a destroyed client
    fails them with _DESTROY."""
    c = {"bootstrap.servers": broker.bootstrap}
    if os.environ.get("FERRY_IT_RDKAFKA_DEBUG"):  # librdkafka's own account, on stderr
        c["debug"] = os.environ["FERRY_IT_RDKAFKA_DEBUG"]
    c.update(conf)
    return AdminClient(c)


def create_topics(broker, names, partitions=1, replication_factor=1, config=None, timeout=20):
    """Creates topics with CreateTopics and waits until they show up in Metadata."""
    names = [names] if isinstance(names, str) else list(names)
    a = admin(broker)
    futures = a.create_topics([NewTopic(n, partitions, replication_factor, config=config or {})
                               for n in names], operation_timeout=timeout)
    for name, fut in futures.items():
        fut.result(timeout)
    for name in names:
        wait_until(lambda: partition_count(broker, name) == partitions, timeout,
                   what=f"topic {name} with {partitions} partitions in metadata")


def partition_count(broker, topic, a=None):
    """Number of partitions Metadata reports for `topic`, or 0 if the topic is unknown."""
    md = (a or admin(broker)).list_topics(timeout=10)
    t = md.topics.get(topic)
    if t is None or t.error is not None:
        return 0
    return len(t.partitions)


def producer(broker, **conf):
    """A confluent-kafka producer with acks=all; idempotence stays off (Ferry has no
    InitProducerId yet)."""
    c = {"bootstrap.servers": broker.bootstrap, "acks": "all", "enable.idempotence": False,
         "linger.ms": 5}
    c.update(conf)
    return Producer(c)


def produce_all(broker, topic, records, timeout=60, **conf):
    """Produces `records` (dicts of Producer.produce kwargs, topic implied) and waits for every
    delivery report. Returns the list of delivered Message objects in report order; raises if any
    report carries an error or reports are missing."""
    p = producer(broker, **conf)
    delivered, errors = [], []

    def on_delivery(err, msg):
        (errors if err else delivered).append((err, msg) if err else msg)

    for r in records:
        while True:
            try:
                p.produce(topic, on_delivery=on_delivery, **r)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    remaining = p.flush(timeout)
    if errors:
        raise AssertionError(f"{len(errors)} delivery errors, first: {errors[0][0]}")
    if remaining or len(delivered) != len(records):
        raise AssertionError(f"{len(delivered)} of {len(records)} delivered; {remaining} still queued")
    return delivered


def consumer(broker, **conf):
    """A confluent-kafka consumer for assign()-based reading. A group.id is mandatory in the Python
    binding, but nothing here uses the group: no subscribe, no commits."""
    c = {"bootstrap.servers": broker.bootstrap, "group.id": f"ferry-it-{uuid.uuid4().hex[:8]}",
         "enable.auto.commit": False, "enable.auto.offset.store": False,
         "auto.offset.reset": "earliest"}
    c.update(conf)
    return Consumer(c)


def watermarks(broker, topic, partition, c=None):
    """(low, high) offsets of a partition via ListOffsets earliest/latest."""
    own = c is None
    c = c or consumer(broker)
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10, cached=False)
    finally:
        if own:
            c.close()


def next_record(c, timeout):
    """One consumer poll: the record, or None when nothing came within `timeout` s or the poll
    only reported a partition's end; raises KafkaException for any other consumer error."""
    m = c.poll(timeout)
    if m is None:
        return None
    if m.error():
        if m.error().code() == KafkaError._PARTITION_EOF:
            return None
        raise KafkaException(m.error())
    return m


def first_value(c, timeout):
    """Polls the subscribed consumer `c` until a record arrives; its value, or None after `timeout`
    s. Errors (e.g. while a secured connection is still being set up) are polled past."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            return m.value()
    return None


def consume_all(broker, topic, partitions=None, timeout=60, **conf):
    """Reads every partition of `topic` from its first to its current last offset.

    Returns {partition: [Message, ...]} in consumption order. The end point is the high watermark
    read up front, so the caller must stop producing first. Raises on consumer errors other than
    partition EOF and if the end is not reached within `timeout` s.
    """
    c = consumer(broker, **conf)
    try:
        if partitions is None:
            md = c.list_topics(topic, timeout=10)
            partitions = sorted(md.topics[topic].partitions)
        ends, out = {}, {}
        for p in partitions:
            low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)
            out[p] = []
            if high > low:
                ends[p] = high
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        deadline = time.monotonic() + timeout
        pending = dict(ends)
        while pending:
            if time.monotonic() > deadline:
                got = {p: len(out[p]) for p in out}
                raise AssertionError(f"consume of {topic} incomplete after {timeout}s: got {got}, "
                                     f"want up to offsets {ends}")
            m = next_record(c, 0.5)
            if m is None:
                continue
            out[m.partition()].append(m)
            if m.partition() in pending and m.offset() >= pending[m.partition()] - 1:
                del pending[m.partition()]
        return out
    finally:
        c.close()
