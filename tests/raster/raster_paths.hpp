// The generated rasters (scripts/make_test_rasters.py, run by the ctest fixture
// raster.make_test_rasters) and what was planted in them.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace tiledet::testing {

inline std::string raster_path(const std::string& name) {
    return (std::filesystem::path(TILEDET_RASTERS_DIR) / (name + ".tif")).string();
}

inline nlohmann::json raster_manifest() {
    std::ifstream in(std::filesystem::path(TILEDET_RASTERS_DIR) / "rasters.json");
    return nlohmann::json::parse(in);
}

#define TILEDET_REQUIRE_RASTERS()                                                                         \
    do {                                                                                                  \
        if (!std::filesystem::exists(std::filesystem::path(TILEDET_RASTERS_DIR) / "rasters.json"))       \
            GTEST_SKIP() << "generated rasters missing: run ctest (fixture raster.make_test_rasters) or " \
                            "scripts/make_test_rasters.py --out " TILEDET_RASTERS_DIR;                    \
    } while (0)

}  // namespace tiledet::testing
