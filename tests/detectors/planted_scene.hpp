// Test images for the generated models (scripts/make_test_models.py): each planted object's
// score is the mean of one input region, so painting that region with a known byte gives a
// known score. Two different scenes let batch tests catch item mix-ups.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "test_paths.hpp"
#include "tiledet/detection.hpp"

namespace tiledet::testing {

struct PlantedObject {
    int object = 0, class_id = 0, channel = 0;  // channel in the model's RGB order
    cv::Rect region;                            // input-frame pixels
    Box box;                                    // input-frame pixels
    float scale = 1;
    bool duplicate = false;
};

struct GeneratedModel {
    std::string name, family, score_kind;
    int input_size = 0;
    std::vector<PlantedObject> planted;
};

inline GeneratedModel generated_entry(const std::string& name) {
    std::ifstream in(generated_model("manifest.json"));
    const nlohmann::json m = nlohmann::json::parse(in);
    for (const auto& e : m["models"]) {
        if (e["name"] != name) continue;
        GeneratedModel g{name, e["family"], e.value("score_kind", ""), e["input_size"][0].get<int>(), {}};
        for (const auto& p : e["planted"]) {
            const auto& r = p["score_region"];
            const auto& b = p["box_xyxy_px"];
            PlantedObject o;
            o.object = p["object"];
            o.class_id = p["class_id"];
            o.channel = r["channel"];
            // YOLOX models read B,G,R planes: the manifest gives the tensor channel.
            if (e.value("channel_order", "RGB") == "BGR") o.channel = 2 - o.channel;
            o.region = cv::Rect(cv::Point(r["x0"], r["y0"]), cv::Point(r["x1"], r["y1"]));
            o.box = Box{b[0].get<float>(), b[1].get<float>(), b[2].get<float>(), b[3].get<float>()};
            o.scale = p["score_scale"];
            o.duplicate = !p["duplicate_of"].is_null();
            g.planted.push_back(o);
        }
        return g;
    }
    ADD_FAILURE() << name << " is not in the manifest";
    return {};
}

// Bytes painted into each object's region (object k gets values[k]); the rest is `background`.
using Scene = std::array<int, 3>;
inline constexpr Scene kSceneA = {230, 180, 140};
inline constexpr Scene kSceneB = {160, 250, 200};

// A size x size BGR image whose input frame equals the image (no resize, no padding).
inline cv::Mat paint_scene(const GeneratedModel& g, const Scene& values, int background = 40) {
    cv::Mat img(g.input_size, g.input_size, CV_8UC3, cv::Scalar::all(background));
    for (const auto& p : g.planted) {
        if (p.duplicate) continue;
        cv::Mat roi = img(p.region);
        const int bgr_channel = 2 - p.channel;
        for (int y = 0; y < roi.rows; ++y)
            for (int x = 0; x < roi.cols; ++x)
                roi.at<cv::Vec3b>(y, x)[bgr_channel] = static_cast<uchar>(values[p.object]);
    }
    return img;
}

inline float sigmoid(float x) {
    return 1.0f / (1.0f + std::exp(-x));
}

// The score the decoder must report for planted object `p` painted with `byte`.
inline float expected_score(const GeneratedModel& g, const PlantedObject& p, int byte) {
    const float v = static_cast<float>(byte) / 255.0f;
    if (g.family == "rfdetr") {
        // ImageNet mean/std (rfdetr/detr.py) in R, G, B order.
        const float mean[3] = {0.485f, 0.456f, 0.406f}, stdv[3] = {0.229f, 0.224f, 0.225f};
        return sigmoid((v - mean[p.channel]) / stdv[p.channel] * p.scale);
    }
    if (g.score_kind == "logit") return sigmoid(v * p.scale);
    return v * p.scale;
}

}  // namespace tiledet::testing
