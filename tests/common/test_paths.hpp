// Where tests find their data: models generated into the build tree, and the shared folder of
// real models and images beside the checkout (tests that need it skip when it is absent).
#pragma once

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

namespace tiledet::testing {

inline std::filesystem::path generated_model(const std::string& file) {
    return std::filesystem::path(TILEDET_TEST_MODELS_DIR) / file;
}

inline std::filesystem::path shared_path(const std::string& rel) {
    return std::filesystem::path(TILEDET_SHARED_DIR) / rel;
}

inline bool shared_available(const std::string& rel) { return std::filesystem::exists(shared_path(rel)); }

}  // namespace tiledet::testing

// Skips the current test (with the reason) when a file from ../shared is absent.
#define TILEDET_REQUIRE_SHARED(rel)                                                                  \
    do {                                                                                             \
        if (!::tiledet::testing::shared_available(rel))                                              \
            GTEST_SKIP() << "needs ../shared/" << (rel) << " beside the checkout; it is absent here"; \
    } while (0)

#define TILEDET_REQUIRE_GENERATED(file)                                                                   \
    do {                                                                                                  \
        if (!std::filesystem::exists(::tiledet::testing::generated_model(file)))                          \
            FAIL() << "generated model " << (file) << " is missing: build the test_models target first"; \
    } while (0)
