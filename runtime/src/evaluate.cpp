#include "kiln/runtime/evaluate.h"

#include <ATen/ATen.h>
#include <torch/nn/functional/loss.h>

#include <algorithm>
#include <filesystem>
#include <tuple>
#include <iomanip>
#include <numeric>
#include <sstream>

#include "kiln/common/fs.h"
#include "kiln/runtime/distributed.h"

namespace kiln::runtime {

void EvalCounts::add(const at::Tensor& logits, const at::Tensor& labels, int top_k) {
  const int64_t classes = logits.size(1);
  if (!confusion.defined()) confusion = at::zeros({classes, classes}, at::kLong);
  loss_sum += at::cross_entropy_loss(logits, labels, {}, at::Reduction::Sum).item<double>();
  const int k = static_cast<int>(std::min<int64_t>(top_k, classes));
  const at::Tensor topk = std::get<1>(logits.topk(k, 1));
  const at::Tensor hits = topk.eq(labels.unsqueeze(1));
  correct_top1 += hits.select(1, 0).sum().item<int64_t>();
  correct_topk += hits.any(1).sum().item<int64_t>();
  const at::Tensor flat = labels * classes + topk.select(1, 0);
  confusion.view(-1).add_(at::bincount(flat, {}, classes * classes));
  count += labels.size(0);
}

void EvalCounts::all_reduce(Distributed& dist, int64_t num_classes) {
  if (dist.world_size() == 1) return;
  if (!confusion.defined()) confusion = at::zeros({num_classes, num_classes}, at::kLong);
  at::Tensor scalars = at::tensor({static_cast<double>(count), static_cast<double>(correct_top1),
                                   static_cast<double>(correct_topk), loss_sum}, at::kDouble);
  dist.sum(scalars);
  dist.sum(confusion);
  count = static_cast<int64_t>(scalars[0].item<double>());
  correct_top1 = static_cast<int64_t>(scalars[1].item<double>());
  correct_topk = static_cast<int64_t>(scalars[2].item<double>());
  loss_sum = scalars[3].item<double>();
}

c10::Device model_device(const torch::nn::Module& net) {
  const auto params = net.parameters();
  return params.empty() ? c10::Device(c10::kCPU) : params.front().device();
}

std::vector<size_t> shard_indices(size_t n, int rank, int world_size) {
  std::vector<size_t> out;
  for (size_t i = static_cast<size_t>(rank); i < n; i += static_cast<size_t>(world_size)) out.push_back(i);
  return out;
}

EvalCounts evaluate_counts(networks::Network& net, const data::Dataset& ds, const data::Augmentation& transform,
                           int64_t batch_size, int top_k, int workers, std::vector<size_t> indices) {
  data::LoaderOptions opts;
  opts.batch_size = static_cast<size_t>(batch_size);
  opts.num_workers = workers;
  opts.drop_last = false;
  opts.augment = transform;
  data::Loader loader(ds, std::move(indices), opts);
  const bool was_training = net.is_training();
  net.eval();
  at::NoGradGuard no_grad;
  EvalCounts counts;
  const c10::Device device = model_device(net);
  while (auto batch = loader.next())
    counts.add(net.forward(batch->images.to(device, /*non_blocking=*/true)).cpu(), batch->labels, top_k);
  if (!counts.confusion.defined()) counts.confusion = at::zeros({ds.num_classes(), ds.num_classes()}, at::kLong);
  net.train(was_training);
  return counts;
}

Metrics Metrics::from_counts(const EvalCounts& c, int top_k, std::vector<std::string> class_names) {
  Metrics m;
  m.count = c.count;
  m.top_k = top_k;
  const double n = std::max<int64_t>(1, c.count);
  m.loss = c.loss_sum / n;
  m.top1 = c.correct_top1 / n;
  m.topk = c.correct_topk / n;
  m.confusion = c.confusion;
  m.class_names = std::move(class_names);
  const auto conf = c.confusion.accessor<int64_t, 2>();
  for (int64_t i = 0; i < c.confusion.size(0); ++i) {
    int64_t row = 0;
    for (int64_t j = 0; j < c.confusion.size(1); ++j) row += conf[i][j];
    m.per_class.push_back(row ? static_cast<double>(conf[i][i]) / row : -1.0);
  }
  return m;
}

namespace {
std::string class_name(const Metrics& m, size_t i) {
  return i < m.class_names.size() ? m.class_names[i] : std::to_string(i);
}
}  // namespace

nlohmann::json Metrics::to_json() const {
  nlohmann::json per = nlohmann::json::object();
  for (size_t i = 0; i < per_class.size(); ++i) per[class_name(*this, i)] = per_class[i];
  std::vector<std::vector<int64_t>> rows;
  for (int64_t i = 0; i < confusion.size(0); ++i) {
    auto row = confusion[i].contiguous();
    rows.emplace_back(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + row.numel());
  }
  return {{"num_samples", count},
          {"loss", loss},
          {"top1_accuracy", top1},
          {"top" + std::to_string(top_k) + "_accuracy", topk},
          {"per_class_accuracy", per},
          {"confusion_matrix", rows},
          {"class_names", class_names}};
}

std::string Metrics::table() const {
  std::ostringstream os;
  os << std::fixed << std::setprecision(4);
  os << "Evaluated " << count << " images: top-1 accuracy " << top1 << ", top-" << top_k << " accuracy " << topk
     << ", loss " << loss << "\n";
  os << "  class            accuracy\n";
  for (size_t i = 0; i < per_class.size(); ++i)
    os << "  " << std::left << std::setw(16) << class_name(*this, i) << " " << per_class[i] << "\n";
  return os.str();
}

namespace {
constexpr int kMostConfused = 10;

std::string matrix_rows(const Metrics& m) {
  const auto a = m.confusion.accessor<int64_t, 2>();
  const int64_t n = m.confusion.size(0);
  int64_t largest = 0;
  size_t label = 4;
  for (int64_t i = 0; i < n; ++i) {
    label = std::max(label, class_name(m, static_cast<size_t>(i)).size());
    for (int64_t j = 0; j < n; ++j) largest = std::max(largest, a[i][j]);
  }
  const int cell = std::max<int>(5, static_cast<int>(std::to_string(largest).size())) + 1;
  std::ostringstream os;
  os << std::left << std::setw(static_cast<int>(label)) << "true" << std::right;
  for (int64_t j = 0; j < n; ++j)
    os << std::setw(cell) << class_name(m, static_cast<size_t>(j)).substr(0, static_cast<size_t>(cell - 1));
  for (int64_t i = 0; i < n; ++i) {
    os << "\n" << std::left << std::setw(static_cast<int>(label)) << class_name(m, static_cast<size_t>(i))
       << std::right;
    for (int64_t j = 0; j < n; ++j) os << std::setw(cell) << a[i][j];
  }
  return os.str();
}

std::string most_confused(const Metrics& m) {
  const auto a = m.confusion.accessor<int64_t, 2>();
  std::vector<std::tuple<int64_t, int64_t, int64_t>> off;  // (count, true, predicted)
  for (int64_t i = 0; i < m.confusion.size(0); ++i)
    for (int64_t j = 0; j < m.confusion.size(1); ++j)
      if (i != j && a[i][j] > 0) off.emplace_back(a[i][j], i, j);
  std::sort(off.begin(), off.end(), [](const auto& x, const auto& y) { return std::get<0>(x) > std::get<0>(y); });
  std::ostringstream os;
  os << "most frequent confusions (true -> predicted):";
  for (size_t k = 0; k < off.size() && k < static_cast<size_t>(kMostConfused); ++k)
    os << "\n  " << class_name(m, static_cast<size_t>(std::get<1>(off[k]))) << " -> "
       << class_name(m, static_cast<size_t>(std::get<2>(off[k]))) << ": " << std::get<0>(off[k]);
  if (off.empty()) os << " none";
  return os.str();
}
}  // namespace

std::string Metrics::confusion_table(const std::string& csv_path) const {
  if (confusion.size(0) <= kMaxPrintedClasses)
    return "Confusion matrix (rows: true class, columns: predicted; also in " + csv_path + "):\n" + matrix_rows(*this);
  return "Confusion matrix: " + std::to_string(confusion.size(0)) +
         " classes, too many to print; the full matrix is in " + csv_path + "; " + most_confused(*this);
}

void write_metrics(const Metrics& m, const std::string& dir) {
  std::filesystem::create_directories(dir);
  atomic_write_string(dir + "/metrics.json", m.to_json().dump(2) + "\n");
  std::ostringstream per, conf;
  per << "class,accuracy\n";
  for (size_t i = 0; i < m.per_class.size(); ++i) per << class_name(m, i) << "," << m.per_class[i] << "\n";
  conf << "true\\predicted";
  for (size_t j = 0; j < static_cast<size_t>(m.confusion.size(1)); ++j) conf << "," << class_name(m, j);
  conf << "\n";
  const auto a = m.confusion.accessor<int64_t, 2>();
  for (int64_t i = 0; i < m.confusion.size(0); ++i) {
    conf << class_name(m, static_cast<size_t>(i));
    for (int64_t j = 0; j < m.confusion.size(1); ++j) conf << "," << a[i][j];
    conf << "\n";
  }
  atomic_write_string(dir + "/per_class_accuracy.csv", per.str());
  atomic_write_string(dir + "/confusion_matrix.csv", conf.str());
}

}  // namespace kiln::runtime
