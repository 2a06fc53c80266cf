// `kiln classification inference -m model.kiln -i images -o out [-e spec] [--batch_size N] [--annotate]`:
// classifies an image file, a folder of PNG/JPEG files (searched recursively, sorted) or an IDX images file with a
// kiln model, on one rank or many, and writes <out>/inference.csv (path,label,confidence,top5), <out>/status.json
// (TAO's events) and, with --annotate, a PNG per input with the prediction drawn in a banner. docs/inference.md is
// the user's description.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "kiln/runtime/report.h"  // StatusLog
#include "kiln/runtime/annotate.h"  // RgbImage, annotate_image, encode_png: the annotated copies
#include "kiln/runtime/tasks.h"

namespace kiln::runtime {

struct InferenceOptions {
  // spec_file (-e) is optional: without it the spec stored in the model file is used. overrides (key.path=value)
  // apply to whichever spec is used. model_path (-m) is required. rank, threads and device as for evaluate.
  // results_dir is not used (the launcher may point it at output_dir for its per-rank logs).
  RunOptions run;
  std::string input;       // -i: an image file, a directory of PNG/JPEG files, or an IDX images file (.gz or not)
  std::string output_dir;  // -o: created if needed
  int batch_size = 0;      // images per forward pass and rank; 0 = the spec's eval_config.batch_size
  bool annotate = false;   // --annotate: also write <out>/images/<name>.png
};

// What can be checked before any rank starts, on the launcher: -m/-i/-o given, -i exists, -o writable, the spec
// (-e, or the one stored in the model) valid, batch_size >= 0. Throws UsageError (exit 2) or DataError (exit 3).
// Use this instead of check_experiment_spec() for inference: inference never reads the dataset paths of the spec,
// so they need not exist.
void check_inference_options(const InferenceOptions& opts);

// Runs inference on this rank's contiguous share of the inputs; rank 0 gathers every rank's predictions (one
// all-reduce of disjoint rows, no shared filesystem needed) and writes <out>/inference.csv atomically. Annotated
// images are staged per rank and moved into <out>/images only once every rank has finished its share, so a failed
// run leaves neither a CSV nor annotated images behind. Errors name the file (and record for IDX inputs).
void run_inference(const InferenceOptions& opts);

// ---- Pieces of the above, public for tests and for detection inference ----

// Records [first, second) of n go to `rank`: contiguous, sizes differ by at most one, lower ranks get the extra.
std::pair<size_t, size_t> contiguous_shard(size_t n, int rank, int world_size);

// One input image as inference sees it.
struct InferenceItem {
  std::string source;     // file to read (image file or the IDX file)
  int64_t idx_index = -1;  // record in the IDX file; -1 for image files
  std::string column;     // the CSV's path column: the path as reached from -i, or "<idx file>#<index>"
  std::string annotated;  // relative path of the annotated PNG under <out>/images ("cat/1.png", "17.png")
};

// Lists the inputs of -i in output order. A directory is searched recursively for .png/.jpg/.jpeg files (case
// insensitive; hidden files and folders and anything under `exclude_dir`, e.g. the output dir, are skipped), sorted
// by their path relative to it (byte order). Annotated names replace the extension with .png; names that would
// collide (a.jpg and a.png) keep theirs ("a.jpg.png"). DataError for a missing path, a folder without images, an
// unknown file type, or a malformed IDX file.
std::vector<InferenceItem> list_inference_inputs(const std::string& input, const std::string& exclude_dir = "");

// <out>/status.json of an inference run, as TAO's inference writes one into its results dir: STARTED with `message`
// now; the caller writes SUCCESS (kInferenceSuccess) or FAILURE (the error). Written by rank 0 once the run has
// passed its checks and created <out>: a run refused before that (exit 2, or 3 for unreadable inputs) writes none.
StatusLog start_inference_status(const std::string& out_dir, const std::string& message);
inline constexpr char kInferenceSuccess[] = "Inference finished successfully.";

// The annotated copy of each input is annotate_image() of it (annotate.h) with the caption "<label> <confidence>".

}  // namespace kiln::runtime
