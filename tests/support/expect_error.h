// The message of the error a callable throws, for tests that assert on what users read.
#pragma once
#include <functional>
#include <string>

namespace kiln::test_support {

// what() of the E thrown by f, or "(no <what>)" when f returns or throws something else.
template <typename E>
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (...) {
    return "(another exception)";
  }
  return "(no exception)";
}

}  // namespace kiln::test_support
