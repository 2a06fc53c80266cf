// What a rank reads when a store call fails: the TCP client (store_client.cpp) and HashStore build their errors
// here, so a message reads the same whichever store a rank uses. Timeouts carry exit code 4 (kRankFailed): the
// missing key or rank is someone else's failure. Private to kiln_cluster.
#pragma once
#include <chrono>
#include <string>
#include <vector>

#include "kiln/common/error.h"
#include "store_rules.h"

namespace kiln::cluster::detail {

// "store get 'k' timed out after 2 s: no rank has set that key (rank 1, store 10.0.0.1:41234)"
Error get_timed_out(const std::string& key, std::chrono::milliseconds timeout, int rank, const std::string& server);

// "store wait for keys 'a', 'b' timed out after 2 s: key 'b' never set (rank 0, store …)"
Error wait_timed_out(const std::vector<std::string>& keys, std::chrono::milliseconds timeout,
                     const std::vector<std::string>& never, int rank, const std::string& server);

// "barrier 'start' timed out after 30 s: ranks 2, 3 have not arrived", or, when everyone came but some left first,
// "… rank 0 arrived but left before the others came (timed out or exited)".
Error barrier_timed_out(const std::string& name, std::chrono::milliseconds timeout, const Missing& missing);

// The store refused a request (ADD on text, a barrier's world size disagreeing): "store <what> failed on rank R: …".
Error request_refused(const std::string& what, int rank, const std::string& why);

// How requests are named in messages: "get 'k'", "wait for keys 'a', 'b'", "barrier 'b'".
std::string describe_get(const std::string& key);
std::string describe_add(const std::string& key);
std::string describe_wait(const std::vector<std::string>& keys);
std::string describe_barrier(const std::string& name);

}  // namespace kiln::cluster::detail
