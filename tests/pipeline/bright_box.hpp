// A fake YOLO-layout backend for pipeline tests: it "detects" bright rectangles in each item's
// input tensor, so boxes depend on what each tile really sees.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <opencv2/imgproc.hpp>
#include <thread>
#include <vector>

#include "tiledet/batching/backend.hpp"
#include "tiledet/runtime/signature.hpp"

namespace tiledet::testing_bright_box {

constexpr int kSize = 640;
constexpr int kAnchors = 2100;  // more anchors than 4+nc rows, as every real YOLO head has

inline ModelSignature yolo_signature() {
    ModelSignature sig;
    sig.inputs.push_back({"images", ElementType::float32,
                          {Dim::symbolic("batch"), Dim::fixed_at(3), Dim::fixed_at(kSize), Dim::fixed_at(kSize)}});
    sig.outputs.push_back({"output0", ElementType::float32,
                           {Dim::symbolic("batch"), Dim::fixed_at(84), Dim::fixed_at(kAnchors)}});
    return sig;
}

// Finds rectangles whose red channel (RGB channel 0) is bright and reports each as a class-0
// box, scored by its visible area, in the YOLO output layout [B, 84, anchors].
class BrightBoxBackend : public Backend {
public:
    explicit BrightBoxBackend(std::chrono::milliseconds delay = {}) : delay_(delay) {}

    std::vector<Tensor> run(const std::vector<Tensor>& in) override {
        if (delay_.count()) std::this_thread::sleep_for(delay_);
        const int64_t b = in[0].dim(0);
        Tensor out(ElementType::float32, {b, 84, kAnchors});
        for (int64_t i = 0; i < b; ++i) {
            const float* red = in[0].data<float>() + i * 3 * kSize * kSize;
            cv::Mat plane(kSize, kSize, CV_32F, const_cast<float*>(red));
            cv::Mat mask = plane > 0.5f;
            cv::Mat labels, stats, centroids;
            const int n = cv::connectedComponentsWithStats(mask, labels, stats, centroids);
            float* o = out.data<float>() + i * 84 * kAnchors;
            for (int c = 1, a = 0; c < n && a < kAnchors; ++c, ++a) {
                const float x = stats.at<int>(c, cv::CC_STAT_LEFT), y = stats.at<int>(c, cv::CC_STAT_TOP);
                const float w = stats.at<int>(c, cv::CC_STAT_WIDTH), h = stats.at<int>(c, cv::CC_STAT_HEIGHT);
                o[0 * kAnchors + a] = x + w / 2;
                o[1 * kAnchors + a] = y + h / 2;
                o[2 * kAnchors + a] = w;
                o[3 * kAnchors + a] = h;
                // Like a real detector, a cut-off part of an object scores lower than more of it.
                o[4 * kAnchors + a] = 0.3f + 0.6f * (w * h) / (w * h + 2000.0f);  // class 0
            }
        }
        ++runs;
        return {out};
    }
    BatchKind batch_kind() const override { return BatchKind{BatchKind::Kind::dynamic, 0, "batch"}; }

    std::atomic<int> runs{0};

private:
    std::chrono::milliseconds delay_;
};

inline std::vector<std::unique_ptr<Backend>> one_backend(std::chrono::milliseconds delay = {}) {
    std::vector<std::unique_ptr<Backend>> v;
    v.push_back(std::make_unique<BrightBoxBackend>(delay));
    return v;
}

inline cv::Mat scene(int w, int h, const std::vector<cv::Rect>& objects) {
    cv::Mat img(h, w, CV_8UC3, cv::Scalar(0, 0, 0));
    for (const cv::Rect& r : objects) cv::rectangle(img, r, cv::Scalar(255, 255, 255), cv::FILLED);
    return img;
}

}  // namespace tiledet::testing_bright_box
