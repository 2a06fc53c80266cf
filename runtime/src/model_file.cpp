#include "kiln/runtime/model_file.h"

#include <torch/nn/module.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <sstream>

#include "kiln/common/error.h"
#include "kiln/common/fs.h"

namespace kiln::runtime {
namespace {

constexpr char kMagic[] = "KILNMDL1";
constexpr char kEndMagic[] = "KILNEND1";
constexpr size_t kMagicLen = 8;
constexpr int kFormatVersion = 1;
constexpr const char* kModelPrefix = "model/";

void put_u64(std::string& out, uint64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); }
void put_u32(std::string& out, uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }

uint32_t crc_of(const char* data, size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  while (n > 0) {  // zlib takes uInt lengths
    const uInt chunk = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data), chunk);
    data += chunk;
    n -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

at::ScalarType dtype_from_name(const std::string& name, const std::string& path) {
  static const std::map<std::string, at::ScalarType> kTypes{
      {"Float", at::kFloat}, {"Double", at::kDouble}, {"Half", at::kHalf}, {"BFloat16", at::kBFloat16},
      {"Long", at::kLong},   {"Int", at::kInt},       {"Byte", at::kByte}, {"Bool", at::kBool}};
  auto it = kTypes.find(name);
  if (it == kTypes.end()) throw DataError(path + ": unsupported tensor dtype '" + name + "'");
  return it->second;
}

}  // namespace

void write_model_file(const std::string& path, const ModelFile& file) {
  nlohmann::json header{{"format_version", kFormatVersion}, {"meta", file.meta}};
  std::string payload;
  nlohmann::json tensors = nlohmann::json::array();
  for (const auto& [name, t0] : file.tensors) {
    at::Tensor t = t0.detach().to(at::kCPU).contiguous();
    const size_t nbytes = t.numel() * t.element_size();
    tensors.push_back({{"name", name}, {"dtype", std::string(c10::toString(t.scalar_type()))},
                       {"shape", t.sizes().vec()}, {"offset", payload.size()}, {"nbytes", nbytes}});
    payload.append(static_cast<const char*>(t.data_ptr()), nbytes);
  }
  nlohmann::json blobs = nlohmann::json::array();
  for (const auto& [name, bytes] : file.blobs) {
    blobs.push_back({{"name", name}, {"offset", payload.size()}, {"nbytes", bytes.size()}});
    payload += bytes;
  }
  header["tensors"] = std::move(tensors);
  header["blobs"] = std::move(blobs);
  const std::string head = header.dump();

  std::string body;
  body.reserve(head.size() + payload.size() + 32);
  body.append(kMagic, kMagicLen);
  put_u64(body, head.size());
  body += head;
  body += payload;
  put_u32(body, crc_of(body.data() + kMagicLen + 8, head.size() + payload.size()));
  body.append(kEndMagic, kMagicLen);
  atomic_write_string(path, body);
}

