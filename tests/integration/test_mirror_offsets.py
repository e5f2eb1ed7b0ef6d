"""ferry-mirror's consumer-group side between two real regions, "east" and "west" (two ferry-broker
processes on loopback), checked through what Kafka clients see: exact offset translation, group
offset sync, MM2's internal-topic formats, and several mirror processes sharing one flow.

Exactness is judged the way a user would notice it: a group commits offset u on an east partition
(u = the next record it would read); a consumer that then subscribes on west with the same group id
must read exactly the east records at offsets >= u, by value and by `ferry.upstream`, with 0
re-delivered and 0 skipped. To make a sloppy translation fail, the downstream offsets differ from
the upstream ones in every partition: west's remote partitions hold foreign records written before
the mirror started and between batches (breaks on the target side), and a compacted source topic
is fully cleaned before the mirror starts (breaks on the source side).

MM2's records are decoded by mirror_groups' independent decoder, written from the field layout of
MirrorMaker 2's schemas, not by Ferry's code.

FERRY_MIRROR_SEED replays the random choices (the seed is printed by test_mirror's import).
"""

import random
import time
import unittest

from confluent_kafka import TopicPartition

from ferry_harness import (Mirror, consume_all, consumer, create_topics, mirror_binary,
                           produce_all, wait_until, watermarks)
from mirror_groups import (CHECKPOINTS, EAST_CONFIG, FAST, HEARTBEATS, SYNCS, WEST_CONFIG,
                           commit_standalone, commit_with_metadata, committed, decode_checkpoint,
                           decode_heartbeat, decode_offset_sync, exact_downstream, flow_caught_up,
                           latest_checkpoints, produce_ledger, read_as_group, read_internal,
                           remote_layout, upstream_of, wait_for, write_foreign)
from test_mirror import SEED, KeyedStream, MirrorTestCase

class OffsetsTestCase(MirrorTestCase):
    """Checks shared by the tests below; they use self.east, self.west (Brokers) and
    self.PARTITIONS ({east topic: partition count}) of a flow east->west with the default policy."""

    def source_records(self, topic, parts):
        """{p: [(offset, value)]} of everything east holds now."""
        got = consume_all(self.east, topic, partitions=list(range(parts)), timeout=90)
        return {p: [(m.offset(), m.value()) for m in msgs] for p, msgs in got.items()}

    def check_copy(self, topic, parts):
        """West's replicated records of `topic` are east's, once each, in order; returns the
        layout of west's remote partitions."""
        src, layout = self.source_records(topic, parts), remote_layout(self.west, f"east.{topic}", parts)
        for p in range(parts):
            copied = [(up, v) for _, up, v in layout[p] if up is not None]
            self.assertEqual(copied, src[p], f"east.{topic}-{p} must hold east's records once, in order")
        return layout

    def wait_checkpoints(self, group, commits, timeout=30):
        """Waits until the newest checkpoint of every committed partition carries the committed
        upstream offset; returns {(remote, p): (upstream, downstream, metadata)}."""
        want = {(f"east.{t}", p): u for (t, p), u in commits.items()}

        def check():
            cps = latest_checkpoints(self.west)
            got = {(t, p): v for (g, t, p), v in cps.items() if g == group}
            ok = all(got.get(k, (None,))[0] == u for k, u in want.items())
            return ok, {k: got.get(k) for k in want}

        return self.poll_until(check, timeout, f"checkpoints of {group} at {want}")

    def assert_exact(self, group, commits):
        """The checkpoints and west's synced group offsets of `group`, which committed `commits`
        ({(topic, p): u}) on east, point at the first west record copied from offset >= u, and a
        consumer of that group on west reads exactly east's records from u on."""
        topics = sorted({t for t, _ in commits})
        parts = {t: self.PARTITIONS[t] for t in topics}
        layouts = {t: self.check_copy(t, parts[t]) for t in topics}
        ends = {(t, p): watermarks(self.west, f"east.{t}", p)[1] for t, p in commits}
        want = {(f"east.{t}", p): exact_downstream(layouts[t][p], u, ends[(t, p)])
                for (t, p), u in commits.items()}

        cps = self.wait_checkpoints(group, commits)
        self.assertEqual({k: v[1] for k, v in cps.items()}, want,
                         f"checkpoint downstream offsets of {group} (committed on east: {commits})")

        def synced():
            got = committed(self.west, group, list(want))
            return got == want, got

        self.poll_until(synced, 30, f"{group}'s west offsets to be synced to {want}")

        read = read_as_group(self, self.west, group, [f"east.{t}" for t in topics])
        sources = {t: self.source_records(t, parts[t]) for t in topics}
        for (t, p), u in sorted(commits.items()):
            got = read[(f"east.{t}", p)]
            where = f"{group} on east.{t}-{p}, committed {u} on east"
            # East's records from u on, once each, in order; foreign records west holds after the
            # translated position are read too, as any consumer starting there would.
            src = [(o, v) for o, v in sources[t][p] if o >= u]
            mirrored = [(up, v) for up, v in got if up is not None]
            redelivered = [up for up, _ in mirrored if up < u]
            seen = {up for up, _ in mirrored}
            skipped = [o for o, _ in src if o not in seen]
            self.assertEqual((len(redelivered), len(skipped)), (0, 0),
                             f"{where}: re-delivered {redelivered[:5]}, skipped {skipped[:5]}")
            self.assertEqual(mirrored, src, where)
            self.assertEqual(got, [(up, v) for off, up, v in layouts[t][p] if off >= want[(f"east.{t}", p)]],
                             f"{where}: west records read")
        return want

    def checkpoint_rounds(self, group, rounds=2, timeout=30):
        """Waits until `rounds` more checkpoint rounds of `group` reach west. The mirror syncs a
        group's offsets in the same pass that writes its checkpoints, before the pass ends, so
        after two rounds at least one complete sync attempt happened."""
        def count():
            return sum(1 for _, (g, _, _), _ in read_internal(self.west, CHECKPOINTS, decode_checkpoint)
                       if g == group)

        base = count()
        per_round = len({(t, p) for (g, t, p) in latest_checkpoints(self.west) if g == group})
        wait_until(lambda: count() >= base + rounds * per_round, timeout, interval=0.5,
                   what=f"{rounds} more checkpoint rounds of {group}")


