#include "kiln/collectives/communicator.h"

#include <ATen/ATen.h>

#include "kiln/common/error.h"

namespace kiln::collectives {

const char* to_string(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return "sum";
    case ReduceOp::kAvg: return "avg";
    case ReduceOp::kMax: return "max";
    case ReduceOp::kMin: return "min";
  }
  return "?";
}

const char* to_string(WorkStatus s) {
  switch (s) {
    case WorkStatus::kPending: return "pending";
    case WorkStatus::kCompleted: return "completed";
    case WorkStatus::kFailed: return "failed";
    case WorkStatus::kTimedOut: return "timed out";
    case WorkStatus::kAborted: return "aborted";
  }
  return "?";
}

void wait_ok(const WorkPtr& work, std::chrono::milliseconds timeout) {
  const WorkStatus s = work->wait(timeout);
  if (s == WorkStatus::kCompleted) return;
  const std::string why = work->error();
  throw CollectiveError(work->describe() + " " + to_string(s) + (why.empty() ? "" : ": " + why),
                        s == WorkStatus::kAborted ? ExitCode::kRankFailed : ExitCode::kFailure);
}

at::Tensor all_gather_small(Communicator& comm, const at::Tensor& mine, c10::Device device,
                            std::chrono::milliseconds timeout) {
  const at::Tensor in = mine.contiguous().to(device);
  at::Tensor all = at::empty({comm.size() * mine.numel()}, in.options());
  wait_ok(comm.allgather(in, all), timeout);
  return all.cpu();
}

}  // namespace kiln::collectives
