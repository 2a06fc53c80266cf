// Grid outputs → candidates → clustered detections (postprocess.h).
#include "kiln/detection/postprocess.h"

#include "kiln/common/error.h"
#include "kiln/common/log.h"

namespace kiln::detection {

std::vector<Detection> detections_from_grids(const RasterizerConfig& grid, const float* cov, const float* bbox,
                                             const std::vector<ClusteringConfig>& clustering) {
  const int C = static_cast<int>(grid.classes.size()), H = grid.output_height, W = grid.output_width;
  if (clustering.size() != grid.classes.size())
    throw Error(log::cat("postprocessing: ", clustering.size(), " clustering configs for ", C, " classes"));
  const size_t plane = static_cast<size_t>(H) * static_cast<size_t>(W);
  std::vector<Detection> out;
  for (int c = 0; c < C; ++c) {
    const ClusteringConfig& cc = clustering[static_cast<size_t>(c)];
    const float* cov_c = cov + static_cast<size_t>(c) * plane;
    const float* bbox_c = bbox + static_cast<size_t>(c) * 4 * plane;
    std::vector<Candidate> candidates;
    for (int i = 0; i < H; ++i)
      for (int j = 0; j < W; ++j) {
        const size_t k = static_cast<size_t>(i) * static_cast<size_t>(W) + static_cast<size_t>(j);
        if (!(cov_c[k] > cc.coverage_threshold)) continue;
        candidates.push_back({decode_cell(grid, i, j, bbox_c[k], bbox_c[plane + k], bbox_c[2 * plane + k],
                                          bbox_c[3 * plane + k]),
                              cov_c[k]});
      }
    std::vector<Detection> found = cluster_candidates(candidates, cc, c);
    out.insert(out.end(), found.begin(), found.end());
  }
  return out;
}

}  // namespace kiln::detection
