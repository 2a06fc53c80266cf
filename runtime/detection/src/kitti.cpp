// KITTI label files: parsing with file:line errors, and formatting (kitti.h).
#include "kiln/detection/kitti.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "kiln/common/error.h"
#include "kiln/common/log.h"

namespace kiln::detection {

float iou(const Box& a, const Box& b) {
  const float iw = std::min(a.x2, b.x2) - std::max(a.x1, b.x1);
  const float ih = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
  if (iw <= 0 || ih <= 0) return 0.f;
  const float inter = iw * ih;
  const float uni = a.area() + b.area() - inter;
  return uni > 0 ? inter / uni : 0.f;
}

namespace {

constexpr const char* kFieldNames[16] = {"type", "truncated", "occluded", "alpha", "x1", "y1", "x2", "y2",
                                         "h",    "w",         "l",        "x",     "y",  "z",  "rotation_y",
                                         "score"};

float parse_number(const std::string& token, int field, const std::string& where) {
  const char* s = token.c_str();
  char* end = nullptr;
  errno = 0;
  const float v = std::strtof(s, &end);
  if (end == s || *end != '\0' || errno == ERANGE || !std::isfinite(v))
    throw DataError(log::cat(where, ": field ", field + 1, " (", kFieldNames[field], ") is not a number: '", token,
                             "'"));
  return v;
}

}  // namespace

std::vector<KittiObject> parse_kitti_labels(const std::string& text, const std::string& file, int image_width,
                                            int image_height) {
  std::vector<KittiObject> objects;
  std::istringstream lines(text);
  std::string line;
  int line_no = 0;
  while (std::getline(lines, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::istringstream fields(line);
    std::vector<std::string> tokens;
    for (std::string t; fields >> t;) tokens.push_back(t);
    if (tokens.empty()) continue;
    const std::string where = log::cat(file, ":", line_no);
    if (tokens.size() != 15 && tokens.size() != 16)
      throw DataError(log::cat(where, ": expected 15 fields (type truncated occluded alpha x1 y1 x2 y2 h w l x y z "
                                      "rotation_y), or 16 with a score; found ",
                               tokens.size()));
    KittiObject o;
    o.type = tokens[0];
    std::transform(o.type.begin(), o.type.end(), o.type.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    float v[16];
    for (size_t i = 1; i < tokens.size(); ++i) v[i] = parse_number(tokens[i], static_cast<int>(i), where);
    o.truncated = v[1], o.occluded = v[2], o.alpha = v[3];
    o.box = {v[4], v[5], v[6], v[7]};
    o.h = v[8], o.w = v[9], o.l = v[10], o.x = v[11], o.y = v[12], o.z = v[13], o.rotation_y = v[14];
    if (tokens.size() == 16) o.score = v[15];
    const Box& b = o.box;
    if (b.x1 < 0 || b.y1 < 0)
      throw DataError(log::cat(where, ": box (", tokens[4], ", ", tokens[5], ", ", tokens[6], ", ", tokens[7],
                               ") has a negative coordinate"));
    if (b.x1 >= b.x2 || b.y1 >= b.y2)
      throw DataError(log::cat(where, ": box (", tokens[4], ", ", tokens[5], ", ", tokens[6], ", ", tokens[7],
                               ") is empty: x1 must be < x2 and y1 < y2"));
    if ((image_width > 0 && b.x2 > static_cast<float>(image_width)) ||
        (image_height > 0 && b.y2 > static_cast<float>(image_height)))
      throw DataError(log::cat(where, ": box (", tokens[4], ", ", tokens[5], ", ", tokens[6], ", ", tokens[7],
                               ") lies outside the ", image_width, "x", image_height, " image"));
    objects.push_back(std::move(o));
  }
  return objects;
}

std::vector<KittiObject> read_kitti_labels(const std::string& path, int image_width, int image_height) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(log::cat(path, ": cannot read the label file: ", std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  return parse_kitti_labels(text.str(), path, image_width, image_height);
}

std::string format_kitti_object(const KittiObject& o, bool with_score) {
  char buf[512];
  int n = std::snprintf(buf, sizeof buf, "%s %.2f %d %.2f %.9g %.9g %.9g %.9g %.2f %.2f %.2f %.2f %.2f %.2f %.2f",
                        o.type.c_str(), static_cast<double>(o.truncated), static_cast<int>(o.occluded),
                        static_cast<double>(o.alpha), static_cast<double>(o.box.x1), static_cast<double>(o.box.y1),
                        static_cast<double>(o.box.x2), static_cast<double>(o.box.y2), static_cast<double>(o.h),
                        static_cast<double>(o.w), static_cast<double>(o.l), static_cast<double>(o.x),
                        static_cast<double>(o.y), static_cast<double>(o.z), static_cast<double>(o.rotation_y));
  std::string line(buf, static_cast<size_t>(std::max(n, 0)));
  if (with_score) {
    std::snprintf(buf, sizeof buf, " %.6g", static_cast<double>(o.score));
    line += buf;
  }
  return line;
}

}  // namespace kiln::detection
