// Training curves and precision/recall curves with PLplot's cairo PNG driver. PLplot keeps global state, so plots
// are drawn one stream at a time, under a mutex.
#include <plplot/plplot.h>

#include <algorithm>
#include <cmath>
#include <mutex>

#include "kiln/common/fs.h"
#include "kiln/common/log.h"
#include "kiln/runtime/report.h"

namespace kiln::runtime {
namespace {

// cmap0 entries set by begin_page: 0 white (background), 1-10 matplotlib's tab10, 11 grid grey, 15 black.
constexpr PLINT kBlack = 15, kGrid = 11, kTrainColour = 1, kValColour = 2, kLrColour = 3;
constexpr PLINT kSolid = 1, kDashed = 3;  // pllsty patterns
// Characters have a fixed size in pixels (PLplot's default grows with the page): kCharMm at pngcairo's 72 dpi,
// times these plschr scales.
constexpr PLFLT kCharMm = 6.8, kDpi = 72, kTextScale = 0.75, kTitleScale = 0.9, kMarkerScale = 0.55;
constexpr PLFLT kCharWidth = 0.75;  // in character heights, an estimate: PLplot cannot measure text
constexpr PLFLT kLegendRow = 1.8;  // legend rows apart, in character heights
constexpr size_t kMostMarkers = 25;  // per series; a longer one marks every n-th point
constexpr const char* kFilledCircle = "●";
constexpr const char* kOpenCircle = "○";

struct Series {
  std::vector<PLFLT> x, y;
  PLINT colour, style;
  const char* marker;  // UTF-8 glyph drawn at the points (nullptr: none)
  std::string label;
};

struct Range {
  PLFLT lo, hi;
};

// Viewport of a panel, in fractions of the page.
struct Box {
  PLFLT left, right, bottom, top;
};

// PLplot reads '#' as the start of an escape sequence; user text gets it doubled.
std::string plain(const std::string& text) {
  std::string out;
  for (char c : text) out += c == '#' ? std::string("##") : std::string(1, c);
  return out;
}

// The character height in pixels at plschr scale `scale`; kCharWidth of it is a generous width of a character.
PLFLT em_pixels(PLFLT scale) { return kCharMm * scale * kDpi / 25.4; }

void begin_page(const std::string& file, PLINT width, PLINT height) {
  plsdev("pngcairo");
  plsfnam(file.c_str());
  plspage(0, 0, width, height, 0, 0);
  plscolbg(255, 255, 255);
  constexpr int kPalette[10][3] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},
                                   {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {127, 127, 127},
                                   {188, 189, 34}, {23, 190, 207}};
  for (PLINT i = 0; i < 10; ++i) plscol0(i + 1, kPalette[i][0], kPalette[i][1], kPalette[i][2]);
  plscol0(kGrid, 222, 222, 222);
  plscol0(kBlack, 0, 0, 0);
  plinit();
  pladv(0);
  plschr(kCharMm, kTextScale);
  plsmaj(0, 0.6);  // shorter ticks
  plsmin(0, 0.6);
}

// The figure's title, centred across the top of the page (`width` pixels), smaller when it would not fit.
void page_title(const std::string& title, PLFLT from_top, PLFLT width) {
  plvpor(0, 1, 0, 1);
  plwind(0, 1, 0, 1);
  plcol0(kBlack);
  const PLFLT fits = 0.9 * width / (kCharWidth * em_pixels(kTitleScale)), chars = static_cast<PLFLT>(title.size());
  plschr(0, kTitleScale * std::min<PLFLT>(1, fits / chars));
  plptex(0.5, 1 - from_top, 1, 0, 0.5, plain(title).c_str());
  plschr(0, kTextScale);
}

// The epochs' range, one epoch either side of a single one, a little margin otherwise.
Range epoch_range(const std::vector<EpochRecord>& history) {
  if (history.empty()) return {0, 2};
  PLFLT first = HUGE_VAL, last = -HUGE_VAL;
  for (const EpochRecord& r : history)
    first = std::min(first, static_cast<PLFLT>(r.epoch)), last = std::max(last, static_cast<PLFLT>(r.epoch));
  const PLFLT pad = last > first ? std::max<PLFLT>(0.5, (last - first) * 0.03) : 1;
  return {first - pad, last + pad};
}

// A 1-2-5 tick step that keeps at most 8 labels on the axis (integers: epochs).
PLFLT epoch_step(Range r) {
  for (PLFLT decade = 1;; decade *= 10)
    for (PLFLT m : {1, 2, 5})
      if ((r.hi - r.lo) / (m * decade) <= 8) return m * decade;
}

// The values' range with a margin; a flat series gets a band around its value.
Range value_range(const std::vector<Series>& series) {
  PLFLT lo = HUGE_VAL, hi = -HUGE_VAL;
  for (const Series& s : series)
    for (PLFLT y : s.y) lo = std::min(lo, y), hi = std::max(hi, y);
  if (lo > hi) return {0, 1};
  const PLFLT pad = hi > lo ? (hi - lo) * 0.08 : (hi != 0 ? std::abs(hi) * 0.1 : 0.1);
  return {lo - pad, hi + pad};
}

// The power of ten that brings values of magnitude `peak` into [1, 10000) (0 when they are there or close), so
// PLplot never writes its own exponent beside the axis: the factor goes into the axis label instead.
int label_exponent(PLFLT peak) {
  if (!(peak > 0) || (peak >= 0.1 && peak < 10000)) return 0;  // PLplot writes an exponent for 0.0x itself
  return static_cast<int>(std::floor(std::log10(peak)));
}

void draw_series(const Series& s, size_t marker_every) {
  if (s.x.empty()) return;
  plcol0(s.colour);
  plwidth(2);
  pllsty(s.style);
  if (s.x.size() > 1) plline(static_cast<PLINT>(s.x.size()), s.x.data(), s.y.data());
  pllsty(kSolid);
  const char* marker = s.marker ? s.marker : s.x.size() == 1 ? kFilledCircle : nullptr;  // a lone point shows
  if (!marker) return;
  std::vector<PLFLT> mx, my;
  marker_every = std::max<size_t>(1, marker_every);
  for (size_t i = 0; i < s.x.size(); i += marker_every) mx.push_back(s.x[i]), my.push_back(s.y[i]);
  if (s.x.size() > 1 && (s.x.size() - 1) % marker_every != 0) mx.push_back(s.x.back()), my.push_back(s.y.back());
  plschr(0, kMarkerScale);
  plstring(static_cast<PLINT>(mx.size()), mx.data(), my.data(), marker);
  plschr(0, kTextScale);
}

// The character height in fractions of the current viewport's width and height.
struct Em {
  PLFLT x, y;
};
Em char_size() {
  PLFLT unused, mm, vx0, vx1, vy0, vy1, sx0, sx1, sy0, sy1;
  plgchr(&unused, &mm);
  plgvpd(&vx0, &vx1, &vy0, &vy1);
  plgspa(&sx0, &sx1, &sy0, &sy1);
  return {mm / ((sx1 - sx0) * (vx1 - vx0)), mm / ((sy1 - sy0) * (vy1 - vy0))};
}

// Legend entries drawn by hand (pllegend overestimates cairo's text widths and spreads entries far apart): a
// sample of the line with its marker, then the label. Positions and widths are in a 0..1 window.
void legend_entry(const Series& s, PLFLT x, PLFLT y, PLFLT em) {
  PLFLT lx[] = {x, x + 4 * em}, ly[] = {y, y}, mx[] = {x + 2 * em};
  draw_series({{lx, lx + 2}, {ly, ly + 2}, s.colour, s.style, nullptr, ""}, 1);
  if (s.marker) {
    plschr(0, kMarkerScale);
    plstring(1, mx, ly, s.marker);
    plschr(0, kTextScale);
  }
  plcol0(kBlack);
  plptex(x + 4.8 * em, y, 1, 0, 0, s.label.c_str());
}

// In units of `em`.
PLFLT legend_entry_width(const Series& s, PLFLT em) {
  return (5.8 + kCharWidth * static_cast<PLFLT>(s.label.size())) * em;
}

// One row of entries in the band above the panel `box`, outside the data.
void legend_above(const std::vector<Series>& series, Box box, PLFLT band) {
  plvpor(box.left, box.right, box.top, box.top + band);
  plwind(0, 1, 0, 1);
  const PLFLT em = char_size().x;
  PLFLT x = 0;
  for (const Series& s : series) legend_entry(s, x, 0.5, em), x += legend_entry_width(s, em);
}

// Columns of `rows` entries, `column` pixels wide, in `box` from its top left corner.
void legend_columns(const std::vector<Series>& series, Box box, size_t rows, PLFLT column, PLFLT page_width) {
  plvpor(box.left, box.right, box.bottom, box.top);
  plwind(0, 1, 0, 1);
  const Em em = char_size();
  const PLFLT step = column / (page_width * (box.right - box.left));
  for (size_t i = 0; i < series.size(); ++i)
    legend_entry(series[i], static_cast<PLFLT>(i / rows) * step,
                 1 - (static_cast<PLFLT>(i % rows) + 0.5) * kLegendRow * em.y, em.x);
}

// Light grid lines under the data, then the frame, ticks and labels over it.
void frame(Range x, PLFLT x_step, Range y, PLFLT y_step, const std::string& xlabel, const std::string& ylabel) {
  plwind(x.lo, x.hi, y.lo, y.hi);
  plwidth(1);
  plcol0(kGrid);
  plbox("g", x_step, 0, "g", y_step, 0);
  plcol0(kBlack);
  plbox("bnt", x_step, 0, "bnstv", y_step, 0);
  plbox("c", 0, 0, "c", 0, 0);
  plmtex("b", 3.0, 0.5, 0.5, xlabel.c_str());
  plmtex("l", 4.6, 0.5, 0.5, ylabel.c_str());
}

// "⁻⁴" for -4.
std::string superscript(int n) {
  static const char* const kDigits[] = {"⁰", "¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹"};
  std::string out = n < 0 ? "⁻" : "";
  for (char c : std::to_string(std::abs(n))) out += kDigits[c - '0'];
  return out;
}

// One panel of the training curves: the series against epoch in `box`, scaled so the y labels carry no exponent.
void epoch_panel(std::vector<Series> series, Box box, Range x, std::string ylabel) {
  constexpr PLFLT kLegendBand = 0.07;
  Range y = value_range(series);
  const int e = label_exponent(std::max(std::abs(y.lo), std::abs(y.hi)));
  if (e != 0) {
    const PLFLT f = std::pow(10.0, -e);
    for (Series& s : series)
      for (PLFLT& v : s.y) v *= f;
    y = {y.lo * f, y.hi * f};
    ylabel += " (×10" + superscript(e) + ")";
  }
  plvpor(box.left, box.right, box.bottom, box.top);
  frame(x, epoch_step(x), y, 0, "epoch", ylabel);
  size_t longest = 0;
  for (const Series& s : series) longest = std::max(longest, s.x.size());
  if (longest == 0) plptex((x.lo + x.hi) / 2, (y.lo + y.hi) / 2, 1, 0, 0.5, "no data yet");
  for (const Series& s : series) draw_series(s, (s.x.size() + kMostMarkers - 1) / kMostMarkers);
  // The legend names what is drawn (a run without validation shows no "validation"), or what will be.
  if (longest > 0)
    series.erase(std::remove_if(series.begin(), series.end(), [](const Series& s) { return s.x.empty(); }),
                 series.end());
  if (!series.front().label.empty()) legend_above(series, box, kLegendBand);
}

void add(Series& s, int64_t epoch, double value) {
  if (std::isfinite(value)) s.x.push_back(static_cast<PLFLT>(epoch)), s.y.push_back(value);
}

}  // namespace

