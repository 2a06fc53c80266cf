// The supervisor's output: rank lines prefixed and logged per rank, mpirun's own messages kept out of the console
// when kiln stops the job. A shell script stands in for mpirun and prints what Open MPI 4.1 printed when a rank was
// killed: a peer's failed shared-memory read from inside rank 1, mpirun's PMIx_Finalize backtrace, and a rank's
// unfinished line with the next rank's tag glued to it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "kiln/launcher/supervisor.h"

namespace fs = std::filesystem;
using namespace kiln::launcher;

namespace {
struct ScratchDir {
  fs::path path = fs::temp_directory_path() / ("kiln_supervisor_" + std::to_string(::getpid()));
  ScratchDir() {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~ScratchDir() { fs::remove_all(path); }
};
std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}
constexpr const char* kRankLines =
    "echo '[1,0]<stdout>:hello from rank 0'\n"
    "printf '[1,1]<stderr>:unfinished[1,0]<stderr>:second line\\n'\n";
constexpr const char* kOpenMpiNoise =
    "echo '[1,1]<stderr>:[vm:813] Read -1, expected 123412, errno = 3'\n"
    "echo '[vm:812] *** Process received signal ***'\n"
    "echo '[vm:812] [ 0] /lib/x86_64-linux-gnu/libc.so.6(+0x3c050)[0x7f]'\n"
    "echo 'mpirun noticed that process rank 0 with PID 0 on node vm exited on signal 9 (Killed).'\n";

SupervisedRun fake_mpirun(const fs::path& dir, const std::string& script) {
  std::ofstream(dir / "mpirun.sh") << script;
  SupervisedRun run;
  run.argv = {"/bin/sh", (dir / "mpirun.sh").string()};
  run.logs_dir = (dir / "logs").string();
  run.host = "h";
  return run;
}
}  // namespace

TEST(Supervisor, WhenKilnStopsTheJobMpirunsOwnMessagesGoToItsLogNotTheConsole) {
  ScratchDir dir;
  const fs::path started = dir.path / "started";
  const std::string script = std::string("on_term() {\n") + kOpenMpiNoise + "exit 1\n}\ntrap on_term TERM\n" +
                             kRankLines + "touch " + started.string() + "\nwhile :; do sleep 0.05; done\n";
  const SupervisedRun run = fake_mpirun(dir.path, script);
  std::atomic<bool> ended{false};
  std::thread stopper([&] {
    while (!fs::exists(started))
      if (ended.load()) return;
      else std::this_thread::sleep_for(std::chrono::milliseconds(10));
    terminate_supervised(5000);  // as the launcher does when a rank fails
  });
  testing::internal::CaptureStdout();
  const int code = supervise(run);
  ended = true;
  const std::string console = testing::internal::GetCapturedStdout();
  stopper.join();
  EXPECT_EQ(code, 1);
  EXPECT_NE(console.find("[h:0] hello from rank 0\n"), std::string::npos) << console;
  EXPECT_NE(console.find("[h:1] unfinished\n[h:0] second line\n"), std::string::npos) << console;
  EXPECT_EQ(console.find("<stderr>"), std::string::npos) << "no mpirun tag reaches the console:\n" << console;
  EXPECT_EQ(console.find("Process received signal"), std::string::npos) << console;
  EXPECT_EQ(console.find("Read -1"), std::string::npos) << console;
  EXPECT_EQ(console.find("mpirun noticed"), std::string::npos) << console;
  EXPECT_NE(console.find("4 line(s) of mpirun's own output after the job was stopped are in " + run.logs_dir +
                         "/mpirun.log"),
            std::string::npos)
      << console;
  // Nothing is lost: every message is in a file.
  const std::string mpirun_log = slurp(dir.path / "logs" / "mpirun.log");
  EXPECT_NE(mpirun_log.find("[vm:812] *** Process received signal ***"), std::string::npos) << mpirun_log;
  EXPECT_NE(mpirun_log.find("[h:1] [vm:813] Read -1"), std::string::npos) << mpirun_log;
  EXPECT_NE(mpirun_log.find("mpirun noticed"), std::string::npos) << mpirun_log;
  EXPECT_EQ(slurp(dir.path / "logs" / "rank_0.log"), "hello from rank 0\nsecond line\n");
  EXPECT_EQ(slurp(dir.path / "logs" / "rank_1.log"), "unfinished\n[vm:813] Read -1, expected 123412, errno = 3\n");
}