ModelFile read_model_file(const std::string& path) {
  const std::string data = read_file(path);
  if (data.size() < kMagicLen || std::memcmp(data.data(), kMagic, kMagicLen) != 0)
    throw DataError(path + ": not a kiln model file (bad magic)");
  if (data.size() < kMagicLen * 2 + 12) throw DataError(path + ": truncated kiln model file");
  uint64_t head_len = 0;
  std::memcpy(&head_len, data.data() + kMagicLen, 8);
  const size_t body_start = kMagicLen + 8;
  if (std::memcmp(data.data() + data.size() - kMagicLen, kEndMagic, kMagicLen) != 0 || head_len > data.size())
    throw DataError(path + ": truncated kiln model file (" + std::to_string(data.size()) + " bytes)");
  const size_t body_len = data.size() - body_start - 4 - kMagicLen;
  if (head_len > body_len) throw DataError(path + ": truncated kiln model file (header runs past the end)");
  uint32_t stored_crc = 0;
  std::memcpy(&stored_crc, data.data() + body_start + body_len, 4);
  if (crc_of(data.data() + body_start, body_len) != stored_crc)
    throw DataError(path + ": checksum mismatch (the file is corrupt)");

  nlohmann::json header;
  try {
    header = nlohmann::json::parse(data.begin() + body_start, data.begin() + body_start + head_len);
  } catch (const nlohmann::json::exception& e) {
    throw DataError(path + ": unreadable header: " + e.what());
  }
  if (header.value("format_version", 0) != kFormatVersion)
    throw DataError(path + ": unsupported kiln model format version " + header.value("format_version", nlohmann::json()).dump());

  const char* payload = data.data() + body_start + head_len;
  const size_t payload_len = body_len - head_len;
  ModelFile file;
  file.meta = header.at("meta");
  try {
    for (const auto& t : header.at("tensors")) {
      const auto offset = t.at("offset").get<size_t>(), nbytes = t.at("nbytes").get<size_t>();
      if (offset + nbytes > payload_len) throw DataError(path + ": tensor " + t.at("name").get<std::string>() + " runs past the end");
      auto shape = t.at("shape").get<std::vector<int64_t>>();
      at::Tensor out = at::empty(shape, at::TensorOptions().dtype(dtype_from_name(t.at("dtype"), path)));
      if (static_cast<size_t>(out.numel() * out.element_size()) != nbytes)
        throw DataError(path + ": tensor " + t.at("name").get<std::string>() + " size does not match its shape");
      std::memcpy(out.data_ptr(), payload + offset, nbytes);
      file.tensors[t.at("name").get<std::string>()] = out;
    }
    for (const auto& b : header.at("blobs")) {
      const auto offset = b.at("offset").get<size_t>(), nbytes = b.at("nbytes").get<size_t>();
      if (offset + nbytes > payload_len) throw DataError(path + ": blob " + b.at("name").get<std::string>() + " runs past the end");
      file.blobs[b.at("name").get<std::string>()] = std::string(payload + offset, nbytes);
    }
  } catch (const nlohmann::json::exception& e) {
    throw DataError(path + ": malformed tensor table: " + e.what());
  }
  return file;
}

void put_module_state(const torch::nn::Module& m, ModelFile& file) {
  for (const auto& p : m.named_parameters()) file.tensors[kModelPrefix + p.key()] = p.value().detach().clone();
  for (const auto& b : m.named_buffers()) file.tensors[kModelPrefix + b.key()] = b.value().detach().clone();
}

namespace {
// Every parameter and buffer of `m` by name (both are restored the same way).
std::vector<std::pair<std::string, at::Tensor>> module_tensors(torch::nn::Module& m) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (auto& p : m.named_parameters()) out.emplace_back(p.key(), p.value());
  for (auto& b : m.named_buffers()) out.emplace_back(b.key(), b.value());
  return out;
}
}  // namespace

void restore_module_state(torch::nn::Module& m, const ModelFile& file, const std::string& path) {
  at::NoGradGuard no_grad;
  for (auto& [name, t] : module_tensors(m)) {
    auto it = file.tensors.find(kModelPrefix + name);
    if (it == file.tensors.end()) throw DataError(path + ": model tensor '" + name + "' is missing");
    if (it->second.sizes() != t.sizes())
      throw DataError(path + ": model tensor '" + name + "' has shape " + c10::str(it->second.sizes()) +
                      ", the model expects " + c10::str(t.sizes()));
    t.copy_(it->second);
  }
}

TransferReport transfer_module_state(torch::nn::Module& m, const ModelFile& file) {
  at::NoGradGuard no_grad;
  TransferReport r;
  std::set<std::string> used;
  for (auto& [name, t] : module_tensors(m)) {
    auto it = file.tensors.find(kModelPrefix + name);
    if (it == file.tensors.end()) {
      r.missing.push_back(name);
    } else if (it->second.sizes() != t.sizes()) {
      r.skipped_shape.push_back(name + " " + c10::str(it->second.sizes()) + " vs " + c10::str(t.sizes()));
      used.insert(it->first);
    } else {
      t.copy_(it->second);
      r.loaded.push_back(name);
      used.insert(it->first);
    }
  }
  for (const auto& kv : file.tensors)
    if (kv.first.rfind(kModelPrefix, 0) == 0 && !used.count(kv.first)) r.unused.push_back(kv.first.substr(6));
  return r;
}

std::string TransferReport::table() const {
  std::ostringstream os;
  os << "Pretrained weights: " << loaded.size() << " loaded, " << skipped_shape.size() << " skipped (shape mismatch), "
     << missing.size() << " missing from the file, " << unused.size() << " in the file but unused\n";
  auto section = [&](const char* title, const std::vector<std::string>& names) {
    for (const auto& n : names) os << "  " << title << "  " << n << "\n";
  };
  section("loaded ", loaded);
  section("skipped", skipped_shape);
  section("missing", missing);
  section("unused ", unused);
  return os.str();
}

}  // namespace kiln::runtime
