// am2z completion bash|zsh|fish: a shell completion script, and am2z manpage (hidden; the build
// runs it): the man page, both generated from the command table itself (subcommands, their
// subcommands and options), so they cannot fall behind the CLI.
#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"

namespace am2z::cli {

namespace {

/// One command of the tree: its path under am2z ("dlq retry"), its subcommands and its options.
struct CommandInfo {
  std::string path;
  std::string description;
  std::vector<std::string> subcommands;
  std::vector<std::string> options;       ///< "--flag" and "-f", every name
  std::vector<std::string> descriptions;  ///< per option, for fish
  std::vector<bool> takes_value;          ///< per option
};

void collect(const CLI::App& app, const std::string& path, std::vector<CommandInfo>& out) {
  CommandInfo info;
  info.path = path;
  info.description = app.get_description();
  for (const CLI::App* sub : app.get_subcommands({})) info.subcommands.push_back(sub->get_name());
  for (const CLI::Option* opt : app.get_options()) {
    if (opt->get_positional()) continue;
    for (const auto& l : opt->get_lnames()) {
      info.options.push_back("--" + l);
      info.descriptions.push_back(opt->get_description());
      info.takes_value.push_back(opt->get_expected_min() > 0);
    }
    for (const auto& s : opt->get_snames()) {
      info.options.push_back("-" + s);
      info.descriptions.push_back(opt->get_description());
      info.takes_value.push_back(opt->get_expected_min() > 0);
    }
  }
  out.push_back(info);
  for (const CLI::App* sub : app.get_subcommands({})) {
    collect(*sub, path.empty() ? sub->get_name() : path + " " + sub->get_name(), out);
  }
}

std::string space_joined(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

/// Single-quoted for a shell.
std::string shell_quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

/// bash (and zsh through bashcompinit): the longest known command path among the words typed
/// so far picks the candidates; after an option that takes a value, files.
std::string bash_script(const std::vector<CommandInfo>& tree) {
  std::string s =
      "# am2z completion for bash; in zsh: autoload -U +X bashcompinit && bashcompinit first\n"
      "_am2z() {\n"
      "  local cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"${COMP_WORDS[COMP_CWORD-1]}\" path=\"\" w\n"
      "  for w in \"${COMP_WORDS[@]:1:COMP_CWORD-1}\"; do\n"
      "    case \"${path:+$path }$w\" in\n";
  for (const auto& c : tree) {
    if (!c.path.empty()) s += "      " + shell_quoted(c.path) + ") path=" + shell_quoted(c.path) + " ;;\n";
  }
  s += "    esac\n  done\n  local words=\"\" valued=\"\"\n  case \"$path\" in\n";
  for (const auto& c : tree) {
    std::vector<std::string> valued;
    for (std::size_t i = 0; i < c.options.size(); ++i) {
      if (c.takes_value[i]) valued.push_back(c.options[i]);
    }
    s += "    " + shell_quoted(c.path) + ") words=" + shell_quoted(space_joined(c.subcommands) + " " + space_joined(c.options)) +
         "; valued=" + shell_quoted(" " + space_joined(valued) + " ") + " ;;\n";
  }
  s +=
      "  esac\n"
      "  if [[ \"$valued\" == *\" $prev \"* ]]; then\n"
      "    COMPREPLY=($(compgen -f -- \"$cur\"))\n"
      "  elif [[ \"$cur\" == -* || -z \"$path\" ]]; then\n"
      "    COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
      "  else\n"
      "    COMPREPLY=($(compgen -W \"$words\" -- \"$cur\") $(compgen -f -- \"$cur\"))\n"
      "  fi\n"
      "}\n"
      "complete -o filenames -F _am2z am2z\n";
  return s;
}

std::string fish_script(const std::vector<CommandInfo>& tree) {
  std::string s = "# am2z completion for fish\ncomplete -c am2z -f\n";
  for (const auto& c : tree) {
    // the condition: this command's words typed, and none of its subcommands yet
    std::string cond;
    if (c.path.empty()) {
      cond = "__fish_use_subcommand";
    } else {
      std::string words;
      std::size_t start = 0;
      for (std::size_t sp; (sp = c.path.find(' ', start)) != std::string::npos || start < c.path.size();) {
        const std::string word = c.path.substr(start, sp == std::string::npos ? std::string::npos : sp - start);
        words += (words.empty() ? "" : "; and ") + std::string("__fish_seen_subcommand_from ") + word;
        if (sp == std::string::npos) break;
        start = sp + 1;
      }
      cond = words;
      if (!c.subcommands.empty()) cond += "; and not __fish_seen_subcommand_from " + space_joined(c.subcommands);
    }
    for (const auto& sub : c.subcommands) {
      std::string description;
      for (const auto& d : tree) {
        if (d.path == (c.path.empty() ? sub : c.path + " " + sub)) description = d.description;
      }
      s += "complete -c am2z -n " + shell_quoted(cond) + " -a " + shell_quoted(sub) + " -d " + shell_quoted(description) + "\n";
    }
    for (std::size_t i = 0; i < c.options.size(); ++i) {
      const std::string& o = c.options[i];
      const std::string flag = o.starts_with("--") ? "-l " + shell_quoted(o.substr(2)) : "-s " + shell_quoted(o.substr(1));
      s += "complete -c am2z -n " + shell_quoted(cond) + " " + flag + (c.takes_value[i] ? " -r -F" : "") + " -d " +
           shell_quoted(c.descriptions[i]) + "\n";
    }
  }
  return s;
}

/// Text for roff: a backslash doubled, '-' as "\-" (a minus, not a hyphen), and a line that would
/// start with '.' or '\'' kept from being read as a request.
std::string roff(const std::string& text) {
  std::string out;
  bool line_start = true;
  for (char c : text) {
    if (line_start && (c == '.' || c == '\'')) out += "\\&";
    if (c == '\\') {
      out += "\\e";
    } else if (c == '-') {
      out += "\\-";
    } else {
      out += c;
    }
    line_start = c == '\n';
  }
  return out;
}

std::string man_page(const std::vector<CommandInfo>& tree) {
  std::string s = ".TH AM2Z 1 \"\" \"am2z " AM2Z_VERSION "\" \"User Commands\"\n";
  std::string summary = tree.front().description;  // "am2z: run workflows ...": the name once
  if (summary.starts_with("am2z: ")) summary.erase(0, 6);
  s += ".SH NAME\nam2z \\- " + roff(summary) + "\n";
  s += ".SH SYNOPSIS\n.B am2z\n[\\fIOPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]\n";
  s += ".SH DESCRIPTION\nRuns workflows written in YAML in this process, or across any number of "
       "\\fBam2z worker\\fR processes over Redis, with BullMQ's Redis layout. The README says what each "
       "command does in full.\n";
  for (const auto& c : tree) {
    if (c.path == "manpage") continue;
    s += c.path.empty() ? std::string(".SH GLOBAL OPTIONS\n") : ".SH " + roff("am2z " + c.path) + "\n" + roff(c.description) + "\n";
    if (!c.subcommands.empty() && !c.path.empty()) s += ".PP\nSubcommands: " + roff(space_joined(c.subcommands)) + "\n";
    for (std::size_t i = 0; i < c.options.size(); ++i) {
      // an option's short and long names come one after the other, with the same description
      if (i > 0 && c.descriptions[i] == c.descriptions[i - 1]) continue;
      std::string names = c.options[i];
      for (std::size_t j = i + 1; j < c.options.size() && c.descriptions[j] == c.descriptions[i]; ++j) {
        names += ", " + c.options[j];
      }
      s += ".TP\n.B " + roff(names) + (c.takes_value[i] ? " \\fIVALUE\\fR" : "") + "\n" + roff(c.descriptions[i]) + "\n";
    }
  }
  s += ".SH EXIT STATUS\n"
       ".TP\n0\nsuccess\n.TP\n1\nthe flow failed; the error JSON is on stderr\n.TP\n2\nusage error\n"
       ".TP\n3\ninvalid flow file or input, or a plugin that cannot be loaded\n"
       ".TP\n4\nRedis cannot be reached, or refused the credentials\n"
       ".TP\n5\nthe run has no outcome (yet), or has not ended\n"
       ".TP\n6\nno live worker serves one of the flow's queues (\\-\\-require\\-worker)\n"
       ".TP\n124\ntimed out\n.TP\n130\ninterrupted (Ctrl\\-C, SIGTERM)\n";
  s += ".SH ENVIRONMENT\nAM2Z_LOG_LEVEL, AM2Z_LOG_FORMAT, AM2Z_COLOR, NO_COLOR, AM2Z_SESSION, AM2Z_DEFAULT_TIMEOUT, "
       "AM2Z_MAX_CALL_DEPTH, AM2Z_PLUGIN_PATH, AM2Z_RUN_DIR, REDIS_URL, REDIS_HOST, REDIS_PORT, REDIS_PASSWORD, "
       "REDIS_DB\n";
  return s;
}

}  // namespace

CommandHandler add_manpage_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("manpage", "Print the man page (roff)");
  cmd->group("");  // hidden: the build runs it
  CLI::App* root = &app;
  return [root](const GlobalOptions&) {
    std::vector<CommandInfo> tree;
    collect(*root, "", tree);
    const std::string page = man_page(tree);
    std::fwrite(page.data(), 1, page.size(), stdout);
    return kExitSuccess;
  };
}

CommandHandler add_completion_command(CLI::App& app) {
  auto shell = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("completion", "Print a shell completion script: bash, zsh or fish");
  cmd->add_option("shell", *shell, "bash, zsh or fish")->required()->check(CLI::IsMember({"bash", "zsh", "fish"}));
  CLI::App* root = &app;
  return [shell, root](const GlobalOptions&) {
    std::vector<CommandInfo> tree;
    collect(*root, "", tree);
    std::string script = *shell == "fish" ? fish_script(tree) : bash_script(tree);
    if (*shell == "zsh") script = "autoload -U +X bashcompinit && bashcompinit\n" + script;
    std::fwrite(script.data(), 1, script.size(), stdout);
    return kExitSuccess;
  };
}

}  // namespace am2z::cli
