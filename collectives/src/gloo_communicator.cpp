// Gloo backend (backends.h): the Communicator over a Gloo context, its calls made on one thread by a TaskQueue.
#ifdef KILN_HAVE_GLOO
#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/math.h>

#include <ATen/ATen.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include "collective_desc.h"
#include "gloo_rendezvous.h"
#include "half_reduce.h"
#include "kiln/collectives/backends.h"
#include "kiln/common/error.h"
#include "kiln/common/log.h"
#include "task_queue.h"

namespace kiln::collectives {
namespace {

using detail::CollectiveDesc;
using Func = gloo::AllreduceOptions::Func;

// After an abort the destructor gives the call in flight this long before abandoning the thread (see task_queue.h).
constexpr std::chrono::milliseconds kGlooAbandonGrace{250};

template <typename T, typename Op>
void gloo_reduce16(void* c, const void* a, const void* b, size_t n) {
  detail::reduce_half<T, Op>(static_cast<T*>(c), static_cast<const T*>(a), static_cast<const T*>(b), n);
}

template <typename T>
Func typed_function(ReduceOp op) {
  using Raw = void (*)(void*, const void*, const void*, size_t);  // picks Gloo's type-erased overloads
  switch (op) {
    case ReduceOp::kMax: return Func(static_cast<Raw>(&gloo::max<T>));
    case ReduceOp::kMin: return Func(static_cast<Raw>(&gloo::min<T>));
    default: return Func(static_cast<Raw>(&gloo::sum<T>));  // kAvg: sum, then divide in place
  }
}

template <typename T>
Func half_function(ReduceOp op) {
  switch (op) {
    case ReduceOp::kMax: return Func(&gloo_reduce16<T, detail::HalfMax>);
    case ReduceOp::kMin: return Func(&gloo_reduce16<T, detail::HalfMin>);
    default: return Func(&gloo_reduce16<T, detail::HalfSum>);
  }
}

Func reduce_function(at::ScalarType dtype, ReduceOp op) {
  switch (dtype) {
    case at::kFloat: return typed_function<float>(op);
    case at::kDouble: return typed_function<double>(op);
    case at::kLong: return typed_function<int64_t>(op);
    case at::kHalf: return half_function<c10::Half>(op);
    default: return half_function<c10::BFloat16>(op);  // the dtypes collective_desc accepts
  }
}

// Gloo types buffers only by element size: a tensor travels as elements of its own width.
template <typename Options>
void set_output(Options& o, const at::Tensor& t) {
  switch (t.element_size()) {
    case 8: o.setOutput(static_cast<int64_t*>(t.data_ptr()), static_cast<size_t>(t.numel())); break;
    case 4: o.setOutput(static_cast<int32_t*>(t.data_ptr()), static_cast<size_t>(t.numel())); break;
    case 2: o.setOutput(static_cast<int16_t*>(t.data_ptr()), static_cast<size_t>(t.numel())); break;
    default: o.setOutput(static_cast<uint8_t*>(t.data_ptr()), static_cast<size_t>(t.nbytes())); break;
  }
}

// Shared by the communicator and its thread; the thread keeps it alive when it is abandoned.
struct GlooState {
  detail::TaskQueue tasks;
  std::shared_ptr<gloo::Context> context;
};

void gloo_thread(std::shared_ptr<GlooState> state) {
  state->tasks.run(state->context->rank);
  // Close the sockets at once (no linger) unless the thread was abandoned: then the process is on its way out.
  state->tasks.exit([&] { state->context->closeConnections(); });
}

class GlooCommunicator final : public Communicator {
 public:
  GlooCommunicator(cluster::Store& store, int rank, int size, const GlooOptions& options)
      : state_(std::make_shared<GlooState>()) {
    if (size < 1 || rank < 0 || rank >= size)
      throw Error(log::cat("gloo: rank ", rank, " is not in a world of ", size));
    state_->context = detail::gloo_connect(store, rank, size, options);
    thread_ = std::thread(gloo_thread, state_);
  }

