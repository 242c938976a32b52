// A synthetic scene for the demo and tests: an image whose tiles each show the generated
// models' planted objects (manifest.json, scripts/make_test_models.py), painted so that the
// planted score regions have known brightness. No downloads needed.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "tiledet/error.hpp"

namespace tiledet::cli {

struct PlantedObject {
    int class_id = 0;
    cv::Rect box;     // in model-input pixels
    cv::Rect region;  // the score region, model-input pixels
    int channel = 0;  // RGB channel the score reads
};

inline std::vector<PlantedObject> planted_objects(const std::filesystem::path& manifest, const std::string& model) {
    std::ifstream f(manifest);
    if (!f)
        throw InputError(manifest.string() +
                         ": cannot open the generated models' manifest; `make demo` writes it beside the demo models "
                         "(or pass --models DIR of a build's models folder)");
    const nlohmann::json m = nlohmann::json::parse(f, nullptr, false);
    if (m.is_discarded() || !m.is_object() || !m.contains("models") || !m["models"].is_array())
        throw InputError(manifest.string() +
                         ": not the generated models' manifest (expected JSON with a \"models\" list); rebuild the "
                         "models with `make demo`");
    for (const auto& e : m.at("models")) {
        if (e.at("name") != model) continue;
        std::vector<PlantedObject> out;
        for (const auto& p : e.at("planted")) {
            if (!p.at("duplicate_of").is_null()) continue;
            const auto& b = p.at("box_xyxy_px");
            const auto& r = p.at("score_region");
            PlantedObject o;
            o.class_id = p.at("class_id");
            o.box = cv::Rect(cv::Point(b[0].get<float>(), b[1].get<float>()), cv::Point(b[2].get<float>(), b[3].get<float>()));
            o.region = cv::Rect(cv::Point(r.at("x0"), r.at("y0")), cv::Point(r.at("x1"), r.at("y1")));
            o.channel = r.at("channel");
            out.push_back(o);
        }
        return out;
    }
    throw InputError(manifest.string() + ": no model named '" + model + "'");
}

// Paints the planted objects into the tile at (ox, oy) of `bgr`: a filled box with the score
// region at `value` in the channel the model reads, so the planted score is value/255.
inline void paint_tile(cv::Mat& bgr, int ox, int oy, const std::vector<PlantedObject>& objects,
                       const std::vector<int>& values) {
    for (std::size_t k = 0; k < objects.size(); ++k) {
        const PlantedObject& o = objects[k];
        const int v = values[k % values.size()];
        cv::rectangle(bgr, o.box + cv::Point(ox, oy), cv::Scalar(70, 70, 70), cv::FILLED);
        cv::Scalar color(0, 0, 0);
        color[2 - o.channel] = v;  // RGB channel c is BGR index 2 - c
        cv::rectangle(bgr, o.region + cv::Point(ox, oy), color, cv::FILLED);
    }
}

}  // namespace tiledet::cli
