"""Generators of malformed and unsupported Kafka request frames for test_fuzz_live.

Two families:
- answered(): well-framed requests a broker must answer without closing the connection, each
  with the response it must give (ApiVersions at an unsupported version -> error 35 with the v0
  body, KIP-511 / protocol guide "ApiVersions"; Produce whose batch CRC is wrong -> partition error
  CORRUPT_MESSAGE).
- hostile(): everything else (random bytes, truncated headers, lying or huge size prefixes, bad
  varints in flexible requests, huge array counts, unknown API keys and versions, bit-flipped valid
  requests). The broker may answer or close; it must stay up and keep memory bounded.

None of them touches admin APIs, so fuzzing cannot create or delete topics. Group requests
(FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch,
DescribeGroups, ListGroups) each name a fresh random group "fz-<hex>", so no two frames meet in one
group: a JoinGroup or SyncGroup never waits for another member, and nothing the live clients use
is touched (they read with assign() and commit nothing).
"""

import kafka_wire as kw

# Version ranges the broker does not serve for APIs it does serve (below min or above max).
_OUT_OF_RANGE = {
    kw.API_PRODUCE: [0, 1, 2, 8, 9, 99],
    kw.API_FETCH: [0, 1, 2, 3, 12, 13, 99],
    kw.API_LIST_OFFSETS: [0, 6, 7, 99],
    kw.API_METADATA: [7, 9, 12, 99],
    kw.API_DELETE_RECORDS: [2, 3, 99],
    kw.API_OFFSET_COMMIT: [0, 1, 8, 9, 99],
    kw.API_OFFSET_FETCH: [0, 8, 9, 99],
    kw.API_FIND_COORDINATOR: [3, 4, 99],
    kw.API_JOIN_GROUP: [6, 7, 9, 99],
    kw.API_HEARTBEAT: [4, 99],
    kw.API_LEAVE_GROUP: [4, 5, 99],
    kw.API_SYNC_GROUP: [4, 5, 99],
    kw.API_DESCRIBE_GROUPS: [5, 99],
    kw.API_LIST_GROUPS: [5, 99],
}
# Real Kafka APIs this broker may not implement, and keys no Kafka version defines.
_OTHER_KEYS = [17, 24, 36, 50, 68, 999, 32767, -1, -32768]


