// TAO's status.json vocabulary in one place: what TAO's dashboards, the TAO API's status parser and AutoML read from
// each line of <results>/status.json, and the events kiln builds from it. Checked against NVIDIA's public sources
// (docs/formats.md, "status.json", cites them): nvidia_tao_tf1/cv/common/logging/logging.py (StatusLogger: date,
// time, status, verbosity, message, categorical, graphical, kpi), nvidia_tao_tf1/cv/common/callbacks/loggers.py
// (TAOStatusLogger and its KEY_MAP: epoch events of classification), nvidia_tao_tf1/cv/detectnet_v2
// (evaluation.py print_metrics and tfhooks/task_progress_monitor_hook.py: DetectNet_v2's), and the TAO API's
// StatusParser / AutoML metric table (tao_front_end_services: "validation_accuracy" for classification_tf1,
// "mean average precision" for detectnet_v2).
#pragma once
#include <cstdint>
#include <ctime>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/runtime/report.h"

namespace kiln::runtime {

namespace tao {
// graphical (curves) and kpi keys, as TAO's KEY_MAP spells Keras' log names.
inline constexpr char kLoss[] = "loss";
inline constexpr char kTrainingAccuracy[] = "training_accuracy";
inline constexpr char kValidationLoss[] = "validation_loss";
inline constexpr char kValidationAccuracy[] = "validation_accuracy";
inline constexpr char kLearningRate[] = "learning_rate";
inline constexpr char kMeanAveragePrecision[] = "mean average precision";  // DetectNet_v2, in percent
inline constexpr char kAveragePrecision[] = "average_precision";          // categorical: class -> AP in percent
inline constexpr char kTopKAccuracy[] = "top_k_accuracy";                  // classification evaluate
}  // namespace tao

// One status.json line: {date "M/D/YYYY", time "H:M:S" (local, not zero-padded, as TAO's StatusLogger writes them),
// status, verbosity (INFO; ERROR for FAILURE; `fields` may set WARNING), message} plus `fields`. Empty kpi, graphical
// and categorical objects are left out, as TAO leaves them out.
nlohmann::json status_event(StatusLog::Status status, const std::string& message, const nlohmann::json& fields,
                            std::time_t now);

// The progress part of an epoch event: epoch (1-based, completed), max_epoch, time_per_epoch and eta as Python's
// str(timedelta) (eta = the epochs left x this epoch's time, as TAO computes it).
nlohmann::json epoch_progress(int64_t epoch, int64_t max_epoch, double seconds_per_epoch);

// Classification (TAO's TAOStatusLogger over Keras' logs). graphical: loss, training_accuracy, learning_rate and,
// when validated, validation_loss and validation_accuracy. kpi per epoch: training_accuracy and validation_accuracy
// (the "acc" logs). Final kpi: validation_loss and validation_accuracy of the last validated epoch.
nlohmann::json classification_graphical(const EpochRecord& r);
nlohmann::json classification_kpi(const EpochRecord& r);
nlohmann::json classification_final_kpi(const std::vector<EpochRecord>& history);

// DetectNet_v2. graphical: loss, learning_rate (and mean average precision when validated); kpi: mean average
// precision in percent when validated (EpochRecord::val_accuracy holds the mAP as a fraction); categorical:
// average_precision per class in percent (classes without ground truth left out).
nlohmann::json detection_graphical(const EpochRecord& r);
nlohmann::json detection_kpi(const EpochRecord& r);
nlohmann::json detection_map_kpi(double map);  // {"mean average precision": percent}; NaN (no ground truth): empty
nlohmann::json detection_final_kpi(const std::vector<EpochRecord>& history);
nlohmann::json detection_categorical(const std::vector<std::pair<std::string, double>>& class_ap);

}  // namespace kiln::runtime
