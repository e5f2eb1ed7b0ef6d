"""ferry-dr's command line as a user types it: what is refused (exit 2, the option named on stderr,
nothing on stdout) and what --help lists. Every case fails before a configuration is read, so no
region is needed; $FERRY_DR is the binary under test (CTest sets it)."""

import os
import subprocess
import unittest

MISSING = "/nonexistent/ferry-dr-usage-test.toml"


def run(*args):
    path = os.environ.get("FERRY_DR", "")
    if not path or not os.access(path, os.X_OK):
        raise unittest.SkipTest(f"FERRY_DR not set to an executable ferry-dr (got {path!r})")
    return subprocess.run([path, *args], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


class UsageTest(unittest.TestCase):
    def refused(self, args, message):
        p = run(*args)
        self.assertEqual(p.returncode, 2, f"{args}: stdout {p.stdout!r} stderr {p.stderr!r}")
        self.assertEqual(p.stdout, "")
        self.assertIn(message, p.stderr, args)

    def test_bad_value_names_option_value_and_expectation(self):
        for value in ("-3", "abc", "12x", ""):
            self.refused(["failover", "--to", "west", f"--max-data-loss={value}"],
                         f"--max-data-loss needs a record count >= 0, got '{value}'")
        self.refused(["failover", "--to", "west", "--max-data-loss", "-3"],
                     "--max-data-loss needs a record count >= 0, got '-3'")

    def test_missing_value_names_the_option(self):
        self.refused(["failover", "--to"], "--to needs a region name")
        self.refused(["failover", "--to=", "--config", MISSING], "--to needs a region name")
        self.refused(["failover", "--to", "--json"], "--to needs a region name")
        self.refused(["drill", "--report="], "--report needs a file")
        self.refused(["audit", "verify", "--file"], "--file needs a path")
        self.refused(["status", "--config"], "--config needs a file")

    def test_unknown_option_or_command_rejected(self):
        self.refused(["status", "--bogus=1"], "unknown option '--bogus=1'; see ferry-dr --help")
        self.refused(["status", "-x"], "unknown option '-x'")
        self.refused(["stats", "--config", MISSING], "unknown command 'stats --config")
        self.refused(["status", "--config-reference"], "unknown command")
        self.refused([], "no command")

    def test_last_of_a_repeated_option_wins(self):
        # The configuration that fails to load is the second one named.
        self.refused(["status", "--config", MISSING + ".a", f"--config={MISSING}.b"],
                     f"cannot read config file '{MISSING}.b'")

    def test_help_lists_every_command_and_option(self):
        for args in (["--help"], ["-h"], ["failover", "--help"]):
            p = run(*args)
            self.assertEqual(p.returncode, 0, p.stderr)
            for word in ("status", "watch", "audit verify", "role REGION", "failover", "failback",
                         "resume", "drill", "--config FILE", "--json", "--file AUDIT.jsonl",
                         "--to REGION", "--planned", "--force", "--max-data-loss RECORDS",
                         "--report FILE", "--config-reference", "Exit codes:"):
                self.assertIn(word, p.stdout, f"{args}: {word}")

    def test_config_reference(self):
        p = run("--config-reference")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("state.dir", p.stdout)


if __name__ == "__main__":
    unittest.main()
