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

bool is_image_type(ElementType t) {
    return t == ElementType::float32 || t == ElementType::float16 || t == ElementType::uint8;
}

const TensorInfo* image_input(const ModelSignature& sig) {
    for (const auto& in : sig.inputs)
        if (in.rank() == 4 && is_image_type(in.type)) return &in;
    return nullptr;
}

ImageAxes image_axes(const TensorInfo& in, const PixelFormat& family, std::optional<int> channels,
                     std::optional<TensorLayout> layout) {
    const auto channel_dim = [](const Dim& d) { return d.fixed() && (d.value == 1 || d.value == 3); };
    const bool nchw_ok = !in.dims[1].fixed() || channel_dim(in.dims[1]);
    const bool nhwc_ok = !in.dims[3].fixed() || channel_dim(in.dims[3]);
    const std::string what = "image input '" + in.name + "' " + in.dims_string();
    if (channels && *channels != 1 && *channels != 3)
        throw OptionError("detector.channels", "", ": expected 1 or 3, got " + std::to_string(*channels));
    TensorLayout l = family.layout;
    if (layout) {
        if ((*layout == TensorLayout::nchw && !nchw_ok) || (*layout == TensorLayout::nhwc && !nhwc_ok))
            throw OptionError("detector.input_layout", "",
                              " " + to_string(*layout) + " given, but " + what + " has no channel axis of 1 or 3 at axis " +
                                  (*layout == TensorLayout::nchw ? "1" : "3"));
        l = *layout;
    } else if (nchw_ok && nhwc_ok) {
        if (in.dims[1].fixed() && in.dims[3].fixed())
            throw UnknownLayoutError(what + " could be NCHW with " + std::to_string(in.dims[1].value) +
                                     " channels or NHWC with " + std::to_string(in.dims[3].value) +
                                     " channels; say which with DetectorConfig::input_layout (the CLI's "
                                     "--input-layout nchw|nhwc)");
        if (in.dims[1].fixed())
            l = TensorLayout::nchw;
        else if (in.dims[3].fixed())
            l = TensorLayout::nhwc;
        // both symbolic: the family's layout
    } else if (nchw_ok) {
        l = TensorLayout::nchw;
    } else if (nhwc_ok) {
        l = TensorLayout::nhwc;
    } else {
        throw UnknownLayoutError(what + ": expected 1 or 3 colour channels at axis 1 (NCHW) or axis 3 (NHWC)");
    }
    ImageAxes a;
    a.layout = l;
    if (l == TensorLayout::nhwc) {
        a.c_axis = 3;
        a.h_axis = 1;
        a.w_axis = 2;
    }
    const Dim& c = in.dims[a.c_axis];
    a.channels = c.fixed() ? static_cast<int>(c.value) : channels.value_or(family.channels);
    if (channels && *channels != a.channels)
        throw OptionError("detector.channels", "",
                          " " + std::to_string(*channels) + " given, but " + what + " has " +
                              std::to_string(a.channels) + " at its channel axis");
    return a;
}

std::optional<std::pair<int, int>> fixed_image_size(const TensorInfo& in) {
    ImageAxes a;
    try {
        a = image_axes(in, PixelFormat{});
    } catch (const Error&) {
    }
    if (!in.dims[a.h_axis].fixed() || !in.dims[a.w_axis].fixed()) return std::nullopt;
    return std::pair<int, int>{static_cast<int>(in.dims[a.h_axis].value), static_cast<int>(in.dims[a.w_axis].value)};
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
    u.task = lower(meta(sig, "task"));
    u.rtdetr_hint = description.find("rt-detr") != std::string::npos || description.find("rtdetr") != std::string::npos;
    return u;
}

std::optional<ObjectnessOutput> objectness_output(const ModelSignature& sig) {
    if (sig.inputs.size() != 1 || !image_input(sig) || sig.outputs.size() != 1 || sig.outputs[0].rank() != 3)
        return std::nullopt;
    const auto& d = sig.outputs[0].dims;
    if (!d[2].fixed() || d[2].value < 6 || (d[1].fixed() && d[1].value <= d[2].value)) return std::nullopt;
    ObjectnessOutput o;
    o.output = &sig.outputs[0];
    if (const std::string names = meta(sig, "names"); !names.empty()) {
        try {
            o.metadata_classes = static_cast<int>(parse_class_names(names).size());
        } catch (const Error&) {
        }
    }
    o.ultralytics_package = sig.metadata.count("task") > 0;
    o.yolov5_metadata = sig.metadata.count("stride") > 0;
    return o;
}

int64_t grid_cells(int h, int w, bool p6) {
    int64_t n = 0;
    for (int s : {8, 16, 32, 64})
        if (s < 64 || p6) n += static_cast<int64_t>(h / s) * (w / s);
    return n;
}

GridEvidence grid_evidence(const ModelSignature& sig, int64_t rows) {
    GridEvidence e;
    const TensorInfo* in = image_input(sig);
    int h = 0, w = 0;
    if (const auto hw = in ? fixed_image_size(*in) : std::nullopt) {
        h = hw->first;
        w = hw->second;
    } else if (auto hw = parse_imgsz(meta(sig, "imgsz"))) {
        h = hw->first;
        w = hw->second;
    }
    if (h <= 0 || w <= 0) {
        e.text = "the input size is not fixed, so " + std::to_string(rows) + " rows cannot be checked against a grid";
        return e;
    }
    const std::string size = std::to_string(h) + "x" + std::to_string(w);
    for (bool p6 : {false, true}) {
        const int64_t cells = grid_cells(h, w, p6);
        const std::string strides = p6 ? "8,16,32,64 (P6)" : "8,16,32";
        e.p6 = p6;
        if (rows == cells) {
            e.kind = GridEvidence::anchor_free;
            e.text = std::to_string(rows) + " rows = the grid cells of a " + size + " input at strides " + strides;
            return e;
        }
        if (rows == 3 * cells) {
            e.kind = GridEvidence::three_anchors;
            e.text = std::to_string(rows) + " rows = 3 anchors x " + std::to_string(cells) + " grid cells of a " +
                     size + " input at strides " + strides;
            return e;
        }
    }
    e.p6 = false;
    e.kind = GridEvidence::not_a_grid;
    e.text = std::to_string(rows) + " rows match no grid of a " + size + " input (strides 8,16,32 give " +
             std::to_string(grid_cells(h, w, false)) + " cells, P6 " + std::to_string(grid_cells(h, w, true)) +
             "; x3 with anchors)";
    return e;
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

void layout_mismatch(const Family& f, const ModelSignature& sig, const std::string& what) {
    throw UnknownLayoutError("the model does not have the " + to_string(f) + " layout: " + what + "\n" +
                             sig.describe() + "\nknown layouts:\n" + known_layouts());
}

void check_item_outputs(const Family& f, const std::vector<Tensor>& outs, std::size_t count) {
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
