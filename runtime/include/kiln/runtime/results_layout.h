// The results folder (-r) of a kiln run, as TAO lays it out: every file name a run writes is spelled here once.
//   status.json                  status events (report.h: StatusLog)
//   logs/                        per-rank logs written by the launcher
//   checkpoints/<arch>_epoch_NNN.kiln and checkpoints/latest (the newest checkpoint's name)
//   model.kiln                   the final model (weights, architecture, classes, spec)
//   training_history.csv, training.csv (TAO's Keras CSVLogger layout), training_curves.png
//   evaluation/                  metrics of evaluate (and of detection's validation)
// Torch-free, so the launcher can use it.
#pragma once
#include <cstdint>
#include <string>

namespace kiln::runtime {

class ResultsLayout {
 public:
  explicit ResultsLayout(std::string dir);
  // The folder a subtask reports into: `given` (-r) when set, else the folder holding `beside` (the model or output
  // file), else the working directory ".".
  static ResultsLayout resolve(const std::string& given, const std::string& beside);

  const std::string& dir() const { return dir_; }
  std::string status() const;
  std::string logs() const;
  std::string checkpoints() const;
  std::string latest_pointer() const;
  std::string checkpoint_name(const std::string& arch, int64_t epoch) const;  // "<arch>_epoch_NNN.kiln"
  // A checkpoint inside an epoch: `epoch` epochs done, at global step `step`: "<arch>_epoch_NNN_step_SSSSSSS.kiln".
  std::string checkpoint_name(const std::string& arch, int64_t epoch, int64_t step) const;
  std::string model() const;
  std::string history() const;
  std::string training_csv() const;  // TAO's training.csv (Keras CSVLogger layout), beside kiln's history
  std::string curves() const;
  std::string evaluation() const;

 private:
  std::string path(const char* name) const;
  std::string dir_;
};

// Removes the temp files of atomic writes that killed writers left in the results folder and in checkpoints/ (a
// checkpoint, `latest`, the history or curves of a run killed mid-write) and logs each one. Rank 0 calls it when a
// run starts; a temp file whose writer is still alive is kept (kiln/common/fs.h: remove_stale_temp_files).
void remove_stale_temp_files(const ResultsLayout& results);

}  // namespace kiln::runtime
