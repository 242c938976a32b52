// Signature tests shared by the families: which tensors a layout needs, and what the
// Ultralytics metadata says. Each family's fits() uses these; registry.cpp ranks the fits.
#pragma once

#include <optional>
#include <string>

#include "tiledet/detectors/detector.hpp"

namespace tiledet::detail {

// Why a signature fits a family (empty optional: it does not).
using Fit = FamilyFit;

const TensorInfo* image_input(const ModelSignature& sig);  // first rank-4 float32/float16/uint8 input
bool is_image_type(ElementType t);                         // float32, float16, uint8

// The image input's axes, from its dims (and what the caller forces). A fixed 1 or 3 at axis 1
// reads NCHW, at axis 3 NHWC; both fixed and both 1 or 3 is ambiguous (refused unless `layout`
// says); a symbolic channel axis takes the family's format. Throws UnknownLayoutError (no
// channel axis of 1 or 3, or ambiguous) or ConfigError (a forced value contradicts a fixed dim).
struct ImageAxes {
    TensorLayout layout = TensorLayout::nchw;
    int channels = 3;
    std::size_t c_axis = 1, h_axis = 2, w_axis = 3;
};
ImageAxes image_axes(const TensorInfo& in, const PixelFormat& family, std::optional<int> channels = std::nullopt,
                     std::optional<TensorLayout> layout = std::nullopt);
// (h, w) of the image input when both are fixed (axes read as image_axes does with the default
// format; NCHW when that refuses).
std::optional<std::pair<int, int>> fixed_image_size(const TensorInfo& in);
bool has_output(const ModelSignature& sig, const std::string& name);
bool is_integer(ElementType t);

// The single rank-3 output of an Ultralytics export ("output0" [B, a, b]) and what its
// metadata says about it.
struct UltralyticsOutput {
    const TensorInfo* output = nullptr;
    std::optional<int> metadata_classes;  // len(names) when the metadata has names
    bool end2end_hint = false;            // metadata end2end=True, args nms=True, or a v10/26 description
    bool rtdetr_hint = false;             // description names RT-DETR
    std::string task;                     // metadata `task`: detect, segment, obb, pose ("" when absent)
};
std::optional<UltralyticsOutput> ultralytics_output(const ModelSignature& sig);

// The single [B, N, 5+nc] output of a YOLOv5 / YOLOv7 --grid / YOLOX / YOLOv6 export
// (model-formats-more.md j): one image input, one rank-3 output, a fixed last axis of 6 or more.
struct ObjectnessOutput {
    const TensorInfo* output = nullptr;
    std::optional<int> metadata_classes;  // len(names) when the metadata has names
    bool ultralytics_package = false;     // metadata has `task`: the ultralytics package, never [B,N,5+nc]
    bool yolov5_metadata = false;         // metadata has `stride` (YOLOv5's export_onnx writes stride + names)
};
std::optional<ObjectnessOutput> objectness_output(const ModelSignature& sig);

// What a row count says about a head, for the model's input size: N = sum over strides
// 8,16,32 (P6: also 64) of (H//s)(W//s) for anchor-free heads (YOLOX, YOLOv6), 3x that for
// YOLOv5/v7 (three anchors per cell). The sizes come from fixed input dims or metadata imgsz.
struct GridEvidence {
    enum Kind { unknown_size, anchor_free, three_anchors, not_a_grid } kind = unknown_size;
    bool p6 = false;
    std::string text;  // e.g. "3549 = 52x52 + 26x26 + 13x13 grid cells of a 416x416 input at strides 8,16,32"
};
GridEvidence grid_evidence(const ModelSignature& sig, int64_t rows);
// Grid cells of an h x w input at strides 8,16,32 (and 64 when p6), integer division as YOLOX's H//s.
int64_t grid_cells(int h, int w, bool p6);

// The family's names from Ultralytics metadata `names`, else COCO 80 when nc == 80, else none.
std::map<int, std::string> ultralytics_names(const ModelSignature& sig, int nc);

// Throws UnknownLayoutError for a forced family the signature lacks tensors for.
[[noreturn]] void layout_mismatch(const Family& f, const ModelSignature& sig, const std::string& what);

// Checks the outputs one item decodes from: count, and each rank (with or without the
// leading item axis of 1). Throws ShapeError naming the family.
void check_item_outputs(const Family& f, const std::vector<Tensor>& outs, std::size_t count);

// The shape without a leading item axis of 1 (if the rank is `batched_rank`).
Shape item_shape(const Tensor& t, std::size_t batched_rank);

}  // namespace tiledet::detail
