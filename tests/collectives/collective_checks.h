// The correctness matrix shared by the thread-backend tests and the MPI tests under mpirun. Rank r's input is a
// function of (r, index), so each rank computes the expected result on its own. Values are multiples of 1/4 in
// [-7.5, 7.5]: sums over 4 ranks are exact in every dtype, so sum/max/min must match bit for bit and only avg
// (one rounding) has a tolerance. Checks record failures instead of throwing: a rank that stopped issuing
// collectives early would leave its peers hanging.
#pragma once
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "kiln/collectives/communicator.h"

namespace kiln_test {

using kiln::collectives::Communicator;
using kiln::collectives::ReduceOp;
using kiln::collectives::WorkPtr;
using kiln::collectives::WorkStatus;

// Long enough for 64 MiB on an oversubscribed machine, short enough that a lost peer fails the test, not ctest.
constexpr std::chrono::seconds kCheckTimeout{120};

const std::vector<at::ScalarType> kFloatTypes = {at::kFloat, at::kDouble, at::kHalf, at::kBFloat16};
const std::vector<ReduceOp> kOps = {ReduceOp::kSum, ReduceOp::kAvg, ReduceOp::kMax, ReduceOp::kMin};

struct Failures {
  std::vector<std::string> list;
  void add(const std::string& what) { list.push_back(what); }
  bool empty() const { return list.empty(); }
  std::string str() const {
    std::string s;
    for (const auto& f : list) s += f + "\n";
    return s;
  }
};

// Element i of rank r's input is value((3 i + 7 r) mod 61): every expected result is periodic in i with period 61,
// so it is a 61-entry table and checking a 2^24-element result costs no temporaries.
using Table = std::array<double, 61>;

inline double value(int64_t m, bool integral) { return integral ? double(m - 30) : double(m - 30) / 4; }

inline Table rank_table(int rank, bool integral) {
  Table t{};
  for (int64_t m = 0; m < 61; ++m) t[m] = value((3 * m + 7 * rank) % 61, integral);
  return t;
}

inline Table expected_allreduce(int size, bool integral, ReduceOp op) {
  Table acc = rank_table(0, integral);
  for (int r = 1; r < size; ++r) {
    const Table v = rank_table(r, integral);
    for (int m = 0; m < 61; ++m) {
      if (op == ReduceOp::kMax) acc[m] = std::max(acc[m], v[m]);
      else if (op == ReduceOp::kMin) acc[m] = std::min(acc[m], v[m]);
      else acc[m] += v[m];
    }
  }
  if (op == ReduceOp::kAvg) {
    for (double& x : acc) x /= size;
  }
  return acc;
}

inline at::Tensor input(int rank, int64_t n, at::ScalarType dtype) {
  const Table t = rank_table(rank, dtype == at::kLong);
  at::Tensor out = at::empty({n}, at::TensorOptions().dtype(dtype));
  AT_DISPATCH_ALL_TYPES_AND2(at::kHalf, at::kBFloat16, dtype, "input", [&] {
    scalar_t* p = out.data_ptr<scalar_t>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<scalar_t>(t[i % 61]);
  });
  return out;
}

// Relative tolerance of one rounding to `dtype`.
inline double rounding(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat: return 1e-6;
    case at::kDouble: return 1e-12;
    case at::kHalf: return 1e-3;
    case at::kBFloat16: return 8e-3;
    default: return 0;
  }
}

// "" when elements [offset, offset + n) of `got` are within rel * |want| of want[(i - offset) % 61].
inline std::string compare(const at::Tensor& got, const Table& want, double rel, int64_t offset = 0,
                           int64_t n = -1) {
  if (n < 0) n = got.numel() - offset;
  int64_t bad = 0;
  int64_t first = -1;
  double first_value = 0;
  AT_DISPATCH_ALL_TYPES_AND2(at::kHalf, at::kBFloat16, got.scalar_type(), "compare", [&] {
    const scalar_t* p = got.data_ptr<scalar_t>() + offset;
    for (int64_t i = 0; i < n; ++i) {
      const double g = static_cast<double>(p[i]);
      const double w = want[i % 61];
      if (std::abs(g - w) > std::abs(w) * rel) {
        if (bad++ == 0) {
          first = offset + i;
          first_value = g;
        }
      }
    }
  });
  if (bad == 0) return "";
  return "element " + std::to_string(first) + " is " + std::to_string(first_value) + ", expected " +
         std::to_string(want[(first - offset) % 61]) + " (" + std::to_string(bad) + " of " + std::to_string(n) +
         " differ)";
}

