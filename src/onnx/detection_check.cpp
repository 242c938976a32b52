// Detection-level verification: see include/tiledet/onnx/detection_check.hpp.
#include "tiledet/onnx/detection_check.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <opencv2/imgproc.hpp>

#include "tiledet/error.hpp"
#include "tiledet/runtime/model.hpp"

namespace tiledet {
namespace {

std::string fmt(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g", v);
    return buf;
}

// The threshold the user asked for, and the lowered one both runs are decoded at.
struct Thresholds {
    float conf = 0.25f;
    DecodeOptions low;
};

Thresholds thresholds(const Detector& d, const DetectionCheckOptions& o) {
    Thresholds t;
    t.conf = o.decode.conf.value_or(d.default_conf());
    t.low = o.decode;
    t.low.conf = std::max(0.0f, t.conf - o.score_tol);
    return t;
}

// What the comparer keeps between calls: the original's detections on each image alone do
// not depend on the batch size, so they are computed once.
struct State {
    std::vector<cv::Mat> images;
    std::vector<std::string> names;
    DetectionCheckOptions options;
    const Model* original = nullptr;  // the model `singles` were computed with
    std::vector<Detections> singles;
};

void run_singles(State& s, const Model& original, const Detector& det, const DecodeOptions& low) {
    if (s.original == &original && s.singles.size() == s.images.size()) return;
    s.singles.clear();
    for (const cv::Mat& img : s.images) s.singles.push_back(detect_one(original, det, img, low));
    s.original = &original;
}

std::vector<Detections> run_batched(const Model& repaired, const Detector& det, const std::vector<cv::Mat>& images,
                                    int batch, const DecodeOptions& low) {
    std::vector<Detections> out;
    for (std::size_t start = 0; start < images.size(); start += static_cast<std::size_t>(batch)) {
        const int n = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(batch), images.size() - start));
        std::vector<Tensor> slots = det.make_input_slots(n);
        std::vector<Geometry> geometry;
        for (int i = 0; i < n; ++i) geometry.push_back(det.preprocess(images[start + i], slots, i));
        const std::vector<Tensor> outputs = repaired.run(slots);
        for (int i = 0; i < n; ++i) out.push_back(det.decode(det.item_outputs(outputs, i), geometry[i], low));
    }
    return out;
}

DetectionAgreement compare(State& s, const Model& original, const Model& repaired, int batch) {
    DetectionAgreement a;
    a.images = static_cast<int>(s.images.size());
    if (batch < 1) throw ConfigError("detection check: batch must be >= 1, got " + std::to_string(batch));
    const auto det_o = make_detector(original.signature(), s.options.detector);
    const auto det_r = make_detector(repaired.signature(), s.options.detector);
    if (det_o->family() != det_r->family()) {
        a.summary = "the repaired model reads as family " + to_string(det_r->family()) + ", the original as " +
                    to_string(det_o->family());
        return a;
    }
    const Thresholds t = thresholds(*det_o, s.options);
    run_singles(s, original, *det_o, t.low);
    const std::vector<Detections> batched = run_batched(repaired, *det_r, s.images, batch, t.low);
    int unmatched_repaired = 0;
    for (std::size_t i = 0; i < s.images.size(); ++i) {
        const ImageMatch m = match_detections(s.singles[i], batched[i], t.conf, s.options);
        a.detections += m.original;
        a.matched += m.matched;
        a.crossed_threshold += m.crossed_threshold;
        unmatched_repaired += m.unmatched_repaired;
        if (m.matched > 0) {
            a.worst_iou = std::min<double>(a.worst_iou, m.worst_iou);
            a.worst_score_diff = std::max<double>(a.worst_score_diff, m.worst_score_diff);
        }
        if (m.original != m.repaired) ++a.count_mismatches;
        if (!m.agree())
            a.disagreements.push_back(s.names[i] + ": " + std::to_string(m.matched) + "/" + std::to_string(m.original) +
                                      " original detections matched, " + std::to_string(m.unmatched_repaired) +
                                      " repaired detections without a partner");
    }
    // Agreement on nothing proves nothing: images where the model finds no object cannot tell
    // a correct repair from a broken one.
    a.agree = a.disagreements.empty() && a.detections > 0;
    a.summary = std::to_string(a.images) + " images, " + std::to_string(a.matched) + "/" +
                std::to_string(a.detections) + " detections matched (same class, IoU > " + fmt(s.options.min_iou) +
                ", |dscore| <= " + fmt(s.options.score_tol) + ", conf " + fmt(t.conf) + "); worst IoU " +
                fmt(a.worst_iou) + ", worst |dscore| " + fmt(a.worst_score_diff);
    if (unmatched_repaired) a.summary += "; " + std::to_string(unmatched_repaired) + " extra in the repaired run";
    if (a.count_mismatches)
        a.summary += "; " + std::to_string(a.count_mismatches) + " images with different counts above conf (" +
                     std::to_string(a.crossed_threshold) + " scores crossed conf within the tolerance)";
    if (a.detections == 0)
        a.summary +=
            "; no detection above conf in any image, so nothing was compared: give images where the model "
            "finds objects";
    for (std::size_t k = 0; k < a.disagreements.size() && k < 3; ++k) a.summary += "; " + a.disagreements[k];
    if (a.disagreements.size() > 3) a.summary += "; ...";
    return a;
}

}  // namespace

