"""`cpack -G DEB` in the build directory makes a .deb with the binary, the plugin SDK, the man page,
the shell completions and a systemd unit for workers; installed into a scratch root (dpkg-deb -x),
each piece is where Debian looks for it and works."""
import configparser
import glob
import os
import shutil
import subprocess
import unittest

from harness import E2ETestCase

BUILD_DIR = os.environ.get("AM2Z_BUILD_DIR", "")


@unittest.skipUnless(BUILD_DIR, "AM2Z_BUILD_DIR not set (run through ctest)")
class DebianPackage(E2ETestCase):
    def setUp(self):
        super().setUp()
        for tool in ("cpack", "dpkg-deb"):
            if not shutil.which(tool):
                self.fail(f"{tool} is missing (Debian's cmake and dpkg provide it)")
        out = os.path.join(self.tmp, "out")
        made = subprocess.run(["cpack", "-G", "DEB", "-B", out], cwd=BUILD_DIR, capture_output=True, text=True,
                              timeout=300)
        self.assertEqual(made.returncode, 0, made.stdout + made.stderr)
        [self.deb] = glob.glob(os.path.join(out, "am2z_*.deb"))
        self.root = os.path.join(self.tmp, "root")
        subprocess.run(["dpkg-deb", "-x", self.deb, self.root], check=True)

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def field(self, name):
        return subprocess.run(["dpkg-deb", "-f", self.deb, name], capture_output=True, text=True,
                              check=True).stdout.strip()

    def test_the_package_installs_everything_where_debian_looks(self):
        am2z = self.path("usr", "bin", "am2z")
        version = subprocess.run([am2z, "--version"], capture_output=True, text=True)
        self.assertEqual(version.returncode, 0, version.stderr)
        self.assertTrue(version.stdout.startswith("am2z "))
        self.assertTrue(os.path.isfile(self.path("usr", "include", "am2z", "sdk.hpp")))
        self.assertTrue(os.path.isfile(self.path("usr", "lib", "cmake", "am2z", "am2zConfig.cmake")))
        # worker --metrics loads its HTTP server from ../lib/am2z beside the binary
        module = self.path("usr", "lib", "am2z", "am2z_http.so")
        self.assertTrue(os.path.isfile(module))
        self.assertNotIn("not found", subprocess.run(["ldd", module], capture_output=True, text=True).stdout)
        page = self.path("usr", "share", "man", "man1", "am2z.1")
        with open(page, encoding="utf-8") as f:
            self.assertTrue(f.read().startswith(".TH AM2Z 1"))
        bash = self.path("usr", "share", "bash-completion", "completions", "am2z")
        self.assertEqual(subprocess.run(["bash", "-n", bash]).returncode, 0)
        self.assertTrue(os.path.isfile(self.path("usr", "share", "zsh", "vendor-completions", "_am2z")))
        self.assertTrue(os.path.isfile(self.path("usr", "share", "fish", "vendor_completions.d", "am2z.fish")))
        self.assertTrue(os.path.isfile(self.path("usr", "share", "doc", "am2z", "examples", "worker.env")))
        # what the package depends on exists under these names here (Debian 12)
        for dep in self.field("Depends").split(", "):
            status = subprocess.run(["dpkg-query", "-W", "-f", "${Status}", dep], capture_output=True, text=True)
            self.assertEqual(status.stdout, "install ok installed", f"{dep}: {status.stderr}")

    def test_the_binary_allocates_with_mimalloc(self):
        # Linked ahead of libc (CMakeLists.txt, AM2Z_MIMALLOC), mimalloc's malloc and free are the
        # process's: libc's own calls and the libraries' (hiredis) bind to it, as ld.so reports.
        am2z = self.path("usr", "bin", "am2z")
        env = dict(os.environ, LD_DEBUG="bindings")
        run = subprocess.run([am2z, "--version"], capture_output=True, text=True, env=env, timeout=30)
        self.assertEqual(run.returncode, 0, run.stderr[-2000:])
        bound = {}
        for line in run.stderr.splitlines():
            for symbol in ("malloc", "free"):
                if f"normal symbol `{symbol}'" in line:
                    bound.setdefault(symbol, set()).add(line.split(" to ")[1].split(" [")[0].rsplit("/", 1)[-1])
        self.assertEqual(bound.get("malloc"), {"libmimalloc.so.2"}, bound)
        self.assertEqual(bound.get("free"), {"libmimalloc.so.2"}, bound)

    def test_the_worker_unit(self):
        unit = configparser.ConfigParser(interpolation=None, strict=False)
        unit.optionxform = str
        unit.read(self.path("usr", "lib", "systemd", "system", "am2z-worker@.service"))
        service = unit["Service"]
        self.assertEqual(service["EnvironmentFile"], "/etc/am2z/%i.env")
        self.assertTrue(service["ExecStart"].startswith("/usr/bin/am2z worker --flows ${AM2Z_FLOWS}"))
        self.assertEqual(service["ExecReload"], "/bin/kill -HUP $MAINPID")  # worker reload (SIGHUP)
        self.assertEqual(service["KillSignal"], "SIGTERM")  # running steps finish within --grace
        self.assertEqual(unit["Install"]["WantedBy"], "multi-user.target")
        # the example environment file names what ExecStart uses
        env = configparser.ConfigParser(interpolation=None)
        with open(self.path("usr", "share", "doc", "am2z", "examples", "worker.env"), encoding="utf-8") as f:
            env.read_string("[env]\n" + f.read())
        for key in ("AM2Z_FLOWS", "REDIS_URL", "AM2Z_WORKER_ARGS"):
            self.assertIn(key, env["env"])
        if shutil.which("systemd-analyze"):
            check = subprocess.run(["systemd-analyze", "verify", "--man=no",
                                    self.path("usr", "lib", "systemd", "system", "am2z-worker@.service")],
                                   capture_output=True, text=True)
            self.assertNotIn("Unknown key", check.stderr)


if __name__ == "__main__":
    unittest.main()
