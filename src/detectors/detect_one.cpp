#include "tiledet/detectors/detector.hpp"
#include "tiledet/runtime/model.hpp"

namespace tiledet {

Detections detect_one(const Model& model, const Detector& detector, const cv::Mat& bgr, const DecodeOptions& options) {
    std::vector<Tensor> slots = detector.make_input_slots(1);
    const Geometry geometry = detector.preprocess(bgr, slots, 0);
    const std::vector<Tensor> outputs = model.run(slots);
    return detector.decode(detector.item_outputs(outputs, 0), geometry, options);
}

}  // namespace tiledet
