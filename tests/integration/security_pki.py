"""Certificates for security tests, made at test time with the openssl CLI.

A `Pki` is one certificate authority in a directory; `server()` and `client()` issue leaf
certificates signed by it, each written as Kafka's PEM keystore form (one file: the certificate
chain, then the private key) and as separate cert/key files for librdkafka and kafka-python.
`expired=True` issues a certificate whose validity ended in the past (through `openssl ca`, which
takes explicit dates). Keys are EC P-256: fast to make, so a test can make many.
"""

import os
import subprocess
import tempfile

from ferry_harness import BrokerTestCase


def read_text(path):
    with open(path) as f:
        return f.read()


def _run(*args, cwd=None, stdin=None):
    p = subprocess.run(["openssl", *args], cwd=cwd, input=stdin, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {p.stderr.strip()}")
    return p.stdout


class Leaf:
    """One issued certificate: `cert` (PEM certificate), `key` (PEM key), `keystore` (chain + key)."""

    def __init__(self, directory, name):
        self.cert = os.path.join(directory, f"{name}.crt")
        self.key = os.path.join(directory, f"{name}.key")
        self.keystore = os.path.join(directory, f"{name}.keystore.pem")

    def serial(self):
        return _run("x509", "-in", self.cert, "-noout", "-serial").strip().split("=", 1)[1]


class Pki:
    def __init__(self, directory, name="Ferry Test CA"):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.ca_key = os.path.join(directory, "ca.key")
        self.ca_cert = os.path.join(directory, "ca.crt")
        _run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", self.ca_key, "-out", self.ca_cert, "-days", "2", "-subj", f"/O=Ferry Tests/CN={name}")
        self._serial = 1

    def _issue(self, name, subject, ext, expired, key_password):
        leaf = Leaf(self.dir, name)
        csr = os.path.join(self.dir, f"{name}.csr")
        _run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", leaf.key,
             "-out", csr, "-subj", subject)
        extfile = os.path.join(self.dir, f"{name}.ext")
        with open(extfile, "w") as f:
            f.write(ext)
        if expired:
            self._issue_expired(csr, leaf.cert, extfile)
        else:
            self._serial += 1
            _run("x509", "-req", "-in", csr, "-CA", self.ca_cert, "-CAkey", self.ca_key, "-set_serial",
                 str(self._serial), "-days", "2", "-out", leaf.cert, "-extfile", extfile)
        key_text = read_text(leaf.key)
        if key_password is not None:
            key_text = _run("pkey", "-in", leaf.key, "-aes256", "-passout", f"pass:{key_password}")
        with open(leaf.keystore, "w") as f:
            f.write(read_text(leaf.cert))
            f.write(key_text)
        return leaf

    def _issue_expired(self, csr, out, extfile):
        # `openssl x509 -req` cannot date a certificate in the past; `openssl ca` can.
        db = os.path.join(self.dir, "ca-db")
        os.makedirs(db, exist_ok=True)
        open(os.path.join(db, "index.txt"), "a").close()
        self._serial += 1
        with open(os.path.join(db, "serial"), "w") as f:
            f.write(f"{self._serial:04X}\n")
        conf = os.path.join(db, "ca.cnf")
        with open(conf, "w") as f:
            f.write(f"[ca]\ndefault_ca = test\n[test]\ndir = {db}\ndatabase = {db}/index.txt\n"
                    f"new_certs_dir = {db}\nserial = {db}/serial\ndefault_md = sha256\npolicy = any\n"
                    "unique_subject = no\n[any]\ncommonName = supplied\norganizationName = optional\n"
                    "organizationalUnitName = optional\n")
        _run("ca", "-batch", "-config", conf, "-cert", self.ca_cert, "-keyfile", self.ca_key, "-in", csr,
             "-out", out, "-startdate", "20200101000000Z", "-enddate", "20200201000000Z", "-extfile", extfile,
             "-notext")

    def server(self, name="broker", cn="localhost", expired=False, key_password=None):
        """A server certificate for 127.0.0.1 and localhost."""
        ext = ("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
               "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n")
        return self._issue(name, f"/O=Ferry Tests/CN={cn}", ext, expired, key_password)

    def client(self, name, cn, ou=None, expired=False):
        """A client certificate with subject CN=<cn>[,OU=<ou>],O=Ferry Tests."""
        ext = "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n"
        subject = "/O=Ferry Tests" + (f"/OU={ou}" if ou else "") + f"/CN={cn}"
        return self._issue(name, subject, ext, expired, None)


class PkiTestCase(BrokerTestCase):
    """A BrokerTestCase with a class-wide temp dir (`cls.dir`), a CA (`cls.pki`) and a server
    certificate for 127.0.0.1/localhost (`cls.server`); subclasses set PKI_PREFIX (the temp dir's
    prefix) and extend setUpClass with super().setUpClass() for more certificates."""

    PKI_PREFIX = "ferry-pki-"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dir = tempfile.TemporaryDirectory(prefix=cls.PKI_PREFIX)
        cls.pki = Pki(os.path.join(cls.dir.name, "ca"))
        cls.server = cls.pki.server()

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()
        super().tearDownClass()
