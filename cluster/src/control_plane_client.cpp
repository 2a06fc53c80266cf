// A rank's monitor: its own connection and io thread, so heartbeats keep flowing while the trainer is busy in a
// collective, and an ABORT is seen even while the main thread is blocked.
#include <atomic>
#include <deque>
#include <mutex>

#include "kiln/cluster/control_plane.h"
#include "kiln/common/error.h"
#include "kiln/common/log.h"
#include "kiln/common/signals.h"
#include "abort_latch.h"
#include "failure_reasons.h"
#include "store_connection.h"

namespace kiln::cluster {

using detail::FrameWriter;
using detail::MsgType;
using detail::SharedFrame;
namespace asio = detail::asio;

namespace {

ControlPlaneOptions validated(ControlPlaneOptions o) {
  if (o.heartbeat_period.count() <= 0) throw UsageError("control plane: the heartbeat period must be positive");
  return o;
}

// While the step moves, a heartbeat goes this often (at most), carrying it.
constexpr std::chrono::milliseconds kStepReportPeriod{100};

// How long close() waits for the server to acknowledge GOODBYE (by closing its end) before giving up.
constexpr std::chrono::seconds kGoodbyeTimeout{2};
}  // namespace

struct ControlPlaneClient::Impl {
  Impl(const StoreClientOptions& connection, ControlPlaneOptions opts)
      : options(validated(opts)),  // before conn: no connection for a bad configuration
        conn(connection, detail::Role::kMonitor),
        latch(conn.rank()),
        heartbeat_timer(conn.io()),
        close_timer(conn.io()) {}

  void start() {
    heartbeat();
    read_header();
    conn.io().restart();  // the connection's blocking handshake left the io_context stopped
    thread = std::thread([this] {
      for (;;) {
        try {
          conn.io().run();
          return;
        } catch (const std::exception& e) {  // thrown by a user callback: log it, keep the monitor alive
          log::error(std::string("control plane: error on the monitor thread: ") + e.what());
        }
      }
    });
  }

