#pragma once
// A child process for integration tests: started with argv and extra environment, its stdout
// read line by line (the emulator and the server each announce their bound address on their
// first line), its stderr kept in a file that tests search (e.g. for leaked secrets), and
// stopped with SIGTERM (then SIGKILL) when the object goes away.

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace rollcall::testing {

class ChildProcess {
 public:
  // Starts argv[0] (looked up in PATH when it has no '/') with the parent's environment plus
  // `env` (which overrides and, for an empty value, removes a variable).
  static absl::StatusOr<ChildProcess> Start(const std::vector<std::string>& argv,
                                            const std::map<std::string, std::string>& env = {});

  ChildProcess() = default;  // no process: Stop() and the destructor do nothing
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  // The next line the child writes to stdout (without '\n'). DEADLINE_EXCEEDED if none comes
  // within `timeout`; UNAVAILABLE if the child closed stdout (exited) first.
  absl::StatusOr<std::string> ReadLine(absl::Duration timeout);

  // Everything the child wrote to stderr so far.
  std::string Stderr() const;

  // SIGTERM, then waits up to `grace` before SIGKILL. Returns the exit status as waitpid
  // reports it, or nullopt when the child had to be killed.
  std::optional<int> Stop(absl::Duration grace = absl::Seconds(10));

  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string stderr_path_;
  std::string pending_;  // stdout bytes read past the last returned line
};

// Waits for "<prefix><address>" as the child's first stdout line and returns <address>.
absl::StatusOr<std::string> ReadAnnouncedAddress(ChildProcess& child, const std::string& prefix,
                                                 absl::Duration timeout = absl::Seconds(60));

}  // namespace rollcall::testing