TEST(Supervisor, WhenMpirunFailsByItselfItsMessagesReachTheConsole) {
  // No rank failed and nobody pressed Ctrl-C: mpirun's message is the only explanation the user gets.
  ScratchDir dir;
  const SupervisedRun run =
      fake_mpirun(dir.path, std::string(kRankLines) + "echo 'There are not enough slots available in the system'\n"
                                                      "exit 1\n");
  testing::internal::CaptureStdout();
  const int code = supervise(run);
  const std::string console = testing::internal::GetCapturedStdout();
  EXPECT_EQ(code, 1);
  EXPECT_NE(console.find("There are not enough slots available in the system\n"), std::string::npos) << console;
  EXPECT_NE(slurp(dir.path / "logs" / "mpirun.log").find("not enough slots"), std::string::npos);
}

TEST(Supervisor, RecognisesOpenMpisOwnLines) {
  EXPECT_TRUE(is_open_mpi_message("[vm:26973] Read -1, expected 123412, errno = 3"));
  EXPECT_TRUE(is_open_mpi_message("[node-1.cluster:812] *** Process received signal ***"));
  EXPECT_FALSE(is_open_mpi_message("2026-12-05 20:39:41 ERROR control plane: rank 0 exited"));
  EXPECT_FALSE(is_open_mpi_message("[warn] something"));
  EXPECT_FALSE(is_open_mpi_message("[a b:12] spaced host"));
  EXPECT_FALSE(is_open_mpi_message("[vm:12x] not a pid"));
}

// Each rank's lines carry the host the placement put it on; a rank beyond the list, the launcher's host.
TEST(Supervisor, RankLinesCarryTheirOwnHostsName) {
  ScratchDir dir;
  SupervisedRun run = fake_mpirun(dir.path, "echo '[1,1]<stdout>:from node02'\necho '[1,2]<stdout>:extra'\n");
  run.rank_hosts = {"node01", "node02"};
  testing::internal::CaptureStdout();
  EXPECT_EQ(supervise(run), 0);
  const std::string console = testing::internal::GetCapturedStdout();
  EXPECT_NE(console.find("[node02:1] from node02\n"), std::string::npos) << console;
  EXPECT_NE(console.find("[h:2] extra\n"), std::string::npos) << console;
}

// A daemon that detached from mpirun (as an orted cut off on a host whose link went down) and still holds the output
// pipe does not keep the launcher waiting once mpirun has exited; it is killed with the job's other leftovers.
TEST(Supervisor, MpirunsEndIsTheEndOfTheJobEvenWithItsPipeStillOpen) {
  ScratchDir dir;
  const fs::path pid_file = dir.path / "daemon.pid";
  SupervisedRun run = fake_mpirun(
      dir.path, "setsid sh -c 'echo $$ > " + pid_file.string() + "; exec sleep 600' &\n"
                "while [ ! -s " + pid_file.string() + " ]; do sleep 0.01; done\necho '[1,0]<stdout>:done'\nexit 0\n");
  testing::internal::CaptureStdout();
  EXPECT_EQ(supervise(run), 0);
  const std::string console = testing::internal::GetCapturedStdout();
  EXPECT_NE(console.find("[h:0] done\n"), std::string::npos) << console;
  const pid_t daemon = static_cast<pid_t>(std::stol(slurp(pid_file)));
  EXPECT_NE(::kill(daemon, 0), 0) << "the detached daemon " << daemon << " is still running";
}
