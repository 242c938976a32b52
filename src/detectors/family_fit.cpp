#include "family_fit.hpp"

#include <algorithm>
#include <cctype>

#include "names.hpp"
#include "tiledet/error.hpp"
#include "tiledet/runtime/metadata.hpp"

namespace tiledet::detail {
namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

std::string meta(const ModelSignature& sig, const std::string& key) {
    const auto it = sig.metadata.find(key);
    return it == sig.metadata.end() ? std::string() : it->second;
}

}  // namespace

const TensorInfo* image_input(const ModelSignature& sig) {
    for (const auto& in : sig.inputs)
        if (in.rank() == 4 && (in.type == ElementType::float32 || in.type == ElementType::float16)) return &in;
    return nullptr;
}

bool has_output(const ModelSignature& sig, const std::string& name) {
    return sig.find_output(name) != nullptr;
}

bool is_integer(ElementType t) {
    return t == ElementType::int64 || t == ElementType::int32 || t == ElementType::int16 || t == ElementType::int8 ||
           t == ElementType::uint8;
}

std::optional<UltralyticsOutput> ultralytics_output(const ModelSignature& sig) {
    if (sig.inputs.size() != 1 || !image_input(sig) || sig.outputs.size() != 1 || sig.outputs[0].rank() != 3)
        return std::nullopt;
    UltralyticsOutput u;
    u.output = &sig.outputs[0];
    if (const std::string names = meta(sig, "names"); !names.empty()) {
        try {
            u.metadata_classes = static_cast<int>(parse_class_names(names).size());
        } catch (const Error&) {
            // Unparseable names only cost us a hint; the shape still decides.
        }
    }
    const std::string description = lower(meta(sig, "description"));
    const std::string args = lower(meta(sig, "args"));
    // Ultralytics writes end2end=True for YOLOv10/YOLO26 heads, and an nms=True export keeps
    // nms in its args (exporter metadata, see model-formats.md a(1), a(4)).
    u.end2end_hint = lower(meta(sig, "end2end")) == "true" || args.find("'nms': true") != std::string::npos ||
                     description.find("yolov10") != std::string::npos ||
                     description.find("yolo26") != std::string::npos;
    u.rtdetr_hint = description.find("rt-detr") != std::string::npos || description.find("rtdetr") != std::string::npos;
    return u;
}

std::map<int, std::string> ultralytics_names(const ModelSignature& sig, int nc) {
    if (const std::string names = meta(sig, "names"); !names.empty()) {
        try {
            return parse_class_names(names);
        } catch (const Error&) {
        }
    }
    return nc == 80 ? coco80_names() : std::map<int, std::string>{};
}

void layout_mismatch(Family f, const ModelSignature& sig, const std::string& what) {
    throw UnknownLayoutError("the model does not have the " + to_string(f) + " layout: " + what + "\n" +
                             sig.describe() + "\nknown layouts:\n" + known_layouts());
}

void check_item_outputs(Family f, const std::vector<Tensor>& outs, std::size_t count) {
    if (outs.size() != count)
        throw ShapeError(to_string(f) + " decode: expected " + std::to_string(count) +
                         " output tensors for one item, got " + std::to_string(outs.size()));
}

Shape item_shape(const Tensor& t, std::size_t batched_rank) {
    Shape s = t.shape();
    if (s.size() == batched_rank) {
        if (s[0] != 1)
            throw ShapeError("decode takes one item's outputs (leading dim 1, Tensor::item), got " + to_string(s));
        s.erase(s.begin());
    }
    return s;
}

}  // namespace tiledet::detail
