// Whether a future ends with exception E (and nothing else): for tests of how requests end.
#pragma once

#include <future>

namespace tiledet::testing {

template <class E, class T>
bool fails_with(std::future<T>& f) {
    try {
        f.get();
    } catch (const E&) {
        return true;
    } catch (...) {
    }
    return false;
}

}  // namespace tiledet::testing
