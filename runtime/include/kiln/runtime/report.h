// What a run tells its user: status.json events (TAO's schema, one JSON object per line), a progress bar on a
// terminal (periodic plain lines otherwise), and training curves rendered to PNG.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
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
  // The last whole event (an empty object when there is none).
  nlohmann::json last_event() const;

 private:
  std::string path_;
};

std::string format_duration(double seconds);  // "0:01:02.500000" (Python timedelta style, as TAO writes)

// What one line of a progress display shows; progress_line() fits it into a terminal's width.
struct ProgressView {
  std::string title, unit, stats;  // unit in the singular ("batch": "3/10 batches"); stats e.g. "loss 0.41 lr 0.01"
  int64_t done = 0, total = 0;
  double elapsed = 0, eta = 0;  // seconds: spent on this piece of work, left of it
  double run_eta = -1;          // seconds left of the whole run (training: every epoch after this one too); < 0: none
  bool bar = true;              // draw a bar (a terminal)
  bool final = false;           // the piece is done: elapsed time, no ETA of its own
};

// The line, at most `width` - 1 characters (a line that fills the last column makes some terminals wrap); width <= 0:
// no limit. What does not fit goes in this order: the bar, the unit, the stats, the piece's elapsed time and ETA;
// the ETA of the run (or of the piece when there is no run) stays to the last.
std::string progress_line(const ProgressView& view, int width);

// Where a Progress draws: `bar` (redrawn in place) or plain lines; `columns` 0 = the terminal's width, asked at each
// redraw (TIOCGWINSZ, else $COLUMNS, else 80) for a bar, no limit for plain lines.
struct ProgressOutput {
  std::FILE* file = stdout;
  bool bar = false;
  int columns = 0;
  static ProgressOutput standard();  // stdout; a bar when KILN_PROGRESS says so or stdout is a terminal (not mpirun's)
};

// Progress of a piece of work: a bar redrawn at most 10 times a second on a terminal, otherwise a plain line every
// ~10% or 30 s. Nothing is drawn during the first 1.5 s, so work that finishes sooner shows one final line only.
class Progress {
 public:
  Progress(std::string title, int64_t total, std::string unit = "step",
           ProgressOutput output = ProgressOutput::standard());
  // The work of the run after this piece: `later_units` more units expected to take `later_seconds` (< 0: at this
  // piece's rate). With it every line shows the run's ETA.
  void set_after(int64_t later_units, double later_seconds);
  void update(int64_t done, const std::string& stats = "");
  void finish(const std::string& stats = "");

 private:
  void emit(int64_t done, const std::string& stats, bool final);
  std::string title_, unit_;
  int64_t total_;
  ProgressOutput output_;
  std::chrono::steady_clock::time_point start_, last_print_;
  int64_t last_done_printed_ = -1;
  int64_t later_units_ = 0;
  double later_seconds_ = -1;
  bool has_run_ = false;
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
