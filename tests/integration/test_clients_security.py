"""Every Ferry client component on secured clusters (issue 15 items 6 and 8): ferry-admin
(librdkafka commands and the users commands on client/wire_client), ferry-dr's role writes
(IncrementalAlterConfigs on client/wire_client) and ferry-mirror, against SASL_SSL brokers with
SCRAM users made by `ferry-broker --add-scram`, and with mutual TLS; passwords from a file or an
environment variable, never from the command line; wrong passwords and untrusted servers give
clear errors and non-zero exits.
"""

import json
import os
import subprocess
import time
import unittest

from dr_harness import DR
from ferry_harness import Broker, free_port, kcat, mirror_binary, scram_specs
from security_pki import Pki, PkiTestCase

TIMEOUT_S = 60
ADMIN_PASSWORD = "admin-secret-Ω-1"


def admin_binary():
    path = os.environ.get("FERRY_ADMIN")
    if not path or not os.path.exists(path):
        raise unittest.SkipTest("FERRY_ADMIN not set (build ferry-admin)")
    return path


class ClientsSecurityTest(PkiTestCase):
    PKI_PREFIX = "ferry-clients-"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.client_cert = cls.pki.client("ferry-client", "ferry-client")
        cls.other_pki = Pki(os.path.join(cls.dir.name, "other-ca"), name="Other CA")

    def secret_file(self, name, text):
        path = os.path.join(self.dir.name, name)
        with open(path, "w") as f:
            f.write(text + "\n")
        os.chmod(path, 0o600)
        return path

    def sasl_ssl_broker(self, users, mtls=False, host="127.0.0.1"):
        """A broker with one SASL_SSL listener (SCRAM-SHA-256/512, PLAIN) and `users` ({name:
        password}) stored with --add-scram before the first start; `mtls` also requires a client
        certificate signed by the test CA."""
        port = free_port()
        config = {"listeners": f"SASL_SSL://{host}:{port}", "ssl.keystore.location": self.server.keystore,
                  "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
                  "group.initial.rebalance.delay.ms": 0,
                  # These tests are about how clients connect; the users they store are super users
                  # (ACLs, the default on SASL listeners, have their own tests).
                  "super.users": ";".join(f"User:{u}" for u in users)}
        if mtls:
            config.update({"ssl.client.auth": "required", "ssl.truststore.location": self.pki.ca_cert})
        b = Broker(config=config, start=False)
        self.addCleanup(b.close)
        b.port = port
        b.add_scram(*scram_specs(users))
        b.start()
        self.__dict__.setdefault("_processes", []).append(b)
        return b

    def tls_props(self, mtls=False, ca=None):
        p = {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
             "ssl.ca.location": ca or self.pki.ca_cert}
        if mtls:
            p.update({"ssl.certificate.location": self.client_cert.cert, "ssl.key.location": self.client_cert.key})
        return p

    def admin(self, b, *args, props=None, stdin=None, env=None, expect=0, timeout_ms=20000):
        cmd = [admin_binary(), "--bootstrap-server", b.bootstrap, "--timeout-ms", str(timeout_ms)]
        for k, v in (props or {}).items():
            cmd += ["-X", f"{k}={v}"]
        p = subprocess.run(cmd + list(args), input=stdin, capture_output=True, text=True, timeout=TIMEOUT_S,
                           env=dict(os.environ, **(env or {})))
        if expect is not None and p.returncode != expect:
            self.fail(f"ferry-admin {' '.join(args)} exited {p.returncode}, expected {expect}\n"
                      f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
        for secret in (ADMIN_PASSWORD, "alice-pw-7"):
            self.assertNotIn(secret, p.stdout + p.stderr)
        return p

    def admin_props(self, mtls=False):
        return dict(self.tls_props(mtls), **{"sasl.username": "admin",
                                              "sasl.password.file": self.secret_file("admin.pw", ADMIN_PASSWORD)})

    def test_users_set_describe_delete_and_the_new_user_logs_in(self):
        for mtls in (False, True):
            with self.subTest(mtls=mtls):
                b = self.sasl_ssl_broker({"admin": ADMIN_PASSWORD}, mtls=mtls)
                props = self.admin_props(mtls)
                out = self.admin(b, "users", "set", "alice", "--mechanism", "SCRAM-SHA-512", "--iterations", "8192",
                                 props=props, stdin="alice-pw-7\n")
                self.assertIn("alice", out.stdout)
                doc = json.loads(self.admin(b, "users", "describe", "--json", props=props).stdout)
                by_user = {u["user"]: u["credentials"] for u in doc["users"]}
                self.assertEqual(by_user["alice"], [{"mechanism": "SCRAM-SHA-512", "iterations": 8192}])
                self.assertIn("admin", by_user)
                table = self.admin(b, "users", "describe", "alice", props=props).stdout
                self.assertIn("SCRAM-SHA-512", table)
                self.assertIn("8192", table)
                alice = dict(self.tls_props(mtls), **{"sasl.username": "alice", "sasl.password": "alice-pw-7"})
                got = kcat(b.bootstrap, alice, "-L")
                self.assertEqual(got.returncode, 0, got.stderr)
                self.admin(b, "users", "delete", "alice", "--mechanism", "SCRAM-SHA-512", props=props)
                self.assertNotIn("alice", self.admin(b, "users", "describe", props=props).stdout)
                self.assertNotEqual(kcat(b.bootstrap, alice, "-L", "-m", "5").returncode, 0)
                # Deleting what is not there is the broker's RESOURCE_NOT_FOUND, exit 1.
                gone = self.admin(b, "users", "delete", "alice", "--mechanism", "SCRAM-SHA-512", props=props, expect=1)
                self.assertIn("RESOURCE_NOT_FOUND", gone.stderr)

    def test_password_file_and_env_drive_the_librdkafka_commands(self):
        b = self.sasl_ssl_broker({"admin": ADMIN_PASSWORD})
        from_file = self.admin_props()
        self.admin(b, "topics", "create", "--topic", "secured", "--partitions", "2", props=from_file)
        from_env = dict(self.tls_props(), **{"sasl.username": "admin", "sasl.password.env": "FERRY_TEST_ADMIN_PW"})
        listed = self.admin(b, "topics", "list", props=from_env, env={"FERRY_TEST_ADMIN_PW": ADMIN_PASSWORD})
        self.assertIn("secured", listed.stdout.split())
        self.admin(b, "configs", "alter", "--entity-type", "topics", "--entity-name", "secured",
                   "--add-config", "retention.ms=123456", props=from_file)
        described = self.admin(b, "configs", "describe", "--entity-type", "topics", "--entity-name", "secured",
                               props=from_env, env={"FERRY_TEST_ADMIN_PW": ADMIN_PASSWORD})
        self.assertIn("123456", described.stdout)
        os.environ.pop("FERRY_TEST_ADMIN_PW", None)
        unset = self.admin(b, "topics", "list", props=from_env, expect=2)
        self.assertIn("FERRY_TEST_ADMIN_PW", unset.stderr)

    def test_a_password_on_the_command_line_is_refused(self):
        b = self.sasl_ssl_broker({"admin": ADMIN_PASSWORD})
        for key in ("sasl.password", "ssl.key.password"):
            props = dict(self.tls_props(), **{"sasl.username": "admin", key: ADMIN_PASSWORD})
            p = self.admin(b, "topics", "list", props=props, expect=2)
            self.assertIn("sasl.password.file", p.stderr)
            self.assertIn("sasl.password.env", p.stderr)

    def test_wrong_password_and_untrusted_server_give_clear_errors(self):
        # Listening on every address so that 127.0.0.2 (not in the certificate) reaches it too.
        b = self.sasl_ssl_broker({"admin": ADMIN_PASSWORD}, host="0.0.0.0")
        wrong = dict(self.tls_props(), **{"sasl.username": "admin",
                                           "sasl.password.file": self.secret_file("wrong.pw", "not-the-password")})
        p = self.admin(b, "users", "describe", props=wrong, expect=1)
        self.assertIn("SASL_AUTHENTICATION_FAILED", p.stderr)
        self.assertIn("SCRAM-SHA-512", p.stderr)
        self.assertIn("'admin'", p.stderr)
        self.assertNotIn("not-the-password", p.stderr)
        p = self.admin(b, "topics", "list", props=wrong, expect=1, timeout_ms=8000)
        self.assertNotIn("not-the-password", p.stderr)
        self.assertIn("Authentication failed", p.stderr)
        untrusted = dict(self.admin_props(), **{"ssl.ca.location": self.other_pki.ca_cert})
        p = self.admin(b, "users", "describe", props=untrusted, expect=1)
        self.assertIn("SSL_HANDSHAKE", p.stderr)
        self.assertIn(b.bootstrap, p.stderr)
        self.assertIn("certificate verify failed", p.stderr)
        # The name check: the certificate is for 127.0.0.1 and localhost, not 127.0.0.2.
        other_name = dict(self.admin_props())
        p = subprocess.run([admin_binary(), "--bootstrap-server", f"127.0.0.2:{b.port}", "users", "describe",
                            "--timeout-ms", "10000"] + [a for k, v in other_name.items() for a in ("-X", f"{k}={v}")],
                           capture_output=True, text=True, timeout=TIMEOUT_S)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("SSL_HANDSHAKE", p.stderr)
        off = dict(other_name, **{"ssl.endpoint.identification.algorithm": "none"})
        p = subprocess.run([admin_binary(), "--bootstrap-server", f"127.0.0.2:{b.port}", "users", "describe",
                            "--timeout-ms", "10000"] + [a for k, v in off.items() for a in ("-X", f"{k}={v}")],
                           capture_output=True, text=True, timeout=TIMEOUT_S)
        self.assertEqual(p.returncode, 0, p.stderr)

    def dr_config(self, east, west, east_client, west_client):
        dr = DR({"east": east, "west": west})
        self.addCleanup(dr.close)
        with open(dr.config_path, "a") as f:
            for name, client in (("east", east_client), ("west", west_client)):
                f.write(f'\n[regions."{name}".client]\n')
                for k, v in client.items():
                    f.write(f"{json.dumps(k)} = {json.dumps(v)}\n")
        return dr

    def test_dr_role_and_status_on_sasl_ssl_regions(self):
        east = self.sasl_ssl_broker({"dr-east": "east-pw"})
        west = self.sasl_ssl_broker({"dr-west": "west-pw"}, mtls=True)
        east_client = dict(self.tls_props(), **{"sasl.username": "dr-east",
                                                 "sasl.password.file": self.secret_file("east.pw", "east-pw")})
        west_client = dict(self.tls_props(mtls=True), **{"sasl.username": "dr-west",
                                                          "sasl.password.env": "FERRY_TEST_WEST_PW"})
        dr = self.dr_config(east, west, east_client, west_client)
        env = {"FERRY_TEST_WEST_PW": "west-pw"}
        for region in ("east", "west"):
            p = dr.run("role", region, "standby", env=env)
            self.assertEqual(p.returncode, 0, p.stderr)
            p = dr.run("role", region, env=env)
            self.assertEqual((p.returncode, p.stdout.split()[-1]), (0, "standby"), p.stderr)
            p = dr.run("role", region, "primary", env=env)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(dr.run("role", region, env=env).stdout.split()[-1], "primary")
        p = dr.run("status", "--json", env=env)
        doc = json.loads(p.stdout)
        self.assertIn("east", json.dumps(doc))
        self.assertNotIn("east-pw", p.stdout + p.stderr)
        self.assertNotIn("SASL_AUTHENTICATION_FAILED", p.stdout + p.stderr)
        # A wrong password: a clear refusal naming mechanism and user, non-zero exit.
        bad = self.dr_config(east, west, dict(east_client, **{"sasl.password.file": self.secret_file("bad.pw", "nope")}),
                             west_client)
        p = bad.run("role", "east", "standby", env=env)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("SASL_AUTHENTICATION_FAILED", p.stderr)
        self.assertIn("'dr-east'", p.stderr)
        self.assertEqual(dr.run("role", "east", env=env).stdout.split()[-1], "primary")

    def test_mirror_replicates_between_sasl_ssl_brokers_with_own_users(self):
        mirror_binary()
        east = self.sasl_ssl_broker({"mirror-east": "me-pw", "admin": ADMIN_PASSWORD})
        west = self.sasl_ssl_broker({"mirror-west": "mw-pw", "admin": ADMIN_PASSWORD})
        east_client = dict(self.tls_props(), **{"sasl.username": "mirror-east",
                                                 "sasl.password.file": self.secret_file("me.pw", "me-pw")})
        west_client = dict(self.tls_props(), **{"sasl.username": "mirror-west",
                                                 "sasl.password.file": self.secret_file("mw.pw", "mw-pw")})
        admin_props = dict(self.tls_props(), **{"sasl.username": "admin", "sasl.password": ADMIN_PASSWORD})
        self.assertEqual(kcat(east.bootstrap, admin_props, "-P", "-t", "orders", stdin="a\nb\nc\n").returncode, 0)
        m = self.start_mirror({"east": {"bootstrap.servers": east.bootstrap, "client": east_client},
                               "west": {"bootstrap.servers": west.bootstrap, "client": west_client}},
                              [{"source": "east", "target": "west", "topics": ["orders"],
                                "replication.policy": "identity", "refresh.topics.interval.seconds": 1}])
        deadline = time.monotonic() + 45
        got = []
        while time.monotonic() < deadline:
            out = kcat(west.bootstrap, admin_props, "-C", "-t", "orders", "-e", "-q", "-o", "beginning")
            got = sorted(out.stdout.split())
            if got == ["a", "b", "c"]:
                break
            time.sleep(0.5)
        self.assertEqual(got, ["a", "b", "c"], m.log_tail())
        status = json.dumps(m.status())
        self.assertNotIn("me-pw", status + m.log_text())
        self.assertNotIn("mw-pw", status + m.log_text())


if __name__ == "__main__":
    unittest.main()
