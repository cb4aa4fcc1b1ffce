"""C++ plugins end to end: --plugin, AM2Z_PLUGIN_PATH, a flow's plugins: list, `am2z processors`,
refusals with clear messages, and the order example built out of tree against the installed SDK."""

import json
import os
import shutil
import subprocess
import unittest

from harness import E2ETestCase, REPO, fixture, run

PLUGIN_DIR = os.environ.get("AM2Z_TEST_PLUGIN_DIR", "")
BUILD_DIR = os.environ.get("AM2Z_BUILD_DIR", "")


def plugin(name):
    return os.path.join(PLUGIN_DIR, name + ".so")


@unittest.skipUnless(PLUGIN_DIR, "AM2Z_TEST_PLUGIN_DIR not set (run through ctest)")
class PluginLoadingTest(E2ETestCase):
    def test_plugin_flag_runs_plugin_processors(self):
        r = run("run", fixture("plugins", "greet.yaml"), "--plugin", plugin("good_plugin"),
                "--set", "name=Ada", "--set", "count=1", "-q")
        state = self.assertSucceeded(r)
        self.assertEqual(state["message"], "hello Ada")
        self.assertEqual(state["count"], 3)
        self.assertEqual(state["seen"]["attempt"], 1)
        self.assertEqual(state["seen"]["session"], state["metadata"]["sessionId"])

    def test_plugin_path_loads_every_so_of_its_directories(self):
        d = os.path.join(self.tmp, "plugins")
        os.mkdir(d)
        shutil.copy(plugin("good_plugin"), os.path.join(d, "good.so"))
        self.write_tmp("plugins/readme.txt", "not a plugin, ignored")
        r = run("run", fixture("plugins", "greet.yaml"), "--set", "name=Bo", "-q",
                env={"AM2Z_PLUGIN_PATH": f":{d}::"})  # empty entries are skipped
        self.assertEqual(self.assertSucceeded(r)["message"], "hello Bo")

    def test_plugin_path_entry_that_is_not_a_directory(self):
        r = run("run", fixture("plugins", "greet.yaml"), env={"AM2Z_PLUGIN_PATH": "/nonexistent/am2z"})
        self.assertExit(r, 3)
        self.assertIn("AM2Z_PLUGIN_PATH entry '/nonexistent/am2z' is not a directory", r.stderr)

    def test_flow_plugins_list_is_relative_to_the_flow_file(self):
        os.mkdir(os.path.join(self.tmp, "lib"))
        shutil.copy(plugin("good_plugin"), os.path.join(self.tmp, "lib", "good.so"))
        flow = self.write_tmp("flow.yaml", "version: 1\nname: f\nplugins: [lib/good.so]\nflow: {use: greet}\n")
        r = run("run", flow, "--set", "name=Cy", "-q", cwd="/")
        self.assertEqual(self.assertSucceeded(r)["message"], "hello Cy")
        self.assertEqual(run("validate", flow).code, 0)

    def test_flow_plugins_list_errors_point_at_the_entry(self):
        shutil.copy(plugin("wrong_abi_plugin"), os.path.join(self.tmp, "old.so"))
        flow = self.write_tmp("flow.yaml", "version: 1\nname: f\nplugins:\n  - missing.so\n  - old.so\n"
                                           "flow: {use: greet}\n")
        r = run("validate", flow)
        self.assertExit(r, 3)
        lines = r.stderr_lines()
        self.assertEqual(lines[0], f"{flow}:4:5: plugins[0]: plugin '{self.tmp}/missing.so': No such file or directory")
        self.assertTrue(lines[1].startswith(f"{flow}:5:5: plugins[1]: plugin '{self.tmp}/old.so': built for plugin "
                                            "ABI version 99, but this am2z loads ABI version 1"), lines[1])
        self.assertIn("unknown processor type 'greet'", lines[2])

    def test_refusals_name_the_file_and_exit_3(self):
        not_lib = self.write_tmp("text.so", "hello\n")
        truncated = self.tmp_path("truncated.so")  # a plugin cut short, e.g. while being copied
        with open(plugin("good_plugin"), "rb") as src, open(truncated, "wb") as dst:
            dst.write(src.read(3000))
        cases = [
            (plugin("wrong_abi_plugin"), "built for plugin ABI version 99, but this am2z loads ABI version 1 "
                                         "(SDK 0.1.0): rebuild it against this am2z's SDK"),
            (plugin("no_entry_plugin"), "not an am2z plugin: it exports no am2z_plugin_entry function"),
            (not_lib, "not a loadable shared library: "),
            (truncated, "not a loadable shared library: "),
            (plugin("twice_plugin"), "declares processor type 'same' twice"),
            (plugin("builtin_plugin"), "processor type 'set' is already defined (builtin)"),
        ]
        for path, message in cases:
            with self.subTest(path=path):
                r = run("run", fixture("plugins", "greet.yaml"), "--plugin", path)
                self.assertExit(r, 3)
                self.assertEqual(r.stdout, "")
                self.assertIn(f"am2z: plugin '{path}': {message}", r.stderr)

    def test_duplicate_type_across_plugins(self):
        r = run("processors", "--plugin", plugin("good_plugin"), "--plugin", plugin("duplicate_plugin"))
        self.assertExit(r, 3)
        self.assertIn(f"plugin '{plugin('duplicate_plugin')}': processor type 'greet' is already defined by "
                      f"plugin:{plugin('good_plugin')}", r.stderr)

    def test_processors_lists_origin_and_schema(self):
        r = run("processors", "--json", "--plugin", plugin("good_plugin"))
        self.assertExit(r, 0)
        types = {t["name"]: t for t in r.json()["processors"]}
        for name in ("exec", "set", "merge", "pick", "delete", "validate", "http", "sleep", "fail", "log"):
            self.assertEqual(types[name]["origin"], "builtin")
            self.assertEqual(types[name]["params_schema"]["type"], "object")
        self.assertEqual(types["greet"]["origin"], "plugin:" + plugin("good_plugin"))
        self.assertEqual(types["greet"]["description"], "Greets .name")
        self.assertEqual(types["count"]["params_schema"]["properties"]["step"]["minimum"], 0)

        text = run("processors", "--plugin", plugin("good_plugin"))
        self.assertExit(text, 0)
        self.assertIn(f"greet  [plugin:{plugin('good_plugin')}]\n  Greets .name\n  parameters: greeting (string)\n",
                      text.stdout)
        self.assertIn("exec  [builtin]", text.stdout)

    def test_plugin_typed_error_fails_the_run(self):
        flow = self.write_tmp("f.yaml", "version: 1\nname: f\nflow: {use: declined}\n")
        r = run("run", flow, "--plugin", plugin("good_plugin"))
        err = self.assertFailedWith(r, 1)
        self.assertEqual((err["name"], err["code"], err["message"]), ("BusinessError", "PAYMENT_DECLINED",
                                                                       "card declined"))
        self.assertEqual(err["context"]["details"], {"amount": 42})

    def test_bad_plugin_parameter_is_a_flow_diagnostic(self):
        flow = self.write_tmp("f.yaml", "version: 1\nname: f\nflow:\n  use: count\n  with: {step: -1}\n")
        r = run("validate", flow, "--plugin", plugin("good_plugin"))
        self.assertExit(r, 3)
        self.assertIn("with.step", r.stderr)
        self.assertIn("must be at least 0, got -1", r.stderr)  # the plugin's params_schema says so


