#include "store_protocol.h"

#include <fcntl.h>

#include <cstdio>
#include <random>
#include <sstream>

#include "kiln/cluster/tcp_store.h"
#include "kiln/common/env.h"
#include "kiln/common/error.h"

namespace kiln::cluster {

std::string make_job_token() {
  // random_device is the OS entropy source on Linux (getrandom); four 32-bit draws make 128 bits.
  std::random_device rd;
  std::string out;
  char buf[9];
  for (int i = 0; i < 4; ++i) {
    std::snprintf(buf, sizeof buf, "%08x", static_cast<unsigned>(rd()));
    out += buf;
  }
  return out;
}

bool is_valid_job_token(const std::string& token) {
  if (token.size() != 32) return false;
  for (char c : token)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
  return true;
}

std::string job_token_from_env() {
  const std::string token = env_string(kEnvJobToken);
  if (token.empty())
    throw UsageError(std::string(kEnvJobToken) +
                     " is not set: the launcher (or rank 0) generates it and passes it to every rank");
  if (!is_valid_job_token(token))
    throw UsageError(std::string(kEnvJobToken) + " must be 32 hex characters (got " + std::to_string(token.size()) +
                     " characters)");
  return token;
}

}  // namespace kiln::cluster

namespace kiln::cluster::detail {

const char* msg_name(MsgType type) {
  switch (type) {
    case MsgType::kHello: return "HELLO";
    case MsgType::kSet: return "SET";
    case MsgType::kGet: return "GET";
    case MsgType::kAdd: return "ADD";
    case MsgType::kWait: return "WAIT";
    case MsgType::kBarrier: return "BARRIER";
    case MsgType::kHeartbeat: return "HEARTBEAT";
    case MsgType::kGoodbye: return "GOODBYE";
    case MsgType::kAbort: return "ABORT";
    case MsgType::kStop: return "STOP";
    case MsgType::kHelloOk: return "HELLO_OK";
    case MsgType::kOk: return "OK";
    case MsgType::kValue: return "VALUE";
    case MsgType::kInt: return "INT";
    case MsgType::kTimeout: return "TIMEOUT";
    case MsgType::kError: return "ERROR";
  }
  return "UNKNOWN";
}

FrameWriter::FrameWriter(MsgType type) {
  buf_.resize(kFrameHeaderBytes);
  buf_.push_back(static_cast<uint8_t>(type));
}

FrameWriter& FrameWriter::u8(uint8_t v) {
  buf_.push_back(v);
  return *this;
}

FrameWriter& FrameWriter::u32(uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) buf_.push_back(static_cast<uint8_t>(v >> shift));
  return *this;
}

FrameWriter& FrameWriter::i64(int64_t v) {
  const auto u = static_cast<uint64_t>(v);
  for (int shift = 56; shift >= 0; shift -= 8) buf_.push_back(static_cast<uint8_t>(u >> shift));
  return *this;
}

FrameWriter& FrameWriter::str(const std::string& v) {
  u32(static_cast<uint32_t>(v.size()));
  buf_.insert(buf_.end(), v.begin(), v.end());
  return *this;
}

Frame FrameWriter::finish() {
  const auto n = static_cast<uint32_t>(buf_.size() - kFrameHeaderBytes);
  for (int i = 0; i < 4; ++i) buf_[i] = static_cast<uint8_t>(n >> (24 - 8 * i));
  return std::move(buf_);
}

uint32_t decode_length(const uint8_t* h) {
  return (uint32_t{h[0]} << 24) | (uint32_t{h[1]} << 16) | (uint32_t{h[2]} << 8) | uint32_t{h[3]};
}

FrameReader::FrameReader(const uint8_t* data, size_t size) : data_(data), size_(size) {
  if (size == 0) throw ProtocolError("empty frame");
  const uint8_t t = data[0];
  const bool known = t == 1 || (t >= 10 && t <= 14) || (t >= 20 && t <= 23) || (t >= 30 && t <= 35);
  if (!known) throw ProtocolError("unknown message type " + std::to_string(t));
  type_ = static_cast<MsgType>(t);
  pos_ = 1;
}

const uint8_t* FrameReader::need(size_t n) {
  if (size_ - pos_ < n)
    throw ProtocolError(std::string(msg_name(type_)) + " frame truncated: needs " + std::to_string(n) +
                        " more bytes at offset " + std::to_string(pos_) + " of " + std::to_string(size_));
  const uint8_t* p = data_ + pos_;
  pos_ += n;
  return p;
}

uint8_t FrameReader::u8() { return *need(1); }

uint32_t FrameReader::u32() { return decode_length(need(4)); }

int64_t FrameReader::i64() {
  const uint8_t* p = need(8);
  uint64_t u = 0;
  for (int i = 0; i < 8; ++i) u = (u << 8) | p[i];
  return static_cast<int64_t>(u);
}

std::string FrameReader::str() {
  const uint32_t n = u32();
  const uint8_t* p = need(n);
  return std::string(reinterpret_cast<const char*>(p), n);
}

void FrameReader::expect_end() const {
  if (pos_ != size_)
    throw ProtocolError(std::string(msg_name(type_)) + " frame has " + std::to_string(size_ - pos_) +
                        " unexpected trailing bytes");
}

bool tokens_equal(const std::string& a, const std::string& b) {
  // Walk the full expected length regardless of mismatches, so timing does not leak a prefix of the token.
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  for (size_t i = 0; i < a.size(); ++i) {
    const char other = i < b.size() ? b[i] : '\0';
    diff |= static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(other);
  }
  return diff == 0;
}

void set_close_on_exec(int fd) {
  const int flags = fcntl(fd, F_GETFD);
  if (flags != -1) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

std::string format_duration(std::chrono::milliseconds d) {
  const long long ms = d.count();
  if (ms < 1000) return std::to_string(ms) + " ms";
  std::ostringstream os;
  if (ms % 1000 == 0)
    os << ms / 1000;
  else
    os << static_cast<double>(ms) / 1000.0;
  os << " s";
  return os.str();
}

namespace {
std::string join(const std::vector<std::string>& items, const char* quote) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + (quote + items[i] + quote);
  return out;
}
}  // namespace

std::string format_ranks(const std::vector<std::string>& ranks) {
  return (ranks.size() == 1 ? "rank " : "ranks ") + join(ranks, "");
}

std::string format_keys(const std::vector<std::string>& keys) {
  return (keys.size() == 1 ? "key " : "keys ") + join(keys, "'");
}

std::string format_bytes(uint64_t n) {
  std::ostringstream os;
  if (n >= (1u << 20) && n % (1u << 20) == 0)
    os << (n >> 20) << " MiB";
  else if (n >= (1u << 10) && n % (1u << 10) == 0)
    os << (n >> 10) << " KiB";
  else
    os << n << " bytes";
  return os.str();
}

}  // namespace kiln::cluster::detail
