// TensorBoard event files in a build without protobuf (KILN_WITH_PROTOBUF=OFF; runtime/CMakeLists.txt compiles this
// file in place of tensorboard.cpp). The visualizer is something the spec asks for (visualizer.enabled), so opening
// an event log is an error naming the option, raised when the run starts (TrainingBoard's constructor), before any
// step is trained; nothing else can be reached without an open log.
#include "kiln/common/error.h"
#include "kiln/runtime/tensorboard.h"

namespace kiln::runtime {
namespace {

[[noreturn]] void without() {
  throw UsageError(
      "visualizer.enabled: kiln was built without TensorBoard event files (KILN_WITH_PROTOBUF=OFF); set "
      "visualizer.enabled: false, or use a build configured with -DKILN_WITH_PROTOBUF=ON");
}

}  // namespace

EventLog::EventLog(const std::string&) { without(); }
void EventLog::scalar(const std::string&, double, int64_t) { without(); }
void EventLog::image(const std::string&, const RgbImage&, int64_t) { without(); }
void EventLog::flush() { without(); }
void EventLog::write_record(const std::string&) { without(); }

}  // namespace kiln::runtime
