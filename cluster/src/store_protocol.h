// The store's wire format (docs/control_plane.md): every message is one frame, a big-endian u32 payload length
// followed by the payload; the payload starts with a one-byte message type and continues with typed fields
// (u8, u32, i64 big-endian; strings as u32 length + bytes). Private to kiln_cluster.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace kiln::cluster::detail {

// "KILN" in the HELLO frame: a peer that is not a kiln store client is dropped at its first frame.
inline constexpr uint32_t kProtocolMagic = 0x4B494C4E;
inline constexpr uint32_t kProtocolVersion = 2;  // 2: the server echoes HEARTBEAT
inline constexpr size_t kFrameHeaderBytes = 4;

enum class MsgType : uint8_t {
  // client -> server (HELLO must be the first frame of every connection)
  kHello = 1,      // u32 magic, u32 version, str token, i64 rank, str host, u8 role
  kSet = 10,       // str key, str value                     -> OK
  kGet = 11,       // str key, i64 timeout_ms                -> VALUE | TIMEOUT
  kAdd = 12,       // str key, i64 delta                     -> INT | ERROR
  kWait = 13,      // u32 n, n x str key, i64 timeout_ms     -> OK | TIMEOUT
  kBarrier = 14,   // str name, i64 world_size, i64 timeout_ms -> OK | TIMEOUT | ERROR
  kHeartbeat = 20, // i64 step                               (monitor connections; the server echoes it)
  kGoodbye = 21,   // (empty)                                clean exit; the server closes the connection
  // both directions
  kAbort = 22,     // str reason
  // server -> client
  kStop = 23,      // u8 signal: stop after an agreed step and checkpoint (monitor connections; docs/control_plane.md)
  kHelloOk = 30,   // u32 version
  kOk = 31,        // (empty)
  kValue = 32,     // str value
  kInt = 33,       // i64 value
  kTimeout = 34,   // u32 n, n x str: what never came (keys, or ranks of a barrier);
                   // u32 m, m x str: barrier ranks that came but left first (empty otherwise)
  kError = 35,     // str message
};

// A connection's role, declared in HELLO. Only monitor connections are tracked for liveness and receive ABORT
// pushes; store connections are strictly request/reply so a push can never be mistaken for a reply.
enum class Role : uint8_t { kStore = 0, kMonitor = 1 };

const char* msg_name(MsgType type);

// A malformed frame: the connection that sent it is dropped.
class ProtocolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using Frame = std::vector<uint8_t>;  // header + payload, ready to write
using SharedFrame = std::shared_ptr<const Frame>;

// Builds one frame; the length header is filled in by finish().
class FrameWriter {
 public:
  explicit FrameWriter(MsgType type);
  FrameWriter& u8(uint8_t v);
  FrameWriter& u32(uint32_t v);
  FrameWriter& i64(int64_t v);
  FrameWriter& str(const std::string& v);
  Frame finish();
  SharedFrame shared() { return std::make_shared<const Frame>(finish()); }

 private:
  Frame buf_;
};

// Parses one payload (without the length header). Every read checks the remaining bytes, so a lying length field
// throws ProtocolError instead of over-reading or allocating.
class FrameReader {
 public:
  FrameReader(const uint8_t* data, size_t size);
  MsgType type() const { return type_; }
  uint8_t u8();
  uint32_t u32();
  int64_t i64();
  std::string str();
  void expect_end() const;  // trailing bytes are malformed too

 private:
  const uint8_t* need(size_t n);
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  MsgType type_;
};

uint32_t decode_length(const uint8_t* header);

// Token comparison whose time does not depend on where the first difference is.
bool tokens_equal(const std::string& a, const std::string& b);

// "300 ms", "2 s", "1.5 s": how timeouts appear in messages.
std::string format_duration(std::chrono::milliseconds d);

// "rank 2" / "ranks 2, 3"; "key 'a'" / "keys 'a', 'b'".
std::string format_ranks(const std::vector<std::string>& ranks);
std::string format_keys(const std::vector<std::string>& keys);

// "64 MiB", "1 KiB", "12 bytes".
std::string format_bytes(uint64_t n);

// Asio does not mark sockets close-on-exec; without it every worker the launcher spawns would inherit the listening
// socket and the connections (a dead launcher's port would keep accepting, and closes would go unseen).
void set_close_on_exec(int fd);

// Longer than any job; keeps steady_clock arithmetic (nanoseconds) far from overflow for absurd timeouts.
inline constexpr std::chrono::milliseconds kMaxTimeout = std::chrono::hours(24 * 30);

}  // namespace kiln::cluster::detail