  // ---- io thread ----
  void heartbeat() {
    if (closing || heartbeats_stopped) return;
    if (server_silent()) return;
    // Every period, and sooner (every kStepReportPeriod) while the step moves, so a failure names the step the rank
    // was at rather than one up to a period old. Skip a beat rather than queue behind a stalled write: a backlog of
    // stale steps helps nobody.
    const int64_t now_step = step.load(std::memory_order_relaxed);
    const auto now = std::chrono::steady_clock::now();
    if (out.empty() && (now_step != sent_step || now - sent_at >= options.heartbeat_period)) {
      send(FrameWriter(MsgType::kHeartbeat).i64(now_step).shared());
      sent_step = now_step, sent_at = now;
    }
    heartbeat_timer.expires_after(std::min<std::chrono::milliseconds>(options.heartbeat_period, kStepReportPeriod));
    heartbeat_timer.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) heartbeat();
    });
  }

  // The server echoes every heartbeat. Silence for dead_after means this rank is cut off (a link down, a host
  // unplugged: no RST ever comes), and the server has declared it dead by now: end it rather than leave it blocked
  // in a collective. A gap in this thread's own ticks is this process having been frozen, not the server's silence.
  bool server_silent() {
    const auto now = std::chrono::steady_clock::now();
    if (now - ticked_at > options.dead_after / 2) heard_at = now;
    ticked_at = now;
    if (now - heard_at <= options.dead_after) return false;
    lost("no word from it for " + detail::seconds_text(now - heard_at),
         "the network between this host and the server is down, or the server's process is frozen");
    return true;
  }

  void send(SharedFrame frame) {
    if (finished) return;
    out.push_back(std::move(frame));
    if (out.size() == 1) write_next();
  }

  void write_next() {
    asio::async_write(conn.socket(), asio::buffer(*out.front()), [this](const boost::system::error_code& ec, size_t) {
      if (finished) return;
      if (ec) return closing ? finish() : lost("sending failed: " + ec.message());
      out.pop_front();
      if (!out.empty()) return write_next();
      boost::system::error_code ignored;
      if (closing) conn.socket().shutdown(detail::tcp::socket::shutdown_send, ignored);  // GOODBYE was the last
    });
  }

  void read_header() {
    asio::async_read(conn.socket(), asio::buffer(header), [this](const boost::system::error_code& ec, size_t) {
      if (finished) return;
      if (ec) return on_read_error(ec);
      const uint32_t n = detail::decode_length(header);
      if (n == 0 || n > conn.max_frame_bytes())
        return lost("the server sent a malformed frame header (" + detail::format_bytes(n) + ")");
      body.resize(n);
      asio::async_read(conn.socket(), asio::buffer(body), [this](const boost::system::error_code& e, size_t) {
        if (finished) return;
        if (e) return on_read_error(e);
        heard_at = std::chrono::steady_clock::now();
        on_frame();
      });
    });
  }

  void on_frame() {
    try {
      detail::FrameReader r(body.data(), body.size());
      if (r.type() == MsgType::kHeartbeat) {  // the server's echo: heard_at was set when the frame arrived
        r.i64();
        r.expect_end();
      } else if (r.type() == MsgType::kStop) {
        const int signo = r.u8();
        r.expect_end();
        stop(signo);
      } else if (r.type() == MsgType::kAbort) {
        const std::string reason = r.str();
        r.expect_end();
        // The step this rank got to: a launcher that restarts the job counts the steps the failure cost from it.
        if (!closing) send(FrameWriter(MsgType::kHeartbeat).i64(step.load(std::memory_order_relaxed)).shared());
        deliver(reason);
      } else {
        throw detail::ProtocolError(std::string("unexpected ") + detail::msg_name(r.type()) + " on a monitor connection");
      }
    } catch (const detail::ProtocolError& e) {
      return lost(std::string("the server sent a malformed frame: ") + e.what());
    }
    read_header();
  }

  void on_read_error(const boost::system::error_code& ec) {
    if (closing) return finish();  // the server closing its end is its acknowledgement of GOODBYE
    lost(ec.message());
  }

  // The server is gone, or out of reach: this rank cannot go on, and nobody else can tell it so.
  void lost(const std::string& why, const std::string& meaning = "the launcher or rank 0 has exited") {
    deliver("lost the connection to the control plane server at " + conn.server() + " (" + why + "); " + meaning);
    finish();
  }

  void deliver(const std::string& why) { latch.deliver(why); }

  void stop(int signo) {
    std::function<void(int)> hook;
    {
      std::lock_guard<std::mutex> lock(stop_mu);
      if (stop_signal != 0) return;
      stop_signal = signo;
      hook = on_stop;
    }
    log::info("control plane: the launcher asks every rank to stop (" + signal_name(signo) + ")");
    if (hook) hook(signo);
  }

  void begin_close() {
    if (closing) return;
    closing = true;
    heartbeat_timer.cancel();
    send(FrameWriter(MsgType::kGoodbye).shared());
    close_timer.expires_after(kGoodbyeTimeout);
    close_timer.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) finish();
    });
  }

  // Ends all work on the io_context, so run() returns and the thread exits.
  void finish() {
    if (finished) return;
    finished = closing = true;
    heartbeat_timer.cancel();
    close_timer.cancel();
    boost::system::error_code ignored;
    conn.socket().close(ignored);
  }

  // ---- any thread ----
  void join() {
    std::lock_guard<std::mutex> lock(join_mu);
    if (thread.joinable() && thread.get_id() != std::this_thread::get_id()) thread.join();
  }

  ControlPlaneOptions options;
  detail::StoreConnection conn;
  detail::AbortLatch latch;  // aborted or not, why, and the on_abort hook
  asio::steady_timer heartbeat_timer;
  asio::steady_timer close_timer;
  std::atomic<int64_t> step{0};
  std::atomic<bool> heartbeats_stopped{false};
  std::atomic<bool> close_requested{false};
  std::mutex stop_mu;
  int stop_signal = 0;               // a STOP arrived (its signal), under stop_mu
  std::function<void(int)> on_stop;  // under stop_mu

  // io thread only
  std::deque<SharedFrame> out;
  std::chrono::steady_clock::time_point heard_at = std::chrono::steady_clock::now();  // the last frame from the server
  std::chrono::steady_clock::time_point ticked_at = heard_at;                        // the last heartbeat() tick
  int64_t sent_step = -1;  // what the last heartbeat carried, and when it went
  std::chrono::steady_clock::time_point sent_at{};
  uint8_t header[detail::kFrameHeaderBytes] = {};
  std::vector<uint8_t> body;
  bool closing = false;
  bool finished = false;

  std::mutex join_mu;
  std::thread thread;  // last: started after everything it touches exists
};

