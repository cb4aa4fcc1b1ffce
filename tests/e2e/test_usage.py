"""Command-line usage: exit 2 with a message on stderr for mistakes; --version and --help."""

import json
import os
import pty
import re
import shlex
import shutil
import subprocess
import unittest

from harness import E2ETestCase, REPO, binary, fixture, run

FLOW = fixture("chain.yaml")
HINT = "Run with --help for more information."


def project_version():
    with open(f"{REPO}/CMakeLists.txt", encoding="utf-8") as f:
        return re.search(r"project\(am2z VERSION (\S+)", f.read()).group(1)


class UsageErrorTest(E2ETestCase):
    def usage_error(self, *args):
        r = run(*args)
        self.assertExit(r, 2)
        self.assertEqual(r.stdout, "", r.describe())
        self.assertTrue(r.stderr.strip(), "a usage error explains itself on stderr")
        self.assertNotIn('"error"', r.stderr, "usage errors are plain text")
        return r.stderr

    def test_no_subcommand(self):
        self.assertEqual(self.usage_error(), f"A subcommand is required\n{HINT}\n")
        self.assertEqual(self.usage_error("-q"), f"A subcommand is required\n{HINT}\n")

    def test_unknown_option(self):
        self.assertEqual(self.usage_error("--bogus"), f"The following argument was not expected: --bogus\n{HINT}\n")
        self.assertEqual(self.usage_error("run", FLOW, "--bogus"),
                         f"The following argument was not expected: --bogus\n{HINT}\n")
        self.assertEqual(self.usage_error("validate", "--bogus", FLOW),
                         f"The following argument was not expected: --bogus\n{HINT}\n")

    def test_unknown_subcommand(self):
        self.assertEqual(self.usage_error("frobnicate"),
                         f"The following argument was not expected: frobnicate\n{HINT}\n")

    def test_missing_arguments(self):
        self.assertEqual(self.usage_error("run"), f"flow is required\n{HINT}\n")
        self.assertEqual(self.usage_error("validate"), f"files is required\n{HINT}\n")
        self.assertIn("-i", self.usage_error("run", FLOW, "-i"))

    def test_extra_argument(self):
        self.assertEqual(self.usage_error("run", FLOW, "extra"),
                         f"The following argument was not expected: extra\n{HINT}\n")

    def test_bad_timeout(self):
        cases = {
            "abc": "invalid duration 'abc': expected a number and a unit, e.g. 500ms, 30s, 5m, 1h",
            "-5s": "invalid duration '-5s': expected a number and a unit, e.g. 500ms, 30s, 5m, 1h",
            "5x": "invalid duration '5x': unknown unit 'x' (use ms, s, m, h or d)",
            "1e13s": "invalid duration '1e13s': too large",
            "0": "must be greater than 0",
            "0ms": "must be greater than 0",
        }
        for value, message in cases.items():
            with self.subTest(timeout=value):
                err = self.usage_error("run", FLOW, "--timeout", value)
                self.assertTrue(err.startswith(f"am2z run: --timeout: {message}"), err)

    def test_bad_max_call_depth(self):
        err = self.usage_error("run", FLOW, "--max-call-depth", "0")
        self.assertEqual(err, f"--max-call-depth: Value 0 not in range 1 to 2147483647\n{HINT}\n")
        self.assertIn("--max-call-depth", self.usage_error("run", FLOW, "--max-call-depth", "many"))

    def test_bad_log_level(self):
        err = self.usage_error("--log-level", "loud", "run", FLOW)
        self.assertEqual(err, f"--log-level: loud not in {{trace,debug,info,warn,error,off}}\n{HINT}\n")

    def test_events_file_cannot_be_opened(self):
        path = self.tmp_path("no-such-dir/events.jsonl")
        err = self.usage_error("run", FLOW, "--events", path)
        self.assertEqual(err, f"am2z run: --events: cannot open '{path}': No such file or directory\n")


