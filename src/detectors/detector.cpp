// What every family shares: input slots, preprocessing into them, class names.
#include "tiledet/detectors/detector.hpp"

#include <algorithm>

#include "family_fit.hpp"
#include "names.hpp"
#include "preprocess.hpp"
#include "tiledet/error.hpp"
#include "tiledet/limits.hpp"
#include "tiledet/runtime/metadata.hpp"

namespace tiledet {
namespace {

std::size_t find_image_input(const ModelSignature& sig) {
    for (std::size_t i = 0; i < sig.inputs.size(); ++i)
        if (sig.inputs[i].rank() == 4 && detail::is_image_type(sig.inputs[i].type)) return i;
    throw UnknownLayoutError(
        "expected an image input [batch, 1|3, height, width] or [batch, height, width, 1|3] of float32, float16 or "
        "uint8, found none\n" +
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
      family_(std::move(setup.family)),
      reason_(std::move(setup.reason)),
      pixels_(setup.pixels),
      default_conf_(setup.default_conf),
      default_iou_(setup.default_iou),
      outputs_batched_(setup.outputs_batched) {
    if (config.resize) pixels_.resize = *config.resize;
    if (config.pad_value) pixels_.pad_value = *config.pad_value;
    if (config.bgr) pixels_.bgr = *config.bgr;
    if (config.scale) pixels_.scale = *config.scale;
    if (config.mean) pixels_.mean = *config.mean;
    if (config.std) pixels_.std = *config.std;
    image_input_ = find_image_input(sig_);
    const TensorInfo& in = sig_.inputs[image_input_];
    const detail::ImageAxes axes = detail::image_axes(in, pixels_, config.channels, config.input_layout);
    pixels_.layout = axes.layout;
    pixels_.channels = axes.channels;
    pixels_.type = in.type;
    h_axis_ = axes.h_axis;
    w_axis_ = axes.w_axis;
    c_axis_ = axes.c_axis;
    const Dim& hd = in.dims[h_axis_];
    const Dim& wd = in.dims[w_axis_];
    const bool fixed_hw = hd.fixed() && wd.fixed();
    if (fixed_hw) {
        input_h_ = static_cast<int>(hd.value);
        input_w_ = static_cast<int>(wd.value);
        if (config.imgsz && (config.imgsz->first != input_h_ || config.imgsz->second != input_w_))
            throw OptionError("detector.imgsz", "",
                              " " + size_text(config.imgsz->first, config.imgsz->second) + " given, but input '" +
                                  in.name + "' is fixed at " + size_text(input_h_, input_w_) +
                                  "; drop it or re-export the model with dynamic height and width");
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
    if (!fixed_hw && hd.fixed()) input_h_ = static_cast<int>(hd.value);
    if (!fixed_hw && wd.fixed()) input_w_ = static_cast<int>(wd.value);
    if (input_h_ <= 0 || input_w_ <= 0)
        throw ConfigError("the model's input size " + size_text(input_h_, input_w_) +
                          " is not positive (a dim of 0 or less); re-export the model with a positive input size, "
                          "or, where its dims are symbolic, give one with --imgsz H,W");

    // Every class gets a name below; a layout that reads as millions of classes (a huge or
    // mistaken output dim) is not a detector's (fuzz_model_load: an OOM filling that table).
    constexpr int kMaxClasses = 100000;
    if (setup.num_class_slots > kMaxClasses)
        throw UnknownLayoutError("the model's outputs read as " + count_text(setup.num_class_slots) +
                                 " classes, more than the " + count_text(kMaxClasses) +
                                 " any detector has: not a detection output this family decodes (tiledet inspect "
                                 "shows the layouts; --family picks another)");
    names_ = config.names_file.empty() ? std::move(setup.names) : detail::read_names_file(config.names_file);
    for (int id = 0; id < setup.num_class_slots; ++id)
        if (!names_.count(id)) names_[id] = "class" + std::to_string(id);
}

Shape Detector::image_item_shape() const {
    Shape s(4, 0);
    s[c_axis_] = pixels_.channels;
    s[h_axis_] = input_h_;
    s[w_axis_] = input_w_;
    s.erase(s.begin());
    return s;
}

std::vector<Tensor> Detector::make_input_slots(int batch, bool zero_fill) const {
    if (batch < 1) throw ConfigError("batch must be at least 1, got " + std::to_string(batch));
    std::vector<Tensor> slots;
    for (std::size_t i = 0; i < sig_.inputs.size(); ++i) {
        const TensorInfo& in = sig_.inputs[i];
        Shape shape{batch};
        if (i == image_input_) {
            const Shape item = image_item_shape();
            shape.insert(shape.end(), item.begin(), item.end());
            slots.push_back(zero_fill ? Tensor(in.type, std::move(shape)) : Tensor::uninitialized(in.type, std::move(shape)));
            continue;
        }
        for (std::size_t d = 1; d < in.rank(); ++d) shape.push_back(in.dims[d].fixed() ? in.dims[d].value : 1);
        if (in.rank() == 0) shape.clear();
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
    const Shape item = image_item_shape();
    if (slot.rank() != 4 || slot.type() != pixels_.type || !std::equal(item.begin(), item.end(), slot.shape().begin() + 1))
        throw ShapeError("preprocess: image slot " + to_string(slot.shape()) + " " + to_string(slot.type()) +
                         " does not match the input, [batch, " + to_string(item).substr(1) + " " +
                         to_string(pixels_.type) + " (make the slots with make_input_slots)");
    if (index < 0 || index >= slot.dim(0))
        throw ShapeError("preprocess: item " + std::to_string(index) + " is outside the slots' batch of " +
                         std::to_string(slot.dim(0)));

    const detail::Placement placement =
        detail::plan_placement(bgr.cols, bgr.rows, input_w_, input_h_, pixels_.resize, pixels_.letterbox,
                               pixels_.letterbox_inset);
    const std::size_t item_bytes = slot.byte_size() / static_cast<std::size_t>(slot.dim(0));
    detail::write_image(bgr, placement, pixels_, slot.bytes() + item_bytes * static_cast<std::size_t>(index));
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