ControlPlaneClient::ControlPlaneClient(StoreClientOptions connection, ControlPlaneOptions options)
    : impl_(std::make_shared<Impl>(connection, options)) {
  impl_->start();
}

ControlPlaneClient::~ControlPlaneClient() { close(); }

void ControlPlaneClient::set_step(int64_t step) { impl_->step.store(step, std::memory_order_relaxed); }

void ControlPlaneClient::on_abort(std::function<void(const std::string& reason)> callback) {
  impl_->latch.on_abort(std::move(callback));
}

void ControlPlaneClient::on_stop(std::function<void(int signo)> callback) {
  int already = 0;
  {
    std::lock_guard<std::mutex> lock(impl_->stop_mu);
    impl_->on_stop = callback;
    already = impl_->stop_signal;
  }
  if (already && callback) callback(already);
}

bool ControlPlaneClient::aborted() const { return impl_->latch.aborted(); }

std::string ControlPlaneClient::abort_reason() const { return impl_->latch.reason(); }

void ControlPlaneClient::abort(const std::string& reason) { abort_with_cause(reason, ExitCode::kRankFailed); }

void ControlPlaneClient::abort_with_cause(const std::string& reason, ExitCode cause) {
  impl_->latch.abort_self(reason);
  // The server adds rank, host and step before broadcasting. Sent even if an ABORT already arrived: harmless.
  // A heartbeat goes first, so the step the server names is this rank's now, not that of its last heartbeat.
  // The cause travels as one more byte; a server that predates it would reject the frame, but every process of a
  // job runs the same kiln (HELLO checks the protocol version).
  asio::post(impl_->conn.io(), [impl = impl_.get(), reason, cause] {
    if (impl->closing) return;
    impl->send(FrameWriter(MsgType::kHeartbeat).i64(impl->step.load(std::memory_order_relaxed)).shared());
    impl->send(FrameWriter(MsgType::kAbort).str(reason).u8(static_cast<uint8_t>(cause)).shared());
  });
}

// Posted handlers hold a raw Impl*: they run only on the monitor thread, which is joined before Impl dies; a handler
// posted after the thread ended is destroyed unrun with the io_context (a shared_ptr there would be a cycle).
void ControlPlaneClient::close() {
  if (!impl_->close_requested.exchange(true))
    asio::post(impl_->conn.io(), [impl = impl_.get()] { impl->begin_close(); });
  impl_->join();  // inside the on_abort callback this returns at once; the thread ends after the GOODBYE
}

int ControlPlaneClient::rank() const { return impl_->conn.rank(); }

void ControlPlaneClient::stop_heartbeats_for_testing() {
  impl_->heartbeats_stopped = true;
  asio::post(impl_->conn.io(), [impl = impl_.get()] { impl->heartbeat_timer.cancel(); });
}

void ControlPlaneClient::drop_connection_for_testing() {
  asio::post(impl_->conn.io(), [impl = impl_.get()] {
    impl->closing = true;  // a crash: no GOODBYE, and this rank does not abort itself
    impl->finish();
  });
}

}  // namespace kiln::cluster