void plot_training_curves(const std::vector<EpochRecord>& history, const std::string& png_path,
                          const std::string& title, const std::string& metric) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  Series train_loss{{}, {}, kTrainColour, kSolid, kFilledCircle, "train"};
  Series val_loss{{}, {}, kValColour, kDashed, kOpenCircle, "validation"};
  Series train_acc = train_loss, val_acc = val_loss, lr{{}, {}, kLrColour, kSolid, kFilledCircle, ""};
  for (const auto& r : history) {
    add(train_loss, r.epoch, r.train_loss), add(lr, r.epoch, r.lr);
    if (r.train_accuracy >= 0) add(train_acc, r.epoch, r.train_accuracy);
    if (r.val_accuracy >= 0) add(val_loss, r.epoch, r.val_loss), add(val_acc, r.epoch, r.val_accuracy);
  }
  std::vector<Series> middle{val_acc};
  if (!train_acc.x.empty()) middle.insert(middle.begin(), train_acc);
  // 1500x520 pixels: the title across the top, three panels side by side, each with its legend above it.
  constexpr PLFLT kWidth = 1500, kHeight = 520, kTop = 1 - 90 / kHeight, kBottom = 70 / kHeight;
  const auto box = [&](int i) { return Box{(i * 500 + 105) / kWidth, ((i + 1) * 500 - 25) / kWidth, kBottom, kTop}; };
  const Range x = epoch_range(history);
  try {
    atomic_write_via(png_path, [&](const std::string& tmp) {
      begin_page(tmp, static_cast<PLINT>(kWidth), static_cast<PLINT>(kHeight));
      page_title(title, 30 / kHeight, kWidth);
      epoch_panel({train_loss, val_loss}, box(0), x, "loss");
      epoch_panel(middle, box(1), x, plain(metric));
      epoch_panel({lr}, box(2), x, "learning rate, end of epoch");
      plend();
    });
  } catch (const std::exception& e) {
    // A plot is a convenience: failing to draw one must not fail the training run.
    log::warn(std::string("could not write training curves to ") + png_path + ": " + e.what());
  }
}

