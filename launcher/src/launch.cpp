#include "kiln/launcher/launch.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>

#include "kiln/cluster/control_plane.h"
#include "kiln/cluster/tcp_store.h"
#include "kiln/common/env.h"
#include "kiln/common/error.h"
#include "kiln/common/log.h"
#include "kiln/common/fs.h"
#include "kiln/common/signals.h"
#include "kiln/common/env_knobs.h"
#include "job_shared_memory.h"
#include "kiln/launcher/host_pool.h"
#include "kiln/launcher/supervisor.h"
#include "kiln/runtime/checkpoint.h"
#include "kiln/runtime/model_file.h"
#include "kiln/runtime/report.h"
#include "kiln/runtime/results_layout.h"

namespace kiln::launcher {
namespace {

// The outcome the launcher reports, as status.json's last event. The ranks record their own errors, but a killed
// rank cannot, and ranks stopped by the user saw only the SIGTERM that mpirun forwarded: so the launcher appends a
// FAILURE unless a rank already recorded one, and always for the user's signal, which only the launcher knows.
void record_job_outcome(const std::string& results_dir, const std::string& message, bool user_signal) {
  if (results_dir.empty() || !std::filesystem::is_directory(results_dir)) return;
  const runtime::StatusLog status(runtime::ResultsLayout(results_dir).status());
  if (!user_signal && status.last_status() == "FAILURE") return;
  // The ranks stopped at an agreed step and rank 0 said where, and where its checkpoint is: that says more.
  const nlohmann::json last = status.last_event();
  if (user_signal && last.value("status", "") == "FAILURE" &&
      last.value("message", "").rfind("interrupted by signal", 0) == 0)
    return;
  status.write(runtime::StatusLog::Status::kFailure, message);
}

}  // namespace

std::vector<std::string> strip_option(const std::vector<std::string>& argv, const std::string& name,
                                      bool takes_value) {
  std::vector<std::string> out;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (argv[i] == name) {
      if (takes_value) ++i;
      continue;
    }
    if (takes_value && argv[i].rfind(name + "=", 0) == 0) continue;
    out.push_back(argv[i]);
  }
  return out;
}

bool wants_launch(const JobLaunch& job) {
  return job.num_processes > 1 || !job.cluster_file.empty() || !job.emit_sbatch.empty() ||
         (!job.launcher.empty() && job.launcher != "local");
}

cluster::ClusterConfig job_cluster(const JobLaunch& job) {
  cluster::ClusterConfig config;
  if (!job.cluster_file.empty()) {
    std::vector<std::string> overrides;
    if (!job.launcher.empty()) overrides.push_back("launcher=" + job.launcher);
    config = cluster::load_cluster(job.cluster_file, overrides);
    if (!job.include.empty() || !job.exclude.empty()) config = cluster::filter_hosts(config, job.include, job.exclude);
    if (job.num_processes > 1)
      throw UsageError("--num_processes is for a job on this host; with -c the cluster file's slots give the ranks");
  } else {
    if (!job.include.empty() || !job.exclude.empty()) throw UsageError("--include/--exclude need a cluster file (-c)");
    // A batch script runs on whichever node Slurm allocates: never this (login) host by name.
    const bool slurm = job.launcher == "slurm" || !job.emit_sbatch.empty();
    config.name = slurm ? "kiln" : "kiln-local";
    config.launcher = slurm ? cluster::Launcher::kSlurm : cluster::Launcher::kLocal;
    if (config.launcher == cluster::Launcher::kSlurm) {
      config.slurm.nodes = 1;
      config.slurm.ntasks_per_node = job.num_processes;
      config.slurm.gpus_per_node = job.gpus;
    } else {
      config.nodes.push_back({"localhost", job.num_processes, {}});
    }
  }
  return config;
}

cluster::LaunchOptions job_options(const JobLaunch& job, const cluster::ClusterConfig& config,
                                   const std::string& kiln_exe, int cores, bool launcher_control_plane) {
  cluster::LaunchOptions o;
  o.env = job.env;
  o.cpus_per_task = job.threads;
  o.program.push_back(kiln_exe);
  o.program.insert(o.program.end(), job.worker_args.begin(), job.worker_args.end());
  if (config.launcher == cluster::Launcher::kLocal) {
    // OpenBLAS and OpenMP start their own threads regardless of LibTorch's setting: give each its share of cores.
    const int ranks = config.world_size();
    const std::string threads = std::to_string(std::max(1, cores / std::max(1, ranks)));
    o.env["OMP_NUM_THREADS"] = threads;
    o.env["OPENBLAS_NUM_THREADS"] = threads;
    o.oversubscribe = ranks > cores;
  }
  if (!job.results_dir.empty()) o.log_dir = runtime::ResultsLayout(job.results_dir).logs();
  // Without the launcher's control plane (a batch script), rank 0 hosts one and announces it over MPI. With it,
  // the token and port are in mpirun's (or srun's) environment (launch_job) and forwarded by name: the token, a
  // secret, never appears on a command line.
  if (launcher_control_plane) {
    o.env[knob::kMasterAddr.name] = config.network.master_addr.empty()
                                        ? (config.launcher == cluster::Launcher::kLocal ? "127.0.0.1" : host_name())
                                        : config.network.master_addr;
    o.forward_env = {knob::kJobToken.name, knob::kMasterPort.name};
  }
  return o;
}

