// Minimal .npy reader for golden tests (little-endian float32/int64, C order), enough for numpy.save output.
#pragma once
#include <ATen/ATen.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace kiln::testing {

inline at::Tensor read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  char magic[8];
  in.read(magic, 8);
  if (std::string(magic + 1, 5) != "NUMPY") throw std::runtime_error(path + ": not .npy");
  uint32_t header_len = 0;
  if (magic[6] == 1) {
    uint16_t h = 0;
    in.read(reinterpret_cast<char*>(&h), 2);
    header_len = h;
  } else {
    in.read(reinterpret_cast<char*>(&header_len), 4);
  }
  std::string header(header_len, '\0');
  in.read(&header[0], header_len);
  const bool f4 = header.find("'<f4'") != std::string::npos, i8 = header.find("'<i8'") != std::string::npos;
  if (!f4 && !i8) throw std::runtime_error(path + ": unsupported dtype in " + header);
  if (header.find("'fortran_order': False") == std::string::npos) throw std::runtime_error(path + ": fortran order");
  const auto open = header.find('(', header.find("'shape'")), close = header.find(')', open);
  std::vector<int64_t> shape;
  std::stringstream dims(header.substr(open + 1, close - open - 1));
  for (std::string d; std::getline(dims, d, ',');)
    if (d.find_first_not_of(' ') != std::string::npos) shape.push_back(std::stoll(d));
  at::Tensor t = at::empty(shape, f4 ? at::kFloat : at::kLong);
  in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(t.numel() * t.element_size()));
  if (!in) throw std::runtime_error(path + ": truncated");
  return t;
}

}  // namespace kiln::testing
