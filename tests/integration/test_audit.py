"""The security audit log with a real broker and real clients: a CreateTopics by confluent-kafka is
one CloudEvents line naming kafka.CreateTopics; produce and fetch are not logged by default;
`ferry-admin audit verify` passes on the broker's files (across a restart and across rotated
files) and, after one byte of a line is edited, fails with exit 1 naming that file and line. Also
checks that a ferry-dr style log built by an independent (Python) implementation of the chain
verifies through the same command, so the documented format is the one implemented.

Principals are User:ANONYMOUS and the authorizer allows everything until ACLs land, so only
allowed management events are exercised here; denials and authentication events are covered by
security/tests/audit_log_test.cc."""

import glob
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from ferry_harness import BrokerTestCase, binary_from_env, consume_all, create_topics, producer


def admin_binary():
    return binary_from_env("FERRY_ADMIN", "ferry-admin")


def verify(*files, anchor=None):
    args = [admin_binary(), "audit", "verify", *files]
    if anchor:
        args += ["--anchor", anchor]
    p = subprocess.run(args, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def read_lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def canonical(obj):
    """The hashed form: keys sorted, compact, without "sha256" (common/hash_chain.h)."""
    return json.dumps({k: v for k, v in obj.items() if k != "sha256"}, sort_keys=True, separators=(",", ":"))


class AuditLogTest(BrokerTestCase):
    def paths(self, b):
        return (os.path.join(b.data_dir, "ferry-audit", "security-audit.log"),
                os.path.join(b.data_dir, "security-audit-anchor.json"))

    def test_create_topics_is_one_event_and_an_edited_byte_fails_verify(self):
        b = self.start_broker()
        log, anchor = self.paths(b)
        create_topics(b, "audit-orders")
        p = producer(b)
        p.produce("audit-orders", b"v")
        self.assertEqual(p.flush(10), 0)
        self.assertEqual(sum(len(m) for m in consume_all(b, "audit-orders").values()), 1)
        b.stop()  # a graceful stop writes and fsyncs everything queued

        lines = read_lines(log)
        create = [l for l in lines if l["data"]["methodName"] == "kafka.CreateTopics"]
        self.assertEqual(len(create), 1, lines)
        e = create[0]
        self.assertEqual(e["specversion"], "1.0")
        self.assertEqual(e["type"], "io.confluent.kafka.server/authorization")
        self.assertTrue(e["source"].startswith("crn:///kafka="))
        self.assertEqual(e["data"]["authenticationInfo"]["principal"], "User:ANONYMOUS")
        self.assertEqual(e["data"]["authorizationInfo"]["granted"], True)
        self.assertEqual(e["data"]["authorizationInfo"]["operation"], "Create")
        self.assertEqual(e["data"]["requestMetadata"]["clientAddress"], "127.0.0.1")
        self.assertEqual(e["data"]["requestMetadata"]["listener"], "PLAINTEXT")
        # Produce and Fetch successes are off by default (volume), like Confluent's.
        methods = {l["data"]["methodName"] for l in lines}
        self.assertNotIn("kafka.Produce", methods)
        self.assertNotIn("kafka.Fetch", methods)
        self.assertNotIn("kafka.Metadata", methods)

        rc, out = verify(log, anchor=anchor)
        self.assertEqual(rc, 0, out)
        self.assertIn("OK:", out)
        self.assertIn("security format", out)

        # Edit one byte of the CreateTopics line: the verifier names that file and line.
        with open(log, "rb") as f:
            raw = f.read().split(b"\n")
        n = next(i for i, l in enumerate(raw) if b"kafka.CreateTopics" in l)
        pos = raw[n].index(b"ANONYMOUS")
        raw[n] = raw[n][:pos] + b"X" + raw[n][pos + 1:]
        with open(log, "wb") as f:
            f.write(b"\n".join(raw))
        rc, out = verify(log, anchor=anchor)
        self.assertEqual(rc, 1, out)
        self.assertIn(f"{log}:{n + 1}:", out)
        self.assertIn("edited", out)

    def test_chain_continues_across_restart_and_rotation(self):
        # Each CreateTopics is one ~850-byte line (one check of CREATE on the cluster); with repeat
        # folding off, 14 of them fill 4096-byte files three times over.
        b = self.start_broker({"audit.log.max.bytes": 4096, "audit.log.max.files": 3,
                               "audit.log.repeat.window.ms": 0})
        log, anchor = self.paths(b)
        for i in range(4):
            create_topics(b, f"audit-a{i}")
        b.restart()
        for i in range(10):
            create_topics(b, f"audit-b{i}")
        b.stop()
        files = glob.glob(log + "*")
        self.assertEqual(len(files), 3, files)  # rotated, oldest removed
        rc, out = verify(*files, anchor=anchor)
        self.assertEqual(rc, 0, out)
        # Removing the middle file breaks the chain at the active file's first line.
        rc, out = verify(log + ".2", log, anchor=anchor)
        self.assertEqual(rc, 1, out)
        self.assertIn(f"{log}:1:", out)

    def test_a_ferry_dr_log_written_by_the_documented_format_verifies(self):
        d = tempfile.mkdtemp(prefix="ferry-audit-dr-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "audit.jsonl")
        prev = "0" * 64
        with open(path, "w") as f:
            for i, what in enumerate(["command", "step fence", "command"]):
                e = {"ts": "2026-01-01T00:00:0%d.000Z" % i, "command": "ferry-dr failover --to west",
                     "who": {"user": "ops", "uid": 1000, "host": "h", "pid": 42}, "op_id": "op-1",
                     "what": what, "result": "ok", "reason": "", "details": {}, "prev": prev}
                e["sha256"] = hashlib.sha256(canonical(e).encode()).hexdigest()
                line = json.dumps(e, sort_keys=True, separators=(",", ":"))
                f.write(line + "\n")
                prev = hashlib.sha256(line.encode()).hexdigest()
        rc, out = verify(path)
        self.assertEqual(rc, 0, out)
        self.assertIn("ferry-dr format", out)
        with open(path) as f:
            lines = f.readlines()
        del lines[1]
        with open(path, "w") as f:
            f.writelines(lines)
        rc, out = verify(path)
        self.assertEqual(rc, 1, out)
        self.assertIn(f"{path}:2:", out)
        p = subprocess.run([admin_binary(), "audit", "verify", path, "--json"], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 1, p.stderr)
        doc = json.loads(p.stdout)
        self.assertEqual((doc["ok"], doc["format"], doc["file"], doc["line"]), (False, "ferry-dr", path, 2))
        self.assertIn("removed", doc["reason"])


if __name__ == "__main__":
    unittest.main()