namespace {

// How one launch of the job's ranks ended.
struct Attempt {
  int code = 0;         // mpirun's (srun's) exit code
  int signo = 0;        // the signal the user stopped the job with
  std::string failure;  // the control plane's reason, when a rank failed
  ExitCode cause = ExitCode::kRankFailed;
  int rank = -1;        // the failed rank (-1: none named)
  int64_t step = 0;     // the failed rank's step
  int64_t reached = 0;  // the furthest step any rank reported
};

// The host of each rank for its [host:rank] prefix: where the placement puts it. This host's name for
// `localhost`, and for ranks of a Slurm allocation whose nodes are not listed ("<slurm node K>").
std::vector<std::string> rank_hosts(const cluster::ClusterConfig& config, const std::string& this_host) {
  std::vector<std::string> hosts;
  for (const cluster::RankPlace& p : cluster::place_ranks(config)) {
    const std::string host = bare_host(p.host);
    hosts.push_back(host == "localhost" || host.rfind('<', 0) == 0 ? this_host : host);
  }
  return hosts;
}

// Starts the ranks once, with a control plane of their own (a fresh port and token), and supervises them.
Attempt run_ranks(const JobLaunch& job, const cluster::ClusterConfig& config, const cluster::LaunchOptions& options,
                  const cluster::Command& cmd, const std::string& bind, bool single_host) {
  // The control plane: ranks heartbeat to it; the first rank that dies, hangs or fails ends the whole job.
  const std::string token = cluster::make_job_token();
  cluster::StoreServerOptions store = cluster::StoreServerOptions::from_env(token);
  store.address = bind;
  cluster::ControlPlaneServer control(store, cluster::ControlPlaneOptions::from_env());
  std::mutex mu;
  Attempt attempt;
  control.on_rank_failure([&](const cluster::RankFailure& f) {
    {
      std::lock_guard<std::mutex> lock(mu);
      attempt.failure = f.reason;
      attempt.cause = f.cause;
      attempt.rank = f.rank;
      attempt.step = f.step;
    }
    terminate_supervised();
  });
  SupervisedRun run;
  run.argv = cmd.argv;
  // Ranks find the control plane through these: they go into mpirun's (or srun's) environment, which forwards them
  // by name (job_options); this process's own environment is left as it was.
  run.env = {{knob::kJobToken.name, token}, {knob::kMasterPort.name, std::to_string(control.port())}};
  std::optional<JobSharedMemory> shared_memory;  // removed when the job ends, with what killed ranks left in it
  if (single_host) {
    shared_memory.emplace();
    if (!shared_memory->dir().empty()) run.env.emplace_back(JobSharedMemory::kMcaVariable, shared_memory->dir());
  }
  if (config.launcher == cluster::Launcher::kSlurm) {
    // srun --label prefixes every line with its task id, which the supervisor turns into [host:rank] and logs.
    auto srun = std::find(run.argv.begin(), run.argv.end(), options.srun);
    if (srun != run.argv.end()) run.argv.insert(srun + 1, "--label");
    run.srun_labels = true;
  }
  run.logs_dir = job.results_dir.empty() ? "" : runtime::ResultsLayout(job.results_dir).logs();
  // A first Ctrl-C (SIGTERM, Slurm's SIGUSR1) asks the ranks to stop at an agreed step and checkpoint there.
  run.graceful_stop = [&control](int signo) { control.request_stop(signo); };
  run.stop_grace_s = static_cast<int>(env_long(knob::kStopGraceS));
  run.host = host_name();
  run.rank_hosts = rank_hosts(config, run.host);
  const int code = supervise(run);
  std::lock_guard<std::mutex> lock(mu);
  attempt.code = code;
  attempt.signo = forwarded_signal();
  // The ranks move in lockstep: the furthest step any rank reported (survivors report theirs on ABORT) is where the
  // job got to, closer than the failed rank's last heartbeat.
  for (const auto& r : control.ranks()) attempt.reached = std::max(attempt.reached, r.step);
  return attempt;
}

// The job's exit code for an attempt: 128 + the user's signal; a rank's data or spec error as a single process
// would exit (3 or 2); another rank failure 4; else mpirun's code.
int exit_code_of(const Attempt& a) {
  if (a.signo) return 128 + a.signo;
  if (!a.failure.empty())
    return static_cast<int>(a.cause == ExitCode::kData || a.cause == ExitCode::kUsage ? a.cause : ExitCode::kRankFailed);
  return a.code;
}

// Worth another launch: a rank died, hung or failed, or mpirun failed — not the user's stop, and not a spec or data
// error, which the next launch would meet again.
bool restartable(const Attempt& a, int code) {
  return code != 0 && a.signo == 0 && code != static_cast<int>(ExitCode::kUsage) &&
         code != static_cast<int>(ExitCode::kData);
}

std::string describe(const Attempt& a) {
  return a.failure.empty() ? "the job's ranks exited with code " + std::to_string(a.code) : a.failure;
}

// The global step of the checkpoint a relaunch resumes from (-1: none, or unreadable: it will say why).
int64_t latest_checkpoint_step(const std::string& results_dir) {
  if (results_dir.empty()) return -1;
  const runtime::ResultsLayout r(results_dir);
  try {
    const std::string name = runtime::latest_checkpoint_name(r);
    if (name.empty()) return -1;
    return runtime::read_model_file(r.checkpoints() + "/" + name).meta.value("global_step", int64_t{-1});
  } catch (const std::exception&) {
    return -1;
  }
}

// Between two launches: the cause, where the next one resumes and how many steps the failure cost, in the log and
// in status.json.
void announce_restart(const JobLaunch& job, const Attempt& a, int restart) {
  const int64_t resume = latest_checkpoint_step(job.results_dir);
  const int64_t lost = resume >= 0 ? std::max<int64_t>(0, std::max(a.step, a.reached) - resume) : -1;
  const std::string message =
      log::cat("restart ", restart, " of ", job.max_restarts, " after: ", describe(a), "; ",
               resume >= 0 ? log::cat("resuming from the checkpoint at step ", resume) : std::string("no checkpoint yet: starting over"),
               lost >= 0 ? log::cat(" (", lost, " step(s) lost)") : std::string());
  log::warn(message);
  if (job.results_dir.empty() || !std::filesystem::is_directory(job.results_dir)) return;
  nlohmann::json fields{{"restart", restart}, {"max_restarts", job.max_restarts}, {"cause", describe(a)},
                        {"verbosity", "WARNING"}};
  if (resume >= 0) fields["resume_step"] = resume;
  if (lost >= 0) fields["steps_lost"] = lost;
  runtime::StatusLog(runtime::ResultsLayout(job.results_dir).status())
      .write(runtime::StatusLog::Status::kRunning, message, fields);
}

// The last attempt's outcome, logged and recorded; returns the job's exit code.
int finish(const JobLaunch& job, const Attempt& a, int code, int restarts) {
  if (a.signo) {
    // The user stopped the job: ranks reporting their own interruption are not a rank failure.
    const std::string message = "interrupted by signal " + std::to_string(a.signo) + " (" + signal_name(a.signo) +
                                "); the job's ranks were stopped";
    log::error(message);
    record_job_outcome(job.results_dir, message, true);
    return code;
  }
  if (code == 0) return 0;
  const std::string cause = describe(a);
  const std::string message =
      restarts > 0 ? log::cat("the job failed ", restarts + 1, " times (--max_restarts ", job.max_restarts,
                              "); the last time: ", cause)
                   : cause;
  if (!a.failure.empty() || restarts > 0) log::error(message);
  record_job_outcome(job.results_dir, message, false);
  return code;
}

cluster::Command job_command(const cluster::ClusterConfig& config, const cluster::LaunchOptions& options) {
  return config.launcher == cluster::Launcher::kSlurm ? cluster::srun_command(config, options)
                                                      : cluster::mpirun_command(config, options);
}

// --nnodes: the hosts a relaunch may leave out (mpirun across the hosts of a cluster file only).
std::optional<HostPool> host_pool(const JobLaunch& job, const cluster::ClusterConfig& config) {
  if (job.nnodes.empty()) return std::nullopt;
  if (job.cluster_file.empty() || config.launcher != cluster::Launcher::kMpirun)
    throw UsageError("--nnodes " + job.nnodes + " needs -c with launcher mpirun: it chooses among the hosts of the "
                     "cluster file (under Slurm the allocation decides; --num_processes is one host)");
  return HostPool(config, parse_nnodes(job.nnodes));
}

// Leaves out of the next launch the hosts blamed twice or silent (HostPool::prune), saying so in the log and
// status.json; true when the hosts changed. Throws when fewer than MIN would remain.
bool leave_out_silent_hosts(const JobLaunch& job, HostPool& pool) {
  const std::vector<std::string> notes = pool.prune([](const std::string& host) { return probe_tcp(host); });
  if (notes.empty()) return false;  // a note for each host left out
  for (const std::string& note : notes) log::warn(note);
  const std::string message = log::cat(notes.size(), " host(s) left out: the job goes on with ",
                                       pool.config().nodes.size(), " host(s), ", pool.config().world_size(),
                                       " rank(s) (each rank's batch unchanged: the global batch shrinks with them)");
  log::warn(message);
  if (!job.results_dir.empty() && std::filesystem::is_directory(job.results_dir)) {
    std::vector<std::string> hosts;
    for (const cluster::Node& n : pool.config().nodes) hosts.push_back(n.host);
    runtime::StatusLog(runtime::ResultsLayout(job.results_dir).status())
        .write(runtime::StatusLog::Status::kRunning, message,
               {{"hosts", hosts}, {"left_out", notes}, {"verbosity", "WARNING"}});
  }
  return true;
}

}  // namespace

