// TensorBoard event files (`events.out.tfevents.<time>.<host>`), as TAO's visualizer and PyTorch's SummaryWriter
// write them: TFRecord framing (length, masked CRC-32C of the length, an Event protobuf, masked CRC-32C of it), the
// first event naming the format ("brain.Event:2"), then scalars and PNG images. `tensorboard --logdir RESULTS` shows
// a run while it trains. Written by rank 0 (docs/formats.md).
#pragma once
#include <cstdint>
#include <fstream>
#include <string>

#include "kiln/runtime/annotate.h"

namespace kiln::runtime {

class EventLog {
 public:
  // Creates `dir`/events.out.tfevents.<unix seconds>.<host name> and writes the file-version event.
  explicit EventLog(const std::string& dir);
  const std::string& path() const { return path_; }

  void scalar(const std::string& tag, double value, int64_t step);
  void image(const std::string& tag, const RgbImage& image, int64_t step);  // encoded as PNG
  // Makes what was written readable (TensorBoard polls the file); called after each epoch's events.
  void flush();

 private:
  void write_record(const std::string& event);
  std::string path_;
  std::ofstream out_;
};

}  // namespace kiln::runtime
