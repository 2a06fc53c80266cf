#include "text.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <regex>
#include <sstream>

namespace kiln::specs::detail {
namespace {

size_t levenshtein(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// from_chars rejects a leading '+', which YAML allows.
std::string_view strip_plus(const std::string& text) {
  std::string_view s(text);
  if (s.size() > 1 && s[0] == '+' && s[1] != '-' && s[1] != '+') s.remove_prefix(1);
  return s;
}

}  // namespace

std::string did_you_mean(const std::string& name, const std::vector<std::string>& candidates) {
  const size_t limit = std::max<size_t>(2, name.size() / 3);
  const std::string* best = nullptr;
  size_t best_distance = limit + 1;
  for (const auto& c : candidates) {
    size_t d = levenshtein(name, c);
    if (d < best_distance) {
      best_distance = d;
      best = &c;
    }
  }
  return best ? " (did you mean '" + *best + "'?)" : "";
}

std::optional<int64_t> parse_int(const std::string& text) {
  std::string_view s = strip_plus(text);
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<double> parse_float(const std::string& text) {
  std::string_view s = strip_plus(text);
  std::string_view digits = (!s.empty() && s[0] == '-') ? s.substr(1) : s;
  // Words such as "inf" and "nan" are accepted by from_chars but are never sensible spec values.
  if (digits.empty() || !(std::isdigit(static_cast<unsigned char>(digits[0])) || digits[0] == '.')) {
    return std::nullopt;
  }
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, std::chars_format::general);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::string format_number(double v) {
  char buf[400];  // holds the shortest form of any double in either notation (fixed 1e308 has 309 digits)
  const std::string general(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
  const std::string fixed(buf, std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed).ptr);
  // 0.0005 reads better than 5e-04; 1e-07 better than 0.0000001.
  if (fixed.size() <= general.size() + 2) return fixed;
  const size_t e = general.find('e');
  if (e == std::string::npos) return general;
  std::string exponent = general.substr(e + 1);
  const bool negative = exponent[0] == '-';
  exponent = exponent.substr(exponent.find_first_not_of("+-0"));
  return general.substr(0, e) + (negative ? "e-" : "e") + exponent;
}

std::string format_float(double v) {
  std::string s = format_number(v);
  if (s.find('.') == std::string::npos) {
    // A dot keeps it a float for every YAML reader (YAML 1.1 reads "1e-7" as a string).
    const size_t e = s.find('e');
    s.insert(e == std::string::npos ? s.size() : e, ".0");
  }
  return s;
}

std::string range_text(std::optional<double> min, std::optional<double> max, bool exclusive_min) {
  if (min && max) {
    return std::string("in ") + (exclusive_min ? "(" : "[") + format_number(*min) + ", " + format_number(*max) + "]";
  }
  if (min) return (exclusive_min ? "> " : ">= ") + format_number(*min);
  if (max) return "<= " + format_number(*max);
  return "";
}

size_t protobuf_text_line(const std::string& text) {
  static const std::regex block(R"(^\s*[A-Za-z_][A-Za-z0-9_]*\s*\{\s*(#.*)?$)"), close(R"(^\s*\}\s*(#.*)?$)");
  std::istringstream in(text);
  size_t n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (std::regex_match(line, block) || std::regex_match(line, close)) return n;
  }
  return 0;
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
  return out;
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t pos; (pos = text.find(sep, start)) != std::string::npos; start = pos + 1) {
    parts.push_back(text.substr(start, pos - start));
  }
  parts.push_back(text.substr(start));
  return parts;
}

}  // namespace kiln::specs::detail