class FrameMaker:
    """Builds frames from one seeded random.Random, with increasing correlation ids."""

    def __init__(self, rng, max_request_bytes, topic):
        self.rng = rng
        self.max_request_bytes = max_request_bytes
        self.topic = topic
        self.cid = 0

    def _next_cid(self):
        self.cid = (self.cid + 1) & 0x7FFFFFFF
        return self.cid

    def _hdr(self, key, version, flexible=False):
        return kw.request_header(key, version, self._next_cid(), client_id="fz", flexible=flexible)

    def _batch(self, corrupt_crc=False):
        r = self.rng
        recs = [(r.randbytes(r.randrange(0, 8)) or None, r.randbytes(r.randrange(0, 64)))
                for _ in range(r.randint(1, 5))]
        return kw.record_batch(recs, corrupt_crc=corrupt_crc)

    # --- answered ---------------------------------------------------------------------------------

    def answered(self):
        """Returns (frame, correlation_id, expectation); expectation is "apiversions-35" or
        "corrupt-message"."""
        r = self.rng
        if r.random() < 0.5:
            version = r.choice([4, 5, 99, 1000, 32767, r.randrange(4, 32768)])
            cid = self._next_cid()
            payload = kw.request_header(kw.API_API_VERSIONS, version, cid, client_id="fz")
            # A future version's body is unknown to the broker; it must not need to parse it.
            payload += r.randbytes(r.randrange(0, 16))
            return kw.frame(payload), cid, "apiversions-35"
        version = r.randint(3, 7)
        cid = self._next_cid()
        body = kw.produce_body(self.topic, 0, self._batch(corrupt_crc=True), acks=r.choice([1, -1]))
        return kw.frame(kw.request_header(kw.API_PRODUCE, version, cid, client_id="fz") + body), cid, \
            "corrupt-message"

    # --- hostile ----------------------------------------------------------------------------------

    def hostile(self):
        """Returns (kind, frame bytes)."""
        kind = self.rng.choice(self._KINDS)
        return kind, getattr(self, "_" + kind)()

    _KINDS = ["random_body", "truncated_header", "lying_size", "huge_size", "bad_varint",
              "huge_array", "unknown_api", "unsupported_version", "mutated", "mutated"]

    def _random_body(self):
        return kw.frame(self.rng.randbytes(self.rng.randrange(0, 400)))

    def _truncated_header(self):
        # A v1 header needs at least 10 bytes (key, version, correlation id, client id length).
        n = self.rng.randrange(0, 10)
        return kw.i32(n) + self._valid_payload()[:n]

    def _lying_size(self):
        payload = self._valid_payload()
        claimed = len(payload) + self.rng.choice([1, 7, 100, 4096, self.rng.randrange(1, 200_000)])
        return kw.i32(min(claimed, self.max_request_bytes)) + payload

    def _huge_size(self):
        r = self.rng
        size = r.choice([self.max_request_bytes + 1, r.randrange(self.max_request_bytes + 1, 2**31),
                         2**31 - 1, r.randrange(-2**31, 0), -1])
        return kw.i32(size) + r.randbytes(r.randrange(0, 64))

    def _bad_varint(self):
        r = self.rng
        hdr_base = kw.i16(kw.API_API_VERSIONS) + kw.i16(3) + kw.i32(self._next_cid()) + kw.string("fz")
        never_ending = b"\xff" * r.randint(5, 20)
        choice = r.randrange(5)
        if choice == 0:    # header tagged-field count that never terminates
            payload = hdr_base + never_ending + r.randbytes(r.randrange(0, 8))
        elif choice == 1:  # client software name length that never terminates
            payload = hdr_base + b"\x00" + never_ending
        elif choice == 2:  # name length far beyond the frame
            payload = hdr_base + b"\x00" + kw.uvarint(r.choice([2**31, 2**31 - 1, 2**20])) + b"abc"
        elif choice == 3:  # tagged field whose size runs past the frame
            payload = hdr_base + kw.uvarint(1) + kw.uvarint(0) + kw.uvarint(r.choice([2**30, 5000])) + b"xy"
        else:              # huge tagged-field count with nothing behind it
            payload = (kw.request_header(kw.API_API_VERSIONS, 3, self._next_cid(), "fz", flexible=True)
                       + kw.compact_string("fz") + kw.compact_string("1") + kw.uvarint(2**32 - 1))
        return kw.frame(payload)

    def _huge_array(self):
        r = self.rng
        count = r.choice([2**31 - 1, r.randrange(1_000_000, 2**31), 100_000_000])
        if r.random() < 0.7:
            payload = self._hdr(kw.API_METADATA, 1) + kw.i32(count) + kw.string(self.topic)
        else:  # a Produce whose topic array claims billions of entries
            payload = (self._hdr(kw.API_PRODUCE, r.randint(3, 7)) + kw.string(None) + kw.i16(1)
                       + kw.i32(1000) + kw.i32(count) + kw.string(self.topic))
        return kw.frame(payload)

    def _unknown_api(self):
        r = self.rng
        payload = self._hdr(r.choice(_OTHER_KEYS), r.randrange(-2, 12)) + r.randbytes(r.randrange(0, 64))
        return kw.frame(payload)

    def _unsupported_version(self):
        r = self.rng
        key = r.choice(list(_OUT_OF_RANGE))
        payload = self._hdr(key, r.choice(_OUT_OF_RANGE[key])) + r.randbytes(r.randrange(0, 64))
        return kw.frame(payload)

    def _mutated(self):
        r = self.rng
        payload = bytearray(self._valid_payload())
        op = r.randrange(3)
        if op == 0:
            for _ in range(r.randint(1, 4)):
                payload[r.randrange(len(payload))] ^= r.randint(1, 255)
        elif op == 1:
            del payload[r.randrange(4, len(payload)):]
        else:
            payload += r.randbytes(r.randrange(1, 32))
        return kw.frame(bytes(payload))

    def _valid_payload(self):
        """A well-formed request (header + body) that cannot modify anything but the fuzz topic and
        fresh fz-* groups. Fetch is left out: a flipped max_wait_ms could legitimately park the
        connection."""
        r = self.rng
        t = self.topic
        choice = r.randrange(14)
        if choice == 0:
            return self._hdr(kw.API_API_VERSIONS, r.randint(0, 2))
        if choice == 1:
            return self._hdr(kw.API_API_VERSIONS, 3, flexible=True) + kw.api_versions_v3_body("fz", "1.0")
        if choice == 2:
            return self._hdr(kw.API_METADATA, 1) + kw.metadata_v1_body([t])
        if choice == 3:
            return self._hdr(kw.API_LIST_OFFSETS, 1) + kw.list_offsets_v1_body(t, 0, r.choice([-1, -2, 0]))
        if choice == 4:
            return self._hdr(kw.API_PRODUCE, r.randint(3, 7)) + kw.produce_body(t, 0, self._batch(), acks=1)
        return self._group_payload(choice - 5)

    def _group_payload(self, choice):
        """One of nine well-formed group requests for a fresh group. None can wait on another
        member: JoinGroup v5 without a member id is answered MEMBER_ID_REQUIRED at once (KIP-394),
        and the other membership calls name a member of a group that does not exist."""
        r = self.rng
        t = self.topic
        group = f"fz-{r.getrandbits(32):08x}"
        member = f"fz-member-{r.getrandbits(16):04x}"
        if choice == 0:
            return self._hdr(kw.API_FIND_COORDINATOR, r.randint(1, 2)) + kw.find_coordinator_v2_body(group)
        if choice == 1:
            meta = kw.consumer_subscription([t], user_data=r.randbytes(r.randrange(0, 16)))
            body = kw.join_group_v5_body(group, "", [("range", meta), ("roundrobin", meta)],
                                         session_timeout_ms=r.randrange(6000, 30000),
                                         rebalance_timeout_ms=r.randrange(6000, 30000))
            return self._hdr(kw.API_JOIN_GROUP, 5) + body
        if choice == 2:
            assignment = kw.consumer_assignment({t: [0]})
            return (self._hdr(kw.API_SYNC_GROUP, 3)
                    + kw.sync_group_v3_body(group, r.randint(0, 5), member, {member: assignment}))
        if choice == 3:
            return self._hdr(kw.API_HEARTBEAT, 3) + kw.heartbeat_v3_body(group, r.randint(0, 5), member)
        if choice == 4:
            return self._hdr(kw.API_LEAVE_GROUP, 3) + kw.leave_group_v3_body(group, [(member, None)])
        if choice == 5:
            # Generation -1 without a member is a standalone commit (it writes __consumer_offsets);
            # a generation for a group that does not exist is refused before any write.
            generation, who = r.choice([(-1, ""), (r.randint(0, 5), member)])
            offsets = {t: [(0, r.randrange(0, 1000), r.choice([None, "", "fz-meta"]))]}
            return (self._hdr(kw.API_OFFSET_COMMIT, 7)
                    + kw.offset_commit_v7_body(group, offsets, generation, who))
        if choice == 6:
            topics = r.choice([None, {t: [0]}, {t: [0, 1, 2]}])
            return self._hdr(kw.API_OFFSET_FETCH, r.randint(2, 5)) + kw.offset_fetch_v5_body(group, topics)
        if choice == 7:
            return (self._hdr(kw.API_DESCRIBE_GROUPS, r.randint(3, 4))
                    + kw.describe_groups_v4_body([group], include_authorized_operations=r.random() < 0.5))
        return self._hdr(kw.API_LIST_GROUPS, r.randint(0, 2))