class TranslationTest(OffsetsTestCase):
    """One east->west flow, shared by the tests of this class (its setup costs most of the time):

    - "ledger" (4 partitions): batch 1 (600 records per partition), then batch 2 (400); west's
      "east.ledger" got foreign records before the mirror started and between the batches.
    - "profiles" (3 partitions, compacted): 1200 records per partition, the first 840 mostly updates
      of 20 hot keys, cleaned down to the newest record per key before the mirror starts, so
      offsets have gaps of assorted sizes.

    Tests are numbered because test 2 adds records and restarts the mirror; each test commits its
    own groups and derives its expectations from what the brokers hold when it runs."""

    LEDGER_PARTS, PROFILE_PARTS = 4, 3
    PARTITIONS = {"ledger": LEDGER_PARTS, "profiles": PROFILE_PARTS}

    @classmethod
    def setUpClass(cls):
        mirror_binary()
        cls.rng = random.Random(SEED + 40)
        cls.east = cls.start_class_broker(EAST_CONFIG)
        cls.west = cls.start_class_broker(WEST_CONFIG)
        east, west = cls.east, cls.west
        create_topics(east, "ledger", partitions=cls.LEDGER_PARTS)
        create_topics(east, "profiles", partitions=cls.PROFILE_PARTS,
                      config={"cleanup.policy": "compact", "segment.ms": "300", "segment.bytes": "16384"})
        # Plain topics on west: the mirror keeps remote topics it finds, so west never compacts its
        # copy and every copied record stays readable.
        create_topics(west, ["east.ledger"], partitions=cls.LEDGER_PARTS)
        create_topics(west, ["east.profiles"], partitions=cls.PROFILE_PARTS)
        write_foreign(west, "east.ledger", [7, 1, 23, 4], "before")
        write_foreign(west, "east.profiles", [2, 11, 5], "before")

        produce_ledger(east, 0, 600)
        last_of = {}
        # Over the first 840 offsets a quarter of the keys are written once and survive, the rest
        # update 20 hot keys, of which only the newest survive: gaps of assorted sizes. The rest
        # are written once, so whether the broker's cleaner (min.cleanable.dirty.ratio 0.5) ever
        # gets to them, nothing there disappears later.
        def key(p, i):
            if i >= 840 or (i >= 5 and cls.rng.random() < 0.25):  # the first offsets always go
                return b"once-%d-%d" % (p, i)
            return b"hot-%d-%d" % (p, cls.rng.randrange(20))

        msgs = produce_all(east, "profiles", [
            {"key": key(p, i), "value": b"profile-%d-%05d" % (p, i), "partition": p}
            for i in range(1200) for p in range(cls.PROFILE_PARTS)], **{"batch.size": 4000})
        for m in msgs:
            last_of[(m.partition(), m.key())] = max(m.offset(), last_of.get((m.partition(), m.key()), -1))
        cls.survivors = {p: sorted(o for (pp, _), o in last_of.items() if pp == p)
                         for p in range(cls.PROFILE_PARTS)}

        def compacted():
            got = consume_all(east, "profiles", partitions=list(range(cls.PROFILE_PARTS)))
            extra = {p: sorted({m.offset() for m in got[p]} - set(cls.survivors[p]))[:5] for p in got}
            missing = {p: sorted(set(cls.survivors[p]) - {m.offset() for m in got[p]})[:5] for p in got}
            done = all([m.offset() for m in got[p]] == cls.survivors[p] for p in got)
            return done, f"extra offsets {extra}, missing {missing}"

        t0 = time.monotonic()
        wait_for(compacted, 60, "east's cleaner to keep exactly the newest record per key of profiles")
        cls.compaction_s = time.monotonic() - t0

        cls.mirror = Mirror({"east": east, "west": west},
                            [dict(source="east", target="west", topics=["ledger", "profiles"], **FAST)])
        cls.addClassCleanup(cls.mirror.close)
        cls._class_brokers.append(cls.mirror)  # its log tail is printed when a test fails
        topics = {"ledger": cls.LEDGER_PARTS, "profiles": cls.PROFILE_PARTS}
        wait_for(lambda: flow_caught_up(cls.mirror, east, topics), 90, "the mirror to copy batch 1 and profiles")
        write_foreign(west, "east.ledger", [2, 9, 1, 30], "between")
        produce_ledger(east, 600, 400)
        wait_for(lambda: flow_caught_up(cls.mirror, east, topics), 90, "the mirror to copy batch 2")

    def setUp(self):
        super().setUp()
        # Fail on the mirror's own word before judging its checkpoints.
        self.assertTrue(self.mirror.running(), "ferry-mirror exited:\n" + self.mirror.log_tail())

    def profile_offsets(self, p):
        """Committed offsets worth trying on profiles-p: inside a compacted-away gap, on a survivor
        in the middle, the first and the last survivor."""
        s = self.survivors[p]
        gaps = [(a, b) for a, b in zip(s, s[1:]) if b - a > 2]
        self.assertTrue(gaps, f"profiles-{p} has no compaction gaps: {s[:20]}")
        a, b = self.rng.choice(gaps)
        return {"gap": self.rng.randrange(a + 1, b), "survivor": s[len(s) // 2], "last": s[-1], "first": s[0]}

    # -- tests --

    def test_1_checkpoints_and_synced_offsets_point_at_the_next_unconsumed_record(self):
        for p in range(self.PROFILE_PARTS):
            s, high = self.survivors[p], watermarks(self.east, "profiles", p)[1]
            self.assertGreater(high - len(s), high // 3, f"profiles-{p} must have gaps: {len(s)} of {high} left")
        offsets = [self.profile_offsets(p) for p in range(self.PROFILE_PARTS)]
        groups = {
            # Log end, 0, far behind, inside batch 2.
            "readers-a": {("ledger", 0): 1000, ("ledger", 1): 0, ("ledger", 2): 37, ("ledger", 3): 811,
                          ("profiles", 0): offsets[0]["gap"], ("profiles", 1): offsets[1]["first"],
                          ("profiles", 2): watermarks(self.east, "profiles", 2)[1]},
            # Either side of the foreign records between the batches, 1 and one before the end.
            "readers-b": {("ledger", 0): 600, ("ledger", 1): 599, ("ledger", 2): 1, ("ledger", 3): 999,
                          ("profiles", 0): offsets[0]["last"], ("profiles", 1): offsets[1]["survivor"],
                          ("profiles", 2): offsets[2]["gap"]},
            "readers-c": {("profiles", 0): offsets[0]["first"] + 1, ("profiles", 1): offsets[1]["gap"],
                          ("profiles", 2): offsets[2]["last"] + 1},
        }
        for g, c in groups.items():
            commit_standalone(self.east, g, c)
        for g, c in groups.items():
            want = self.assert_exact(g, c)
            # On the ledger every downstream offset differs from its upstream one (foreign records
            # in every partition), or a translation that returns its input would pass.
            self.assertTrue(all(want[(f"east.{t}", p)] != u for (t, p), u in c.items() if t == "ledger"),
                            (g, c, want))
        print(f"\nprofiles compacted in {self.compaction_s:.1f}s; survivors per partition: "
              f"{[len(s) for s in self.survivors.values()]} of 1200")

    def test_1b_a_group_before_the_first_surviving_record_of_a_compacted_partition(self):
        # Offsets 0..first survivor - 1 were compacted away before the mirror copied the partition
        # from its start, so the first record at or after 0 is the first survivor: a group still
        # at 0 (e.g. one that committed before the cleaner ran) must land on its copy.
        commits = {("profiles", p): 0 for p in range(self.PROFILE_PARTS) if self.survivors[p][0] > 0}
        commits.update({("profiles", p): self.survivors[p][0] - 1 for p in range(self.PROFILE_PARTS)
                        if self.survivors[p][0] > 1 and p % 2})
        self.assertTrue(commits, f"no profiles partition lost its first records: {self.survivors}")
        commit_standalone(self.east, "before-first-survivor", commits)
        self.assert_exact("before-first-survivor", commits)

    def test_2_translation_stays_exact_after_the_mirror_is_sigkilled(self):
        m, east, west = self.mirror, self.east, self.west
        topics = {"ledger": self.LEDGER_PARTS, "profiles": self.PROFILE_PARTS}
        parts = range(self.LEDGER_PARTS)
        base = {p: watermarks(east, "ledger", p)[1] for p in parts}
        # Killed while it copies a live stream, so records may be on west without their syncs.
        stream = KeyedStream(east, "ledger", self.LEDGER_PARTS, rate=2000, tag="live")
        stream.start()
        self.addCleanup(stream.stop)
        wait_until(lambda: all(p["next_offset"] > base[p["partition"]] + 50
                               for p in m.flow_status("east", "west")["partitions"] if p["topic"] == "ledger"),
                   30, interval=0.05, what="the mirror to copy some of the live stream")
        time.sleep(self.rng.uniform(0.0, 1.0))
        m.kill()
        stream.stop()
        live_end = {p: watermarks(east, "ledger", p)[1] for p in parts}
        write_foreign(west, "east.ledger", [3, 0, 12, 5], "restart")
        produce_ledger(east, 2000, 200)
        fresh = produce_all(east, "profiles", [{"key": b"new-%d-%d" % (p, i), "value": b"fresh-%d-%d" % (p, i),
                                                "partition": p} for i in range(40) for p in range(self.PROFILE_PARTS)])
        t0 = time.monotonic()
        m.start()
        self.poll_until(lambda: flow_caught_up(m, east, topics), 90, "the restarted mirror to catch up")
        restart_s = time.monotonic() - t0
        end = {p: watermarks(east, "ledger", p)[1] for p in parts}
        first_fresh = {p: min(x.offset() for x in fresh if x.partition() == p) for p in range(self.PROFILE_PARTS)}
        offsets = [self.profile_offsets(p) for p in range(self.PROFILE_PARTS)]
        commits = {
            # Replicated before the kill: far behind, the break between batches 1 and 2, the
            # start of the live stream.
            ("ledger", 0): 37, ("ledger", 1): 600, ("ledger", 2): base[2],
            # Replicated after the restart: in the middle.
            ("ledger", 3): live_end[3] + 100,
            ("profiles", 0): offsets[0]["gap"], ("profiles", 1): first_fresh[1],
            ("profiles", 2): watermarks(east, "profiles", 2)[1],
        }
        commit_standalone(east, "after-restart", commits)
        self.assert_exact("after-restart", commits)
        # The first record the restarted mirror copied, right behind the foreign records.
        rows = remote_layout(west, "east.ledger", self.LEDGER_PARTS)[2]
        last_foreign = max(off for off, up, v in rows if v.startswith(b"restart-"))
        resumed_at = next(up for off, up, _ in rows if off > last_foreign and up is not None)
        commits2 = {
            # The end, inside the live stream, where the restarted mirror resumed, and 0.
            ("ledger", 0): end[0], ("ledger", 1): (base[1] + live_end[1]) // 2, ("ledger", 2): resumed_at,
            ("ledger", 3): 0,
            ("profiles", 0): first_fresh[0] + 7, ("profiles", 1): offsets[1]["gap"],
            ("profiles", 2): offsets[2]["survivor"]}
        commit_standalone(east, "after-restart-2", commits2)
        self.assert_exact("after-restart-2", commits2)
        # The restarted process did not see the profiles copy begin at the source's start; it must
        # work that out again for a group still below the first surviving (compacted) record.
        below = {("profiles", p): 0 for p in range(self.PROFILE_PARTS) if self.survivors[p][0] > 0}
        self.assertTrue(below, f"no profiles partition lost its first records: {self.survivors}")
        commit_standalone(east, "after-restart-below-first", below)
        self.assert_exact("after-restart-below-first", below)
        print(f"\nrestarted mirror caught up in {restart_s:.1f}s; live stream {stream.acked} records")

    def test_3_group_offset_sync_leaves_active_groups_alone_and_never_goes_back(self):
        east, west, group = self.east, self.west, "active-on-west"
        tps = [("ledger", p) for p in range(self.LEDGER_PARTS)]
        first = {tp: 100 + 10 * tp[1] for tp in tps}
        commit_standalone(east, group, first)
        synced = self.assert_exact(group, first)

        # A consumer of the group runs on west and commits positions of its own.
        c = consumer(west, **{"group.id": group, "auto.offset.reset": "earliest"})
        closed = []

        def close():
            if not closed:
                closed.append(True)
                c.close()

        self.addCleanup(close)
        c.subscribe(["east.ledger"])

        def assigned():
            c.poll(0.2)
            return len(c.assignment()) == self.LEDGER_PARTS

        wait_until(assigned, 30, interval=0, what="the west consumer to be assigned every partition")
        own = {k: v + 3 for k, v in synced.items()}
        c.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in own.items()], asynchronous=False)
        self.assertEqual(committed(west, group, list(own)), own)

        moved = {tp: 500 + tp[1] for tp in tps}
        commit_standalone(east, group, moved)
        cps = self.wait_checkpoints(group, moved)
        self.checkpoint_rounds(group)
        self.assertEqual(len(c.assignment()), self.LEDGER_PARTS, "the west consumer left its group")
        self.assertEqual(committed(west, group, list(own)), own,
                         f"an active west group's offsets changed; east moved to {moved}, checkpoints {cps}")

        # Once the group is empty, the sync moves it to the translation of east's new offsets,
        close()
        forward = {k: v[1] for k, v in cps.items()}
        self.assertTrue(all(forward[k] > own[k] for k in own), (forward, own))

        def now_synced():
            got = committed(west, group, list(forward))
            return got == forward, got

        self.poll_until(now_synced, 30, f"the emptied group to be synced to {forward}")

        # and never back: east's group rewinds, west's stays where it is.
        back = {tp: 40 + tp[1] for tp in tps}
        commit_standalone(east, group, back)
        cps = self.wait_checkpoints(group, back)
        self.assertTrue(all(v[1] < forward[k] for k, v in cps.items()), cps)
        self.checkpoint_rounds(group)
        self.assertEqual(committed(west, group, list(forward)), forward,
                         f"west's offsets moved backwards after east rewound to {back}")

    def test_4_mm2_internal_topics_decode_with_plausible_values(self):
        east, west = self.east, self.west
        group = "formats"
        commits = {("ledger", 0): 12, ("ledger", 1): 700, ("ledger", 2): 1000, ("ledger", 3): 599,
                   ("profiles", 0): self.profile_offsets(0)["gap"]}
        metadata = {tp: f"formats {tp[0]}-{tp[1]} \u00e9" for tp in commits}  # carried as UTF-8
        commit_with_metadata(east, group, {tp: (o, metadata[tp]) for tp, o in commits.items()})
        self.wait_checkpoints(group, commits)
        self.checkpoint_rounds(group, rounds=1)  # every group's checkpoints of a pass are out
        now_ms = time.time() * 1000

        # Offset syncs (east): each one is a real record position on west.
        layouts = {t: remote_layout(west, f"east.{t}", n)
                   for t, n in (("ledger", self.LEDGER_PARTS), ("profiles", self.PROFILE_PARTS))}
        syncs = read_internal(east, SYNCS, decode_offset_sync)
        self.assertTrue(syncs, f"{SYNCS} is empty")
        per_partition = {}
        for off, (topic, p), (up, down) in syncs:
            per_partition.setdefault((topic, p), []).append((up, down))
            if topic not in layouts:
                continue  # heartbeats: checked below through their own copy
            at = {o: u for o, u, _ in layouts[topic][p]}
            self.assertEqual(at.get(down), up, f"sync #{off} {topic}-{p} {up}->{down} is not where "
                                               f"east.{topic}-{p} holds upstream {up}")
        for t in layouts:
            for p, rows in layouts[t].items():
                # A sync at the start of every stretch where (downstream - upstream) changes.
                pairs = sorted({(u, o) for o, u, _ in rows if u is not None})
                have = set(per_partition.get((t, p), []))
                starts = [pr for i, pr in enumerate(pairs)
                          if i == 0 or pr[1] - pr[0] != pairs[i - 1][1] - pairs[i - 1][0]]
                missing = [s for s in starts if s not in have]
                self.assertEqual(missing, [], f"{t}-{p}: no offset sync where downstream - upstream changes")
                # MM2's reader (newest sync <= u; its downstream, +1 when below) never skips.
                syncs_p = sorted(have)
                west_end = watermarks(west, f"east.{t}", p)[1]
                for u in sorted({0, 1, 37, 599, 600, 601, pairs[-1][0]} | {pr[0] for pr in starts}):
                    below = [s for s in syncs_p if s[0] <= u]
                    if not below:
                        continue
                    su, sd = below[-1]
                    mm2 = sd if su == u else sd + 1
                    exact = exact_downstream(rows, u, west_end)
                    self.assertLessEqual(mm2, exact, f"MM2's reading of {t}-{p} syncs skips records at {u}")

        # Checkpoints (west): every group's newest checkpoints are exact for its current east offsets.
        cps = latest_checkpoints(west)
        groups = sorted({g for g, _, _ in cps})
        self.assertIn(group, groups)
        for g in groups:
            mine = {(t, p): v for (gg, t, p), v in cps.items() if gg == g}
            east_now = committed(east, g, [(t[len("east."):], p) for t, p in mine])
            for (t, p), (up, down, meta) in mine.items():
                if g == group:
                    self.assertEqual(meta, metadata[(t[len("east."):], p)], f"{g} {t}-{p}: commit metadata")
                if east_now[(t[len("east."):], p)] != up:
                    continue  # east moved since (test 3 rewinds its group); checked when it settles
                exact = exact_downstream(layouts[t[len("east."):]][p], up, watermarks(west, t, p)[1])
                self.assertEqual(down, exact, f"checkpoint {g} {t}-{p} upstream {up}")

        # Heartbeats: this flow's own on west, the reverse pair's on east, copied to west.
        for broker, topic, key in ((west, HEARTBEATS, ("east", "west")), (east, HEARTBEATS, ("west", "east")),
                                   (west, "east.heartbeats", ("west", "east"))):
            beats = read_internal(broker, topic, decode_heartbeat)
            keys = {k for _, k, _ in beats}
            self.assertEqual(keys, {key}, f"{topic} keys")
            newest = max(ts for _, _, ts in beats)
            self.assertLess(abs(now_ms - newest), 60_000, f"{topic}: newest heartbeat at {newest}, now {now_ms}")
        # The copied heartbeats are the source's, in order, and each sits where its syncs say.
        src = {o: ts for o, _, ts in read_internal(east, HEARTBEATS, decode_heartbeat)}
        copied = consume_all(west, "east.heartbeats", partitions=[0])[0]
        ups = [upstream_of(msg) for msg in copied]
        self.assertEqual(ups, sorted(set(ups)), "east.heartbeats: copies out of order or repeated")
        for msg, up in zip(copied, ups):
            if up in src:
                self.assertEqual(decode_heartbeat(msg.key(), msg.value())[1], src[up], f"heartbeat {up}")
        hb_at = dict(zip((msg.offset() for msg in copied), ups))
        for _, (t, p), (up, down) in syncs:
            if t == HEARTBEATS and down in hb_at:
                self.assertEqual(hb_at[down], up, f"heartbeats sync {up}->{down}")


class ScaleOutTest(OffsetsTestCase):
    PARTITIONS = {"stream": 4}

    def test_two_processes_share_a_flow_and_one_takes_over_when_the_other_is_killed(self):
        self.east, self.west = east, west = self.start_broker(EAST_CONFIG), self.start_broker(WEST_CONFIG)
        topic, parts = "stream", self.PARTITIONS["stream"]
        create_topics(east, topic, partitions=parts)
        create_topics(west, f"east.{topic}", partitions=parts)
        write_foreign(west, f"east.{topic}", [5, 9, 2, 14], "before")  # so translation is no identity
        # The broker's minimum session, so the killed process's partitions move after ~6 s.
        clusters = {"east": {"bootstrap.servers": east.bootstrap,
                             "client": {"session.timeout.ms": "6000", "heartbeat.interval.ms": "1000"}},
                    "west": west}
        flow = [dict(source="east", target="west", topics=[topic], **FAST)]
        stream = KeyedStream(east, topic, parts, rate=800)
        stream.start()
        self.addCleanup(stream.stop)
        a = self.start_mirror(clusters, flow)
        b = self.start_mirror(clusters, flow)

        def owned(m):
            return {p["partition"] for p in m.flow_status("east", "west")["partitions"] if p["topic"] == topic}

        def shared():
            oa, ob = owned(a), owned(b)
            return bool(oa) and bool(ob) and oa | ob == set(range(parts)) and not oa & ob, (oa, ob)

        a_parts, b_parts = self.poll_until(shared, 60, "both mirrors to own some partitions")
        wait_until(lambda: b.flow_status("east", "west")["records_replicated"] > 0, 30,
                   what="the second mirror to replicate")
        killed_at = {p["partition"]: p["next_offset"] for p in a.flow_status("east", "west")["partitions"]
                     if p["topic"] == topic}
        t0 = time.monotonic()
        a.kill()
        self.poll_until(lambda: (owned(b) == set(range(parts)), owned(b)), 60,
                        "the surviving mirror to own every partition")
        took_over = time.monotonic() - t0
        before = b.flow_status("east", "west")["records_replicated"]
        wait_until(lambda: b.flow_status("east", "west")["records_replicated"] > before + 200, 30,
                   what="replication after the takeover")
        stream.stop()
        self.wait_caught_up(b, east, west, {topic: parts}, lambda t: f"east.{t}", timeout=90,
                            same_watermarks=False)
        src = self.source_records(topic, parts)
        self.check_copy(topic, parts)  # every east record on west once, in order
        self.assertEqual(sum(len(v) for v in src.values()), stream.acked)

        # A group positioned in what the killed process copied is translated by the survivor,
        # from the syncs the killed one wrote.
        commits = {(topic, p): (killed_at[p] // 2 if i % 2 else max(1, killed_at[p] - 3))
                   for i, p in enumerate(sorted(a_parts))}
        commits.update({(topic, p): (len(src[p]) if i % 2 else 11) for i, p in enumerate(sorted(b_parts))})
        commit_standalone(east, "after-takeover", commits)
        self.assert_exact("after-takeover", commits)
        print(f"\nsplit {sorted(a_parts)} / {sorted(b_parts)}; the survivor owned all partitions "
              f"{took_over:.1f}s after the kill; {stream.acked} records exactly once")


if __name__ == "__main__":
    unittest.main()