namespace {

// One curve per class: tab10 colours and four line styles, so up to 20 classes differ in colour or style.
std::vector<Series> pr_series(const std::vector<PrCurve>& curves) {
  constexpr PLINT kStyles[] = {1, 3, 2, 5};
  std::vector<Series> series;
  for (size_t i = 0; i < curves.size(); ++i) {
    const PrCurve& c = curves[i];
    const size_t n = std::min(c.recall.size(), c.precision.size());
    series.push_back({{c.recall.begin(), c.recall.begin() + static_cast<std::ptrdiff_t>(n)},
                      {c.precision.begin(), c.precision.begin() + static_cast<std::ptrdiff_t>(n)},
                      static_cast<PLINT>(1 + i % 10), kStyles[i % 4], nullptr, plain(c.label)});
  }
  return series;
}

// The legend's column width in pixels (the longest entry and a gap).
PLFLT legend_column_pixels(const std::vector<Series>& series) {
  PLFLT widest = 0;
  for (const Series& s : series) widest = std::max(widest, legend_entry_width(s, em_pixels(kTextScale)));
  return widest + em_pixels(kTextScale);
}

}  // namespace

void plot_pr_curves(const std::vector<PrCurve>& curves, const std::string& png_path, const std::string& title) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  const std::vector<Series> series = pr_series(curves);
  // A 560-pixel square plot, the legend to its right in as many columns as its entries need.
  constexpr PLFLT kSide = 560, kLeft = 100, kBottom = 70, height = kSide + kBottom + 70;
  const auto rows = static_cast<size_t>(kSide / (kLegendRow * em_pixels(kTextScale)));
  const size_t columns = std::max<size_t>(1, (series.size() + rows - 1) / rows);
  const PLFLT column = legend_column_pixels(series), legend_left = kLeft + kSide + 30;
  const PLFLT width = std::max<PLFLT>(legend_left + static_cast<PLFLT>(columns) * column, 900);
  try {
    atomic_write_via(png_path, [&](const std::string& tmp) {
      begin_page(tmp, static_cast<PLINT>(width), static_cast<PLINT>(height));
      page_title(title, 30 / height, width);
      plvpor(kLeft / width, (kLeft + kSide) / width, kBottom / height, (kBottom + kSide) / height);
      frame({0, 1.01}, 0.1, {0, 1.01}, 0.1, "recall", "precision");
      for (const Series& s : series) draw_series(s, 1);
      legend_columns(series, {legend_left / width, 1, kBottom / height, (kBottom + kSide) / height}, rows, column,
                     width);
      plend();
    });
  } catch (const std::exception& e) {
    log::warn(std::string("could not write precision/recall curves to ") + png_path + ": " + e.what());
  }
}

}  // namespace kiln::runtime
