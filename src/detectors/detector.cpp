// What every family shares: input slots, preprocessing into them, class names.
#include "tiledet/detectors/detector.hpp"

#include <algorithm>

#include "names.hpp"
#include "preprocess.hpp"
#include "tiledet/error.hpp"
#include "tiledet/runtime/metadata.hpp"

namespace tiledet {
namespace {

bool is_float(ElementType t) {
    return t == ElementType::float32 || t == ElementType::float16;
}

std::size_t find_image_input(const ModelSignature& sig) {
    for (std::size_t i = 0; i < sig.inputs.size(); ++i)
        if (sig.inputs[i].rank() == 4 && is_float(sig.inputs[i].type)) return i;
    throw UnknownLayoutError("expected an image input [batch, 3, height, width] of float32 or float16, found none\n" +
                             sig.describe() + "\nknown layouts:\n" + known_layouts());
}

std::string size_text(int h, int w) {
    return std::to_string(h) + "x" + std::to_string(w);
}

}  // namespace

Box Geometry::to_original(const Box& b) const {
    auto cx = [&](float x) { return std::clamp((x - pad_x) / scale_x, 0.0f, static_cast<float>(orig_w)); };
    auto cy = [&](float y) { return std::clamp((y - pad_y) / scale_y, 0.0f, static_cast<float>(orig_h)); };
    return Box{cx(b.x1), cy(b.y1), cx(b.x2), cy(b.y2)};
}

Detector::Detector(const ModelSignature& sig, const DetectorConfig& config, Setup setup)
    : sig_(sig),
      family_(setup.family),
      reason_(std::move(setup.reason)),
      resize_(config.resize.value_or(setup.resize)),
      pad_value_(config.pad_value.value_or(setup.pad_value)),
      default_conf_(setup.default_conf),
      imagenet_normalize_(setup.imagenet_normalize),
      channels_bgr_(setup.channels_bgr),
      raw_pixel_values_(setup.raw_pixel_values),
      letterbox_top_left_(setup.letterbox_top_left),
      outputs_batched_(setup.outputs_batched) {
    image_input_ = find_image_input(sig_);
    const TensorInfo& in = sig_.inputs[image_input_];
    if (in.dims[1].fixed() && in.dims[1].value != 3)
        throw UnknownLayoutError("input '" + in.name + "' " + in.dims_string() +
                                 ": expected 3 colour channels in NCHW order (channel-last inputs are not supported)");
    const bool fixed_hw = in.dims[2].fixed() && in.dims[3].fixed();
    if (fixed_hw) {
        input_h_ = static_cast<int>(in.dims[2].value);
        input_w_ = static_cast<int>(in.dims[3].value);
        if (config.imgsz && (config.imgsz->first != input_h_ || config.imgsz->second != input_w_))
            throw ConfigError("--imgsz " + size_text(config.imgsz->first, config.imgsz->second) +
                              " given, but input '" + in.name + "' is fixed at " + size_text(input_h_, input_w_) +
                              "; drop --imgsz or re-export the model with dynamic height and width");
    } else if (config.imgsz) {
        input_h_ = config.imgsz->first;
        input_w_ = config.imgsz->second;
    } else if (auto it = sig_.metadata.find("imgsz"); it != sig_.metadata.end()) {
        if (auto hw = parse_imgsz(it->second)) {
            input_h_ = hw->first;
            input_w_ = hw->second;
        }
    }
    // A half-fixed input (only H or only W symbolic) keeps its fixed side.
    if (!fixed_hw && in.dims[2].fixed()) input_h_ = static_cast<int>(in.dims[2].value);
    if (!fixed_hw && in.dims[3].fixed()) input_w_ = static_cast<int>(in.dims[3].value);
    if (input_h_ <= 0 || input_w_ <= 0)
        throw ConfigError("input size " + size_text(input_h_, input_w_) + " is not positive");

    names_ = config.names_file.empty() ? std::move(setup.names) : detail::read_names_file(config.names_file);
    for (int id = 0; id < setup.num_class_slots; ++id)
        if (!names_.count(id)) names_[id] = "class" + std::to_string(id);
}

std::vector<Tensor> Detector::make_input_slots(int batch) const {
    if (batch < 1) throw ConfigError("batch must be at least 1, got " + std::to_string(batch));
    std::vector<Tensor> slots;
    for (std::size_t i = 0; i < sig_.inputs.size(); ++i) {
        const TensorInfo& in = sig_.inputs[i];
        Shape shape;
        for (std::size_t d = 0; d < in.rank(); ++d) {
            if (d == 0)
                shape.push_back(batch);
            else if (i == image_input_ && d == 1)
                shape.push_back(3);
            else if (i == image_input_ && d == 2)
                shape.push_back(input_h_);
            else if (i == image_input_ && d == 3)
                shape.push_back(input_w_);
            else
                shape.push_back(in.dims[d].fixed() ? in.dims[d].value : 1);
        }
        slots.emplace_back(in.type, std::move(shape));
    }
    return slots;
}

Geometry Detector::preprocess(const cv::Mat& bgr, std::vector<Tensor>& slots, int index) const {
    if (bgr.empty() || bgr.cols < 1 || bgr.rows < 1) throw InputError("preprocess: empty image");
    if (bgr.type() != CV_8UC3)
        throw InputError("preprocess: expected an 8-bit 3-channel BGR image (use load_image), got OpenCV type " +
                         std::to_string(bgr.type()));
    if (slots.size() != sig_.inputs.size())
        throw ShapeError("preprocess: expected " + std::to_string(sig_.inputs.size()) +
                         " input slots (make_input_slots), got " + std::to_string(slots.size()));
    Tensor& slot = slots[image_input_];
    if (slot.rank() != 4 || slot.dim(1) != 3 || slot.dim(2) != input_h_ || slot.dim(3) != input_w_)
        throw ShapeError("preprocess: image slot " + to_string(slot.shape()) + " does not match input size " +
                         size_text(input_h_, input_w_) + " (make the slots with make_input_slots)");
    if (index < 0 || index >= slot.dim(0))
        throw ShapeError("preprocess: item " + std::to_string(index) + " is outside the slots' batch of " +
                         std::to_string(slot.dim(0)));

    const detail::Placement placement = detail::plan_placement(
        bgr.cols, bgr.rows, input_w_, input_h_, resize_,
        letterbox_top_left_ ? detail::LetterboxStyle::top_left_truncated : detail::LetterboxStyle::centred);
    detail::PixelTransform transform;
    transform.pad_value = pad_value_;
    transform.bgr = channels_bgr_;
    if (raw_pixel_values_) transform.divisor = 1.0f;
    if (imagenet_normalize_) {
        // ImageNet statistics (RF-DETR: rfdetr/detr.py RFDETR.means / RFDETR.stds).
        transform.mean = {0.485f, 0.456f, 0.406f};
        transform.std = {0.229f, 0.224f, 0.225f};
    }
    const std::size_t item =
        static_cast<std::size_t>(3) * static_cast<std::size_t>(input_h_) * static_cast<std::size_t>(input_w_);
    if (slot.type() == ElementType::float32)
        detail::write_planes(bgr, placement, transform, slot.data<float>() + item * static_cast<std::size_t>(index));
    else
        detail::write_planes(bgr, placement, transform,
                             slot.data<cv::float16_t>() + item * static_cast<std::size_t>(index));
    fill_extra_inputs(slots, index, placement.geometry);
    return placement.geometry;
}

void Detector::fill_extra_inputs(std::vector<Tensor>&, int, const Geometry&) const {}

std::vector<Tensor> Detector::item_outputs(const std::vector<Tensor>& batch_outputs, int i) const {
    if (!outputs_batched_) {
        if (i != 0)
            throw ShapeError("outputs of this model have no batch axis: only item 0 exists, asked for item " +
                             std::to_string(i));
        return batch_outputs;
    }
    std::vector<Tensor> out;
    out.reserve(batch_outputs.size());
    for (const Tensor& t : batch_outputs) out.push_back(t.item(i));
    return out;
}

std::size_t Detector::output_index(const std::string& name) const {
    for (std::size_t i = 0; i < sig_.outputs.size(); ++i)
        if (sig_.outputs[i].name == name) return i;
    throw UnknownLayoutError("family " + to_string(family_) + " expects an output named '" + name + "'\n" +
                             sig_.describe() + "\nknown layouts:\n" + known_layouts());
}

const std::string& Detector::class_name(int id) const {
    static const std::string kUnknown = "unknown";
    const auto it = names_.find(id);
    return it == names_.end() ? kUnknown : it->second;
}

}  // namespace tiledet