class InfoTest(E2ETestCase):
    def test_version(self):
        for flag in ("--version", "-V"):
            with self.subTest(flag=flag):
                r = run(flag)
                self.assertExit(r, 0)
                # the commit and build type it was built from (the commit is read when CMake configures)
                m = re.fullmatch(rf"am2z {re.escape(project_version())} \(commit ([0-9a-f]{{12}}|unknown), "
                                 r"(Release|Debug|RelWithDebInfo|MinSizeRel|unspecified)(, \w+ sanitizer)?\)\n",
                                 r.stdout)
                self.assertIsNotNone(m, r.stdout)
                if m.group(1) != "unknown" and os.path.isdir(os.path.join(REPO, ".git")):
                    head = subprocess.run(["git", "-C", REPO, "cat-file", "-t", m.group(1)], capture_output=True,
                                          text=True)
                    self.assertEqual(head.stdout.strip(), "commit", f"{m.group(1)} is not a commit of this repo")
                self.assertEqual(r.stderr, "")

    def test_help(self):
        r = run("--help")
        self.assertExit(r, 0)
        self.assertIn("Usage: am2z [OPTIONS] SUBCOMMAND", r.stdout)
        for word in ("run", "validate", "--log-level", "-q,--quiet", "-v,--verbose", "-V,--version"):
            self.assertIn(word, r.stdout)
        self.assertEqual(r.stderr, "")

    def test_run_help(self):
        r = run("run", "--help")
        self.assertExit(r, 0)
        for option in ("-i,--input", "--set", "--session", "--events", "--timeout", "--max-call-depth",
                       "-c,--compact", "flow"):
            self.assertIn(option, r.stdout)

    def test_validate_help(self):
        r = run("validate", "--help")
        self.assertExit(r, 0)
        self.assertIn("--json", r.stdout)
        self.assertIn("files", r.stdout)


LOG_FLOW = 'version: 1\nname: q\nflow: {use: log, with: {message: "say \\"hi\\" \\\\ there"}}\n'
ANSI = "\x1b["