inline std::string where(const Communicator& c, const WorkPtr& w) {
  return "rank " + std::to_string(c.rank()) + "/" + std::to_string(c.size()) + " " + w->describe();
}

// Waits, then runs `verify` (returns "" when the result is right).
inline void finish(const Communicator& c, const WorkPtr& w, const std::function<std::string()>& verify, Failures& f) {
  const WorkStatus s = w->wait(kCheckTimeout);
  if (s != WorkStatus::kCompleted) {
    f.add(where(c, w) + ": " + to_string(s) + " " + w->error());
    return;
  }
  const std::string wrong = verify();
  if (!wrong.empty()) f.add(where(c, w) + ": " + wrong);
}

inline void check_allreduce(Communicator& c, int64_t n, at::ScalarType dtype, ReduceOp op, Failures& f) {
  at::Tensor t = input(c.rank(), n, dtype);
  const WorkPtr w = c.allreduce(t, op);
  finish(c, w, [&] {
    const Table want = expected_allreduce(c.size(), dtype == at::kLong, op);
    return compare(t, want, op == ReduceOp::kAvg ? rounding(dtype) : 0.0);
  }, f);
}

// Every float dtype x every op x `sizes`, plus int64 sum/max/min.
inline Failures check_allreduce_matrix(Communicator& c, const std::vector<int64_t>& sizes) {
  Failures f;
  for (int64_t n : sizes) {
    for (at::ScalarType dtype : kFloatTypes) {
      for (ReduceOp op : kOps) check_allreduce(c, n, dtype, op, f);
    }
    for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kMax, ReduceOp::kMin}) check_allreduce(c, n, at::kLong, op, f);
  }
  return f;
}

inline Failures check_broadcast_every_root(Communicator& c, int64_t n) {
  Failures f;
  for (int root = 0; root < c.size(); ++root) {
    for (at::ScalarType dtype : {at::kFloat, at::kDouble, at::kHalf, at::kBFloat16, at::kLong}) {
      at::Tensor t = input(c.rank(), n, dtype);
      const WorkPtr w = c.broadcast(t, root);
      finish(c, w, [&] { return compare(t, rank_table(root, dtype == at::kLong), 0.0); }, f);
    }
  }
  return f;
}

inline Failures check_allgather(Communicator& c, const std::vector<int64_t>& sizes) {
  Failures f;
  for (int64_t n : sizes) {
    for (at::ScalarType dtype : {at::kFloat, at::kDouble, at::kHalf, at::kBFloat16, at::kLong}) {
      const at::Tensor in = input(c.rank(), n, dtype);
      at::Tensor out = at::full({c.size(), n}, -99, at::TensorOptions().dtype(dtype));
      const WorkPtr w = c.allgather(in, out);
      finish(c, w, [&] {
        std::string wrong;
        for (int r = 0; r < c.size() && wrong.empty(); ++r) {
          wrong = compare(out, rank_table(r, dtype == at::kLong), 0.0, r * n, n);
        }
        return wrong;
      }, f);
    }
  }
  return f;
}

// Rank 0 arrives late; everyone else must be held until it does.
inline Failures check_barrier(Communicator& c) {
  Failures f;
  constexpr auto kLate = std::chrono::milliseconds(200);
  for (int round = 0; round < 3; ++round) {
    if (c.rank() == 0) std::this_thread::sleep_for(kLate);
    const auto start = std::chrono::steady_clock::now();
    const WorkPtr w = c.barrier();
    finish(c, w, [&] {
      const auto held = std::chrono::steady_clock::now() - start;
      if (c.rank() != 0 && held < kLate / 2) {
        return "released after " +
               std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(held).count()) +
               " ms, before rank 0 arrived";
      }
      return std::string();
    }, f);
  }
  return f;
}

}  // namespace kiln_test
