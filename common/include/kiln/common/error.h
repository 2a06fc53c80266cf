// Error types that carry context across module boundaries. They become exit codes only in main().
#pragma once
#include <stdexcept>
#include <string>

namespace kiln {

// kiln's exit codes (docs/cli.md lists them for users).
enum class ExitCode : int {
  kOk = 0,
  kFailure = 1,      // anything not covered below (a bug, an I/O failure outside the data path)
  kUsage = 2,        // bad command line or spec; nothing was started
  kData = 3,         // missing or corrupt dataset, unreadable model file
  kRankFailed = 4,   // a rank died or desynchronised (culprit named)
  kSigInt = 130,
  kSigTerm = 143,
};

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what, ExitCode code = ExitCode::kFailure)
      : std::runtime_error(what), code_(code) {}
  ExitCode code() const { return code_; }

 private:
  ExitCode code_;
};

// Bad usage or spec (exit 2).
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& what) : Error(what, ExitCode::kUsage) {}
};

// Missing/corrupt data or model files (exit 3). The message names the file and record.
class DataError : public Error {
 public:
  explicit DataError(const std::string& what) : Error(what, ExitCode::kData) {}
};

// The exit code an exception stands for: an Error's own, anything else kFailure.
inline ExitCode exit_code_of(const std::exception& e) {
  const auto* error = dynamic_cast<const Error*>(&e);
  return error ? error->code() : ExitCode::kFailure;
}

// The run was interrupted by a signal: exit 128 + the signal's number (130 SIGINT, 143 SIGTERM, 138 SIGUSR1), as a
// shell reports a process the signal killed. `detail` is appended to "interrupted by signal N".
class Interrupted : public Error {
 public:
  explicit Interrupted(int signo, const std::string& detail = "")
      : Error("interrupted by signal " + std::to_string(signo) + detail, static_cast<ExitCode>(128 + signo)),
        signo_(signo) {}
  int signo() const { return signo_; }

 private:
  int signo_;
};

}  // namespace kiln
