// Training curves with PLplot's cairo PNG driver. PLplot keeps global state, so plots are drawn from the main
// thread only, one stream at a time.
#include <plplot/plplot.h>

#include <algorithm>
#include <cmath>
#include <mutex>

#include "kiln/common/fs.h"
#include "kiln/common/log.h"
#include "kiln/runtime/report.h"

namespace kiln::runtime {
namespace {

struct Series {
  std::vector<PLFLT> x, y;
  int color;  // PLplot cmap0 index
  const char* label;
};

void panel(const std::vector<Series>& series, const char* ylabel, const char* title) {
  PLFLT xmin = 1e30, xmax = -1e30, ymin = 1e30, ymax = -1e30;
  for (const auto& s : series)
    for (size_t i = 0; i < s.x.size(); ++i) {
      const PLFLT y = s.y[i];
      xmin = std::min(xmin, s.x[i]), xmax = std::max(xmax, s.x[i]);
      ymin = std::min(ymin, y), ymax = std::max(ymax, y);
    }
  if (xmin > xmax) return;
  if (xmax - xmin < 1) xmax = xmin + 1;
  const PLFLT pad = std::max<PLFLT>((ymax - ymin) * 0.08, 1e-3);
  plcol0(15);
  plenv(xmin, xmax, ymin - pad, ymax + pad, 0, 0);
  pllab("epoch", ylabel, title);
  PLFLT legend_y = 0.92;
  for (const auto& s : series) {
    if (s.x.empty()) continue;
    std::vector<PLFLT> y = s.y;
    plcol0(s.color);
    plwidth(2);
    if (s.x.size() > 1) plline(static_cast<PLINT>(s.x.size()), s.x.data(), y.data());
    plpoin(static_cast<PLINT>(s.x.size()), s.x.data(), y.data(), 4);
    plptex(xmin + (xmax - xmin) * 0.97, ymin - pad + (ymax - ymin + 2 * pad) * legend_y, 1, 0, 1, s.label);
    legend_y -= 0.08;
  }
}

}  // namespace

void plot_training_curves(const std::vector<EpochRecord>& history, const std::string& png_path,
                          const std::string& title, const std::string& metric) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  Series train_loss{{}, {}, 1, "train"}, val_loss{{}, {}, 9, "val"};
  Series train_acc{{}, {}, 1, "train"}, val_acc{{}, {}, 9, "val"}, lr{{}, {}, 3, "lr"};
  for (const auto& r : history) {
    const PLFLT e = static_cast<PLFLT>(r.epoch);
    train_loss.x.push_back(e), train_loss.y.push_back(r.train_loss);
    if (r.train_accuracy >= 0) train_acc.x.push_back(e), train_acc.y.push_back(r.train_accuracy);
    lr.x.push_back(e), lr.y.push_back(r.lr);
    if (r.val_accuracy >= 0) {
      val_loss.x.push_back(e), val_loss.y.push_back(r.val_loss);
      val_acc.x.push_back(e), val_acc.y.push_back(r.val_accuracy);
    }
  }
  try {
    atomic_write_via(png_path, [&](const std::string& tmp) {
      plsdev("pngcairo");
      plsfnam(tmp.c_str());
      plspage(0, 0, 1500, 500, 0, 0);
      plscolbg(255, 255, 255);
      plscol0(15, 0, 0, 0);
      plssub(3, 1);
      plinit();
      panel({train_loss, val_loss}, "loss", title.c_str());
      panel({train_acc, val_acc}, metric.c_str(), "");
      panel({lr}, "learning rate (end of epoch)", "");
      plend();
    });
  } catch (const std::exception& e) {
    // A plot is a convenience: failing to draw one must not fail the training run.
    log::warn(std::string("could not write training curves to ") + png_path + ": " + e.what());
  }
}

void plot_pr_curves(const std::vector<PrCurve>& curves, const std::string& png_path, const std::string& title) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  try {
    atomic_write_via(png_path, [&](const std::string& tmp) {
      plsdev("pngcairo");
      plsfnam(tmp.c_str());
      plspage(0, 0, 900, 700, 0, 0);
      plscolbg(255, 255, 255);
      plscol0(15, 0, 0, 0);
      plinit();
      plcol0(15);
      plenv(0, 1, 0, 1.05, 0, 0);
      // A long title (evaluate's model summary) is drawn smaller so that it fits the 900-pixel width.
      constexpr size_t kTitleChars = 70;
      if (title.size() > kTitleChars) plschr(0, static_cast<PLFLT>(kTitleChars) / static_cast<PLFLT>(title.size()));
      pllab("recall", "precision", title.c_str());
      plschr(0, 1);
      // Ten colours that read on white (matplotlib's tab10) in cmap0 entries 1-10; 15 stays black.
      constexpr int kPalette[10][3] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},
                                       {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {127, 127, 127},
                                       {188, 189, 34}, {23, 190, 207}};
      for (PLINT i = 0; i < 10; ++i) plscol0(i + 1, kPalette[i][0], kPalette[i][1], kPalette[i][2]);
      constexpr PLINT kColours[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
      PLFLT legend_y = 0.35;
      for (size_t i = 0; i < curves.size(); ++i) {
        const PrCurve& c = curves[i];
        plcol0(kColours[i % 10]);
        plwidth(2);
        if (!c.recall.empty()) {
          std::vector<PLFLT> x(c.recall.begin(), c.recall.end()), y(c.precision.begin(), c.precision.end());
          plline(static_cast<PLINT>(x.size()), x.data(), y.data());
        }
        plptex(0.03, legend_y, 1, 0, 0, c.label.c_str());
        legend_y -= 0.032;
      }
      plend();
    });
  } catch (const std::exception& e) {
    log::warn(std::string("could not write precision/recall curves to ") + png_path + ": " + e.what());
  }
}

}  // namespace kiln::runtime