  ~GlooCommunicator() override {
    if (!state_->tasks.stop_and_join(thread_, kGlooAbandonGrace))
      log::warn("Gloo communicator thread left waiting inside an aborted collective");
  }

  int rank() const override { return state_->context->rank; }
  int size() const override { return state_->context->size; }
  std::string backend() const override { return "gloo"; }

  WorkPtr allreduce(at::Tensor& tensor, ReduceOp op) override {
    const CollectiveDesc d = detail::allreduce_desc("gloo", check_cpu(tensor), op, seq_);
    const int size = this->size();
    const Func fn = reduce_function(tensor.scalar_type(), op);
    return submit(d, [tensor, op, size, fn](const std::shared_ptr<gloo::Context>& ctx, uint32_t tag) mutable {
      if (size == 1) return;  // every op is the identity on one rank
      gloo::AllreduceOptions o(ctx);
      set_output(o, tensor);
      o.setReduceFunction(fn);
      o.setAlgorithm(gloo::AllreduceOptions::Algorithm::RING);
      o.setTag(tag);
      gloo::allreduce(o);
      if (op == ReduceOp::kAvg) tensor.div_(size);
    });
  }

  WorkPtr broadcast(at::Tensor& tensor, int root) override {
    const CollectiveDesc d = detail::broadcast_desc("gloo", check_cpu(tensor), root, size(), seq_);
    return submit(d, [tensor, root](const std::shared_ptr<gloo::Context>& ctx, uint32_t tag) {
      if (ctx->size == 1) return;
      gloo::BroadcastOptions o(ctx);
      set_output(o, tensor);
      o.setRoot(root);
      o.setTag(tag);
      gloo::broadcast(o);
    });
  }

  WorkPtr allgather(const at::Tensor& input, at::Tensor& output) override {
    const CollectiveDesc d = detail::allgather_desc("gloo", check_cpu(input), check_cpu(output), size(), seq_);
    return submit(d, [input, output](const std::shared_ptr<gloo::Context>& ctx, uint32_t tag) {
      gloo::AllgatherOptions o(ctx);
      o.setInput(static_cast<uint8_t*>(input.data_ptr()), input.nbytes());
      o.setOutput(static_cast<uint8_t*>(output.data_ptr()), output.nbytes());
      o.setTag(tag);
      gloo::allgather(o);
    });
  }

  WorkPtr barrier() override {
    return submit(detail::barrier_desc(seq_), [](const std::shared_ptr<gloo::Context>& ctx, uint32_t tag) {
      gloo::BarrierOptions o(ctx);
      o.setTag(tag);
      gloo::barrier(o);
    });
  }

  void abort(const std::string& reason) override { state_->tasks.abort(reason); }

 private:
  static const at::Tensor& check_cpu(const at::Tensor& t) { return detail::require_cpu("gloo", "Gloo", t); }
  using GlooCall = std::function<void(const std::shared_ptr<gloo::Context>&, uint32_t tag)>;

  // The sequence number advances only for calls that passed the argument checks, so ranks stay in step; it is
  // also the call's Gloo tag.
  WorkPtr submit(const CollectiveDesc& desc, GlooCall call) {
    const auto tag = static_cast<uint32_t>(++seq_);
    return state_->tasks.submit(desc, [ctx = state_->context, tag, call = std::move(call)] { call(ctx, tag); });
  }

  std::shared_ptr<GlooState> state_;
  std::thread thread_;
  uint64_t seq_ = 0;  // submissions come from one caller thread at a time
};

}  // namespace

bool gloo_available() { return true; }

std::unique_ptr<Communicator> make_gloo_communicator(cluster::Store& store, int rank, int size,
                                                     const GlooOptions& options) {
  return std::make_unique<GlooCommunicator>(store, rank, size, options);
}

}  // namespace kiln::collectives
#endif
