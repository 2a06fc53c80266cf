// Small text helpers shared by the loader, the validator and the Markdown/YAML writers.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kiln::specs::detail {

// " (did you mean 'x'?)" for the closest candidate within max(2, len/3) edits of `name`, else "".
std::string did_you_mean(const std::string& name, const std::vector<std::string>& candidates);

// YAML 1.2 core-schema numbers only: no "inf"/"nan", no hex, the whole text must be consumed.
std::optional<int64_t> parse_int(const std::string& text);
std::optional<double> parse_float(const std::string& text);

// Shortest text that parses back to exactly `v` (so specs round-trip); integral values keep a ".0".
std::string format_float(double v);
// A range bound or list element as written in messages and docs: integral values print without ".0".
std::string format_number(double v);

// "in [1, 65536]", "in (0, 10]", ">= 1e-06", "<= 10"; "" when unbounded.
std::string range_text(std::optional<double> min, std::optional<double> max, bool exclusive_min);

// Where `text` reads as protobuf text format — TAO's spec files (`model_config {`, `key: value`, `}`) — rather than
// YAML: the first line that opens a block with `name {`, or closes one with a lone `}`; 0 when none does.
size_t protobuf_text_line(const std::string& text);

std::string join(const std::vector<std::string>& parts, const std::string& sep);
std::vector<std::string> split(const std::string& text, char sep);

}  // namespace kiln::specs::detail