@unittest.skipUnless(BUILD_DIR, "AM2Z_BUILD_DIR not set (run through ctest)")
class OutOfTreePluginTest(E2ETestCase):
    def test_order_plugin_builds_against_the_installed_sdk_and_runs(self):
        prefix = os.path.join(self.tmp, "prefix")
        subprocess.run(["cmake", "--install", BUILD_DIR, "--prefix", prefix], check=True, capture_output=True)
        self.assertTrue(os.path.isfile(os.path.join(prefix, "include", "am2z", "sdk.hpp")))
        self.assertTrue(os.path.isfile(os.path.join(prefix, "include", "am2z", "plugin_abi.h")))
        self.assertTrue(os.path.isfile(os.path.join(prefix, "lib", "cmake", "am2z", "am2zConfig.cmake")))

        example = os.path.join(REPO, "examples", "plugins", "order")
        work = os.path.join(self.tmp, "order")
        os.mkdir(work)
        shutil.copy(os.path.join(example, "order.yaml"), work)
        # Only the installed prefix: the SDK must not need anything from the am2z source tree.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CXXFLAGS", "LDFLAGS"))}
        # Ninja: setup.sh installs it, while make is not among its packages.
        for cmd in (["cmake", "-S", example, "-B", os.path.join(work, "build"), "-G", "Ninja",
                     f"-DCMAKE_PREFIX_PATH={prefix}", "-DCMAKE_BUILD_TYPE=Release"],
                    ["cmake", "--build", os.path.join(work, "build")]):
            p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
            self.assertEqual(p.returncode, 0, f"{' '.join(cmd)}\n{p.stdout}\n{p.stderr}")

        inputs = os.path.join(REPO, "examples", "flows", "order")
        r = run("run", os.path.join(work, "order.yaml"), "-i", os.path.join(inputs, "order-input.json"),
                "--events", "-", "-q", timeout=60)
        state = self.assertSucceeded(r)
        self.assertEqual(state["status"], "completed")
        self.assertEqual(state["total"], 34.0)
        self.assertEqual(state["payment"], {"status": "approved", "amount": 34.0, "transactionId": "txn-ORD-001"})
        self.assertEqual(state["inventory"]["reserved"], [{"sku": "BOOK-1", "quantity": 2},
                                                          {"sku": "PEN-7", "quantity": 1}])
        charged = [e for e in (json.loads(line) for line in r.stderr_lines() if line.startswith("{"))
                   if e.get("event") == "payment:charged"]
        self.assertEqual(charged[0]["data"], {"orderId": "ORD-001", "approved": True})

        declined = run("run", os.path.join(work, "order.yaml"), "-i", os.path.join(inputs, "declined-input.json"), "-q")
        self.assertEqual(self.assertSucceeded(declined)["status"], "payment_failed")

        empty = run("run", os.path.join(work, "order.yaml"), "--set", "lines=[]", "-q")
        err = self.assertFailedWith(empty, 1)
        self.assertEqual((err["name"], err["code"], err["message"]), ("ValidationError", "INVALID_ORDER",
                                                                       "order has no lines"))


if __name__ == "__main__":
    unittest.main()
