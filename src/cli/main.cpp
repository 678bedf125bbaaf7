// notifyd-cli: argv -> interactive client, publish, sub, tail, history, run,
// flush, --help or --version.
#include <exception>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "cli/follow.h"
#include "cli/history.h"
#include "cli/http_client.h"
#include "cli/interactive.h"
#include "cli/publish.h"
#include "cli/run.h"
#include "cli/spool_flusher.h"
#include "cli/usage.h"
#include "version.h"

namespace {

int Main(std::vector<std::string> args) {
  using namespace notifyd::cli;
  // --ca FILE, anywhere: the CA that https:// servers are verified against.
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] != "--ca") continue;
    if (i + 1 == args.size()) {
      std::cerr << "notifyd-cli: --ca needs a file (PEM CA certificates)\n";
      return kExitUsage;
    }
    SetCaFile(args[i + 1]);
    args.erase(args.begin() + i, args.begin() + i + 2);
    break;
  }
  if (args.empty()) return RunInteractive();
  const std::string& command = args[0];
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << UsageText() << std::flush;
    return kExitOk;
  }
  if (command == "--version") {
    std::cout << "notifyd-cli " NOTIFYD_VERSION "\n" << std::flush;
    return kExitOk;
  }
  using Command = int (*)(const std::vector<std::string>&);
  static const std::pair<const char*, Command> kCommands[] = {
      {"publish", RunPublish}, {"sub", RunSub}, {"tail", RunTail},
      {"history", RunHistory}, {"run", RunRun}, {"flush", RunFlush}};
  for (const auto& [name, run] : kCommands) {
    if (command == name) return run({args.begin() + 1, args.end()});
  }
  std::cerr << "notifyd-cli: unknown command \"" << command << "\"\n\n" << UsageText();
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  // Nothing may escape: every failure becomes one line and exit status 1.
  try {
    return Main(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::exception& e) {
    std::cerr << "notifyd-cli: " << e.what() << '\n';
  } catch (...) {
    std::cerr << "notifyd-cli: unexpected error\n";
  }
  return notifyd::cli::kExitFailure;
}
