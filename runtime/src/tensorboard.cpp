#include "kiln/runtime/tensorboard.h"

#include <chrono>
#include <filesystem>

#include "kiln/common/crc32c.h"
#include "kiln/common/env.h"
#include "kiln/common/error.h"
#include "tensorboard_event.pb.h"

namespace kiln::runtime {
namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}

std::string serialized(tensorboard::Event& event, int64_t step) {
  event.set_wall_time(now_seconds());
  event.set_step(step);
  return event.SerializeAsString();
}

}  // namespace

EventLog::EventLog(const std::string& dir) {
  std::filesystem::create_directories(dir);
  const auto seconds = static_cast<int64_t>(now_seconds());
  path_ = (std::filesystem::path(dir) / ("events.out.tfevents." + std::to_string(seconds) + "." + host_name())).string();
  out_.open(path_, std::ios::binary | std::ios::app);
  if (!out_) throw Error("cannot create the TensorBoard event file " + path_);
  tensorboard::Event version;
  version.set_file_version("brain.Event:2");
  write_record(serialized(version, 0));
  flush();
}

void EventLog::scalar(const std::string& tag, double value, int64_t step) {
  tensorboard::Event event;
  auto* v = event.mutable_summary()->add_value();
  v->set_tag(tag);
  v->set_simple_value(static_cast<float>(value));
  write_record(serialized(event, step));
}

void EventLog::image(const std::string& tag, const RgbImage& image, int64_t step) {
  tensorboard::Event event;
  auto* v = event.mutable_summary()->add_value();
  v->set_tag(tag);
  auto* img = v->mutable_image();
  img->set_height(image.height);
  img->set_width(image.width);
  img->set_colorspace(3);
  img->set_encoded_image_string(encode_png(image));
  write_record(serialized(event, step));
}

void EventLog::flush() {
  out_.flush();
  if (!out_) throw Error("cannot write the TensorBoard event file " + path_ + " (disk full?)");
}

void EventLog::write_record(const std::string& event) {
  std::string header;
  put_le(header, event.size(), 8);
  std::string record = header;
  put_le(record, masked_crc32c(reinterpret_cast<const uint8_t*>(header.data()), header.size()), 4);
  record += event;
  put_le(record, masked_crc32c(reinterpret_cast<const uint8_t*>(event.data()), event.size()), 4);
  out_.write(record.data(), static_cast<std::streamsize>(record.size()));
}

}  // namespace kiln::runtime
