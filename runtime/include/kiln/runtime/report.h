// What a run tells its user: status.json events (TAO's schema, one JSON object per line), a progress bar on a
// terminal (periodic plain lines otherwise), and training curves rendered to PNG.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kiln::runtime {

// Appends TAO-compatible status events to <results>/status.json:
// {date, time, status, verbosity, message, epoch, max_epoch, time_per_epoch, eta, kpi, graphical, categorical}.
class StatusLog {
 public:
  enum class Status { kStarted, kRunning, kSuccess, kFailure };
  explicit StatusLog(std::string path) : path_(std::move(path)) {}
  // Appends one event as one whole line (append_line: all of it or nothing; a torn last line is cut off first).
  // Never throws: when the event cannot be recorded (a full disk) a WARNING names the file and the error, and it
  // returns false.
  bool write(Status status, const std::string& message, nlohmann::json fields = nlohmann::json::object()) const;
  const std::string& path() const { return path_; }
  // The `status` of the file's last whole event ("" when there is none, or the file cannot be read).
  std::string last_status() const;

 private:
  std::string path_;
};

std::string format_duration(double seconds);  // "0:01:02.500000" (Python timedelta style, as TAO writes)

// A one-line progress bar with rate and ETA when stdout is a terminal; otherwise a plain line every ~10% or 30 s.
class Progress {
 public:
  Progress(std::string title, int64_t total, std::string unit = "step");
  void update(int64_t done, const std::string& stats = "");  // stats: e.g. "loss 0.412 lr 0.01"
  void finish(const std::string& stats = "");

 private:
  void emit(int64_t done, const std::string& stats, bool final);
  std::string title_, unit_;
  int64_t total_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_print_;
  int64_t last_done_printed_ = -1;
};

// One point per epoch of the training curves.
struct EpochRecord {
  int64_t epoch = 0;
  double train_loss = 0, train_accuracy = 0, lr = 0, seconds = 0, images_per_s = 0;
  double val_loss = -1, val_accuracy = -1;  // -1: not evaluated that epoch
  nlohmann::json to_json() const;
  static EpochRecord from_json(const nlohmann::json& j);
};

// Renders loss, accuracy and learning rate against epoch into a PNG (PLplot, cairo). Written atomically.
// `metric` names the middle panel (detection plots validation mAP there); train_accuracy < 0 is left out.
void plot_training_curves(const std::vector<EpochRecord>& history, const std::string& png_path,
                          const std::string& title, const std::string& metric = "accuracy");

// One precision/recall curve per class (recall on x, precision on y, AP in the legend) into a PNG, atomically.
struct PrCurve {
  std::string label;  // e.g. "bag  AP 0.912"
  std::vector<double> recall, precision;
};
void plot_pr_curves(const std::vector<PrCurve>& curves, const std::string& png_path, const std::string& title);

}  // namespace kiln::runtime