class LogOutputTest(E2ETestCase):
    """--log-format json for log shippers; --color and NO_COLOR, on a pipe and on a terminal."""

    def flow(self):
        return self.write_tmp("q.yaml", LOG_FLOW)

    def on_a_terminal(self, *args, env=None):
        """stderr of am2z run on a pseudo-terminal (stdout stays a pipe)."""
        main, sub = pty.openpty()
        full_env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "AM2Z_COLOR")}
        full_env.update({"TERM": "xterm", **(env or {})})
        proc = subprocess.Popen([binary(), "run", self.flow(), "-c", *args], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=sub, env=full_env)
        os.close(sub)
        chunks = []
        while True:
            try:
                data = os.read(main, 4096)
            except OSError:  # EIO once the other side is closed
                break
            if not data:
                break
            chunks.append(data)
        proc.wait(timeout=10)
        os.close(main)
        self.assertEqual(proc.returncode, 0)
        return b"".join(chunks).decode()

    def test_log_format_json_writes_one_object_per_line(self):
        r = run("run", self.flow(), "-c", "--log-format", "json")
        self.assertExit(r, 0)
        [line] = r.stderr_lines()
        doc = json.loads(line)
        self.assertEqual(set(doc), {"ts", "level", "msg"})
        self.assertEqual(doc["level"], "info")
        self.assertEqual(doc["msg"], 'say "hi" \\ there')
        self.assertRegex(doc["ts"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        r = run("run", self.flow(), "-c", env={"AM2Z_LOG_FORMAT": "json"})
        self.assertEqual(json.loads(r.stderr_lines()[0])["msg"], 'say "hi" \\ there')
        r = run("run", self.flow(), "--log-format", "xml")
        self.assertExit(r, 2)
        self.assertIn("--log-format", r.stderr)

    def test_colour_follows_the_terminal_no_color_and_the_flag(self):
        self.assertIn(ANSI, self.on_a_terminal())
        self.assertNotIn(ANSI, self.on_a_terminal(env={"NO_COLOR": "1"}))
        self.assertIn(ANSI, self.on_a_terminal(env={"NO_COLOR": ""}))  # empty: not set, says no-color.org
        self.assertNotIn(ANSI, self.on_a_terminal("--color", "never"))
        self.assertIn(ANSI, self.on_a_terminal("--color", "always", env={"NO_COLOR": "1"}))
        self.assertNotIn(ANSI, self.on_a_terminal("--log-format", "json"))
        # on a pipe: none unless asked for
        self.assertNotIn(ANSI, run("run", self.flow(), "-c").stderr)
        self.assertIn(ANSI, run("run", self.flow(), "-c", "--color", "always").stderr)
        r = run("run", self.flow(), "--color", "sometimes")
        self.assertExit(r, 2)
        self.assertIn("--color", r.stderr)


class CompletionTest(E2ETestCase):
    """am2z completion bash|zsh|fish, generated from the command table itself."""

    def complete(self, script, *words):
        """COMPREPLY of bash for the words typed so far (the last one being completed)."""
        path = self.write_tmp("am2z.bash", script)
        line = " ".join(shlex.quote(w) for w in ("am2z", *words))
        probe = (f"source {shlex.quote(path)}; COMP_WORDS=({line}); COMP_CWORD={len(words)}; _am2z; "
                 'printf "%s\\n" "${COMPREPLY[@]}"')
        r = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, cwd=self.tmp, timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        return sorted(filter(None, r.stdout.split("\n")))

    def test_bash_completes_commands_subcommands_options_and_files(self):
        r = run("completion", "bash")
        self.assertExit(r, 0)
        check = subprocess.run(["bash", "-n"], input=r.stdout, capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stderr)
        self.assertEqual(self.complete(r.stdout, "dl"), ["dlq"])
        self.assertEqual(self.complete(r.stdout, "dlq", "re"), ["retry"])
        self.assertEqual(self.complete(r.stdout, "dlq", "retry", "--fl"), ["--flow", "--flows"])
        self.assertEqual(self.complete(r.stdout, "run", "--resum"), ["--resume"])
        self.assertIn("--log-format", self.complete(r.stdout, "--log"))
        os.makedirs(os.path.join(self.tmp, "runs"))
        self.assertEqual(self.complete(r.stdout, "run", "f.yaml", "--run-dir", "ru"), ["runs"])
        # every subcommand --help lists is offered
        listed = re.findall(r"^  (\w+)\s", run("--help").stdout, re.M)
        self.assertTrue(listed)
        self.assertTrue(set(listed) <= set(self.complete(r.stdout, "")), listed)

    def test_zsh_and_fish(self):
        zsh = run("completion", "zsh")
        self.assertExit(zsh, 0)
        self.assertTrue(zsh.stdout.startswith("autoload -U +X bashcompinit && bashcompinit\n"))
        fish = run("completion", "fish")
        self.assertExit(fish, 0)
        self.assertIn("complete -c am2z -n '__fish_use_subcommand' -a 'dlq'", fish.stdout)
        self.assertIn("complete -c am2z -n '__fish_seen_subcommand_from dlq; and __fish_seen_subcommand_from retry' "
                      "-l 'flows' -r -F", fish.stdout)
        r = run("completion", "tcsh")
        self.assertExit(r, 2)
        self.assertIn("tcsh", r.stderr)

    def test_the_man_page_covers_every_command_and_renders(self):
        r = run("manpage")
        self.assertExit(r, 0)
        page = r.stdout
        self.assertTrue(page.startswith(f'.TH AM2Z 1 "" "am2z {project_version()}" "User Commands"\n'))
        self.assertIn(".SH NAME\nam2z \\- run workflows of processors written in YAML\n", page)
        for command in ("run", "worker", "dlq retry", "session stop", "schedule add", "completion"):
            self.assertIn(f".SH am2z {command}\n", page)
        self.assertIn(".B \\-\\-resume \\fIVALUE\\fR\n", page)
        self.assertIn(".B \\-\\-quiet, \\-q\n", page)  # a flag takes no value
        self.assertIn(".SH EXIT STATUS\n", page)
        self.assertNotIn("manpage", run("--help").stdout)  # the build runs it; users read man am2z
        if shutil.which("man"):
            path = self.write_tmp("am2z.1", page)
            shown = subprocess.run(["man", "-l", path], capture_output=True, text=True,
                                   env={**os.environ, "MANWIDTH": "100", "MANPAGER": "cat", "PAGER": "cat"})
            self.assertEqual(shown.returncode, 0, shown.stderr)
            self.assertIn("am2z dlq retry", shown.stdout)
            self.assertNotIn("warning", shown.stderr)


if __name__ == "__main__":
    unittest.main()