ImageMatch match_detections(const Detections& original, const Detections& repaired, float conf,
                            const DetectionCheckOptions& options) {
    ImageMatch m;
    std::vector<std::size_t> order(original.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t x, std::size_t y) { return original[x].score > original[y].score; });
    std::vector<bool> used_o(original.size(), false), used_r(repaired.size(), false);
    // Best unmatched partner in `pool` for `d`: same class, highest IoU, within both bounds.
    auto partner = [&](const Detection& d, const Detections& pool, const std::vector<bool>& used) -> long {
        long best = -1;
        float best_iou = options.min_iou;
        for (std::size_t j = 0; j < pool.size(); ++j) {
            if (used[j] || pool[j].class_id != d.class_id) continue;
            if (std::fabs(pool[j].score - d.score) > options.score_tol) continue;
            const float v = iou(d.box, pool[j].box);
            if (v > best_iou) {
                best = static_cast<long>(j);
                best_iou = v;
            }
        }
        return best;
    };
    auto record = [&](const Detection& a, const Detection& b) {
        m.worst_iou = std::min(m.worst_iou, iou(a.box, b.box));
        m.worst_score_diff = std::max(m.worst_score_diff, std::fabs(a.score - b.score));
        if ((a.score < conf) != (b.score < conf)) ++m.crossed_threshold;
    };
    for (std::size_t i : order) {
        if (original[i].score < conf) continue;
        ++m.original;
        const long j = partner(original[i], repaired, used_r);
        if (j < 0) continue;
        used_o[i] = used_r[static_cast<std::size_t>(j)] = true;
        ++m.matched;
        record(original[i], repaired[static_cast<std::size_t>(j)]);
    }
    // Repaired detections above conf that nothing claimed: a partner just below conf in the
    // original is a threshold crossing, not a disagreement.
    for (std::size_t j = 0; j < repaired.size(); ++j) {
        if (repaired[j].score < conf) continue;
        ++m.repaired;
        if (used_r[j]) continue;
        const long i = partner(repaired[j], original, used_o);
        if (i < 0) {
            ++m.unmatched_repaired;
            continue;
        }
        used_o[static_cast<std::size_t>(i)] = used_r[j] = true;
        record(original[static_cast<std::size_t>(i)], repaired[j]);
    }
    return m;
}

DetectionComparer make_detection_comparer(std::vector<cv::Mat> images, DetectionCheckOptions options,
                                          std::vector<std::string> names) {
    if (images.empty()) throw ConfigError("detection check: no images given; pass at least one");
    for (std::size_t i = 0; i < images.size(); ++i)
        if (images[i].empty() || images[i].type() != CV_8UC3)
            throw InputError("detection check: image " + std::to_string(i) +
                             " is not an 8-bit 3-channel BGR image (load it with load_image)");
    names.resize(images.size());
    for (std::size_t i = 0; i < names.size(); ++i)
        if (names[i].empty()) names[i] = "image " + std::to_string(i);
    auto state = std::make_shared<State>();
    state->images = std::move(images);
    state->names = std::move(names);
    state->options = std::move(options);
    return [state](const Model& original, const Model& repaired, int batch) {
        try {
            return compare(*state, original, repaired, batch);
        } catch (const Error& e) {
            DetectionAgreement a;
            a.images = static_cast<int>(state->images.size());
            a.summary = std::string("cannot compare detections: ") + e.what();
            return a;
        }
    };
}

std::vector<cv::Mat> synthetic_check_images(int count) {
    std::vector<cv::Mat> out;
    const cv::Size sizes[] = {{640, 480}, {480, 640}, {640, 640}, {800, 450}};
    for (int k = 0; k < count; ++k) {
        const cv::Size sz = sizes[k % 4];
        cv::Mat img(sz, CV_8UC3);
        for (int y = 0; y < sz.height; ++y)
            for (int x = 0; x < sz.width; ++x)
                img.at<cv::Vec3b>(y, x) =
                    cv::Vec3b(static_cast<uchar>((x * 255) / sz.width), static_cast<uchar>((y * 255) / sz.height),
                              static_cast<uchar>((37 * k + (x + y) / 4) % 256));
        for (int s = 0; s < 6; ++s) {
            const int cx = (97 * (s + 1) + 53 * k) % sz.width, cy = (61 * (s + 2) + 29 * k) % sz.height;
            const int r = 20 + (s * 17 + k * 11) % 60;
            const cv::Scalar colour((50 * s + 30 * k) % 256, (90 * s + 70) % 256, (140 + 40 * s + k) % 256);
            if (s % 2)
                cv::rectangle(img, {cx - r, cy - r / 2}, {cx + r, cy + r}, colour, cv::FILLED);
            else
                cv::circle(img, {cx, cy}, r, colour, cv::FILLED);
        }
        out.push_back(std::move(img));
    }
    return out;
}

}  // namespace tiledet