int launch_job(const JobLaunch& job) {
  char exe[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) throw Error("cannot find kiln's own executable (/proc/self/exe)");
  exe[n] = '\0';
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  cluster::ClusterConfig config = job_cluster(job);
  // Tagged lines let the supervisor prefix [host:rank] and split the per-rank logs.
  config.mpirun_args.insert(config.mpirun_args.begin(), "--tag-output");
  if (!job.emit_sbatch.empty()) {
    cluster::LaunchOptions batch = job_options(job, config, exe, cores, false);
    batch.workdir = std::filesystem::current_path().string();
    const std::string script = cluster::sbatch_script(config, batch);
    if (job.dry_run) {
      std::cout << "Dry run: the batch script --emit-sbatch " << job.emit_sbatch << " would write:\n"
                << script << "Dry run: nothing was written or submitted." << std::endl;
      return 0;
    }
    // Slurm opens the script's --output file before the script runs and does not create its directory.
    if (!job.results_dir.empty()) std::filesystem::create_directories(runtime::ResultsLayout(job.results_dir).logs());
    atomic_write_string(job.emit_sbatch, script);
    std::cout << "Wrote " << job.emit_sbatch << ": submit it with `sbatch " << job.emit_sbatch << "`" << std::endl;
    return 0;
  }
  const bool single_host = config.launcher == cluster::Launcher::kLocal && job.cluster_file.empty();
  // KILN_STORE_BIND_ADDR wins; otherwise listen no wider than the job needs, and tell the ranks that address.
  const std::string given = env_string(knob::kStoreBindAddr.name, "");
  const std::string bind = given.empty() ? cluster::control_plane_bind_address(config, single_host) : given;
  if (config.network.master_addr.empty() && bind != "0.0.0.0") config.network.master_addr = bind;
  const auto options_for = [&](const cluster::ClusterConfig& c) { return job_options(job, c, exe, cores, true); };
  if (job.dry_run) {
    std::cout << "Launch plan: " << config.world_size() << " rank(s): " << job_command(config, options_for(config)).str()
              << "\nDry run: nothing was started and nothing was written." << std::endl;
    return 0;
  }
  std::optional<HostPool> pool = host_pool(job, config);
  if (pool && leave_out_silent_hosts(job, *pool)) config = pool->config();
  cluster::Command launch = job_command(config, options_for(config));
  log::info(log::cat("Launching ", config.world_size(), " rank(s): ", launch.str()));

  for (int restarts = 0;; ++restarts) {
    const Attempt attempt = run_ranks(job, config, options_for(config), launch, bind, single_host);
    const int code = exit_code_of(attempt);
    if (restarts >= job.max_restarts || !restartable(attempt, code)) return finish(job, attempt, code, restarts);
    announce_restart(job, attempt, restarts + 1);
    if (pool) {
      pool->blame(pool->host_of_rank(attempt.rank));
      if (leave_out_silent_hosts(job, *pool)) {
        config = pool->config();
        launch = job_command(config, options_for(config));
      }
    }
    log::info(log::cat("Launching ", config.world_size(), " rank(s) again: ", launch.str()));
  }
}

}  // namespace kiln::launcher
