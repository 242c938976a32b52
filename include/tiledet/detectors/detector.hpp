// Detector families: each knows one model layout (see shared/reference/model-formats.md):
// how to feed an image into the model's input slot and how to turn one item's outputs into
// boxes in original image pixels. Detectors know nothing of threads or batching: the caller
// owns the slots, runs the model and hands back one item's outputs.
#pragma once

#include <array>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tiledet/detection.hpp"
#include "tiledet/runtime/signature.hpp"
#include "tiledet/runtime/tensor.hpp"

namespace tiledet {

class Model;

// A detector family: the id it is registered under ("yolo", "yolox", ...; the --family
// spelling). A value, not a closed enum: the registry (registry.cpp, or register_family at run
// time) owns the list, so adding a family is one file pair plus one registration line.
class Family {
public:
    Family() = default;
    explicit Family(std::string id) : id_(std::move(id)) {}
    const std::string& id() const { return id_; }
    friend bool operator==(const Family&, const Family&) = default;
    friend auto operator<=>(const Family&, const Family&) = default;

private:
    std::string id_;
};
std::ostream& operator<<(std::ostream& os, const Family& f);  // the id

std::string to_string(const Family& f);  // "yolo", "yolo_end2end", ... (the --family spelling)
// Accepts a registered id and its aliases ("yolov8", "e2e", "dfine", "deim", ...), any case,
// '-' read as '_'.
std::optional<Family> parse_family(std::string name);
std::vector<Family> all_families();  // in registration order

// How an image becomes the model's input frame.
enum class ResizeMode {
    letterbox,  // keep aspect ratio, centre, pad (Ultralytics LetterBox; D-FINE/DEIM scripts)
    stretch,    // plain resize to the input size (RT-DETR, HF, RF-DETR references)
};
std::string to_string(ResizeMode m);
std::optional<ResizeMode> parse_resize_mode(const std::string& name);

// Where letterboxed content sits: centred (Ultralytics LetterBox: r = min(h'/h, w'/w), content
// round(w*r) x round(h*r), pad split with round(d/2 -+ 0.1)), top_left (YOLOX preproc,
// model-formats-more.md c(3): content int(w*r) x int(h*r) pasted at (0, 0)) or centred_floor
// (super-gradients DetectionCenterPadding, model-formats-more.md e(3): top = dh // 2).
enum class LetterboxStyle { centred, top_left, centred_floor };

// How content is resized: bilinear (cv2.INTER_LINEAR, most references) or bicubic
// (PaddleDetection Resize interp 2, model-formats-more.md f(3)).
enum class Interpolation { linear, cubic };

// Axis order of the image input: [B, C, H, W] or [B, H, W, C].
enum class TensorLayout { nchw, nhwc };
std::string to_string(TensorLayout l);
std::optional<TensorLayout> parse_tensor_layout(const std::string& name);  // "nchw" | "nhwc"

// A family's pixel transform, as data. The default Detector::preprocess reads only this:
//   3 channels: the image's R,G,B (or B,G,R) bytes; 1 channel: grey = cv::cvtColor(BGR2GRAY)
//   of the image, before the resize; resize (and letterbox with pad_value); then per channel
//   float32/float16: value = (byte / scale - mean[c]) / std[c]   (1 channel uses index 0)
//   uint8:           value = byte                                  (the model normalizes)
// laid out NCHW or NHWC. `channels`, `layout` and `type` are the family's defaults; the image
// input's signature and DetectorConfig decide them for a given model (see DetectorConfig).
struct PixelFormat {
    int channels = 3;    // 3 or 1
    bool bgr = false;    // 3 channels in B,G,R order (YOLOX); else R,G,B
    TensorLayout layout = TensorLayout::nchw;
    ElementType type = ElementType::float32;  // float32, float16 or uint8
    float scale = 255.0f;                     // divisor; 1: raw bytes 0..255 (YOLOX)
    std::array<float, 3> mean{0, 0, 0};       // in the model's channel order
    std::array<float, 3> std{1, 1, 1};
    ResizeMode resize = ResizeMode::stretch;
    int pad_value = 114;  // letterbox fill byte, before scale/mean/std
    LetterboxStyle letterbox = LetterboxStyle::centred;
    // Letterbox content fits (input side - inset): YOLO-NAS rescales the longest side to 636 and
    // pads to 640 (model-formats-more.md e(3)).
    int letterbox_inset = 0;
    Interpolation interpolation = Interpolation::linear;
};
// One line: "3 channels RGB, NCHW float32, (byte/255 - mean) / std, letterbox centred, pad 114".
std::string to_string(const PixelFormat& f);

// Where the image went in the input frame: input = original * scale + pad. Decoding maps
// boxes back with it, so it travels with the request (DESIGN.md).
struct Geometry {
    int orig_w = 0, orig_h = 0;    // the image (or tile) given to preprocess
    int input_w = 0, input_h = 0;  // the model's input frame
    float scale_x = 1, scale_y = 1;
    float pad_x = 0, pad_y = 0;

    // A box in input-frame pixels back to original pixels, clipped to the image.
    Box to_original(const Box& input_box) const;
};

struct DecodeOptions {
    std::optional<float> conf;  // unset: the family's reference default (see Detector::default_conf)
    std::optional<float> iou;   // NMS IoU (families that need NMS); unset: the family's reference
                                // default (Detector::default_iou: 0.7 Ultralytics, 0.45 YOLOv5/YOLOX)
    int max_det = 300;          // Ultralytics default
    bool agnostic = false;      // class-agnostic NMS
    std::vector<int> classes;   // keep only these class ids (empty: all)
};

struct DetectorConfig {
    std::optional<Family> family;              // force a family instead of matching
    std::optional<std::pair<int, int>> imgsz;  // (h, w) for models with dynamic H/W
    std::string names_file;                    // one class name per line, line i = class id i
    std::optional<ResizeMode> resize;          // override the family's resize
    std::optional<int> pad_value;              // letterbox fill (0..255); family default
    // The image input's channel count and axis order. Normally read from the signature: a fixed
    // 1 or 3 at axis 1 is NCHW, at axis 3 NHWC ([B,1,640,640], [B,640,640,3]); an input whose
    // channel axis is symbolic takes the family's PixelFormat (NCHW, 3 for the built-in families).
    // Where both axes 1 and 3 could be channels ([B,3,H,3]) the model is refused unless
    // input_layout says which. A value that contradicts a fixed dim is a ConfigError.
    std::optional<int> channels;                // 1 or 3
    std::optional<TensorLayout> input_layout;  // nchw | nhwc
    // Normalisation overrides, for exports whose preprocessing differs from their family's
    // reference: value = (byte / scale - mean) / std per channel, channels in `bgr` order. YOLOX
    // weights from before 2021-08 (its "legacy" preproc, model-formats-more.md c(3)) need
    // bgr=false, scale=255, mean=ImageNet (0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225).
    std::optional<bool> bgr;
    std::optional<float> scale;                 // > 0
    std::optional<std::array<float, 3>> mean;  // in the model's channel order
    std::optional<std::array<float, 3>> std;   // each > 0
};

struct FamilyMatch {
    std::optional<Family> family;    // empty: no family matches, or several do (ambiguous: candidates > 1)
    std::string reason;              // why this family (or why none)
    std::vector<Family> candidates;  // every family whose layout the signature fits
};

// Reads names, ranks, shapes and metadata; never a file name.
FamilyMatch match_family(const ModelSignature& sig);

// One line per layout tiledet knows, for error messages.
std::string known_layouts();

class Detector {
public:
    virtual ~Detector() = default;
    Detector(const Detector&) = delete;
    Detector& operator=(const Detector&) = delete;

    const Family& family() const { return family_; }
    const std::string& reason() const { return reason_; }
    std::pair<int, int> input_size() const { return {input_h_, input_w_}; }  // (h, w)
    ResizeMode resize_mode() const { return pixels_.resize; }
    // The transform the default preprocess applies to this model's image input (the family's,
    // with channels/layout/type resolved from the signature and config).
    const PixelFormat& pixel_format() const { return pixels_; }
    float default_conf() const { return default_conf_; }
    float default_iou() const { return default_iou_; }
    const ModelSignature& signature() const { return sig_; }

    // One tensor per model input in signature order, leading dim `batch`. The image slot is
    // [batch, C, H, W] or [batch, H, W, C] as the model takes it. zero_fill = false leaves the
    // image slot uninitialized (other inputs are small and always zeroed): safe because the
    // default preprocess writes every element of its item, letterbox pad included, and each
    // built-in family's fill_extra_inputs writes its item of the other inputs. A family that
    // overrides preprocess must keep that promise.
    std::vector<Tensor> make_input_slots(int batch = 1, bool zero_fill = true) const;

    // Writes item `index` of every input slot from `bgr` (8-bit BGR; may be an ROI view of a
    // larger image) and returns where the image went in the input frame. The default is driven
    // by pixel_format(); a family with an odd input overrides it.
    virtual Geometry preprocess(const cv::Mat& bgr, std::vector<Tensor>& slots, int index = 0) const;

    // Outputs for ONE item (leading dim 1, as Tensor::item(i) gives; for a model whose outputs
    // have no batch axis, the outputs as they are) -> detections in original pixels, sorted by
    // score, highest first.
    virtual Detections decode(const std::vector<Tensor>& item_outputs, const Geometry& geometry,
                              const DecodeOptions& options) const = 0;

    // Item i's outputs from a batch's outputs (item(i) of each, or all for no batch axis).
    std::vector<Tensor> item_outputs(const std::vector<Tensor>& batch_outputs, int i) const;
    bool outputs_have_batch_axis() const { return outputs_batched_; }

    // The class's name: from the names file, the model's metadata or the family's COCO list;
    // "class<id>" for a slot nobody named; "unknown" for an id outside the model's slots.
    const std::string& class_name(int id) const;
    const std::map<int, std::string>& class_names() const { return names_; }

protected:
    struct Setup {
        Family family;
        std::string reason;
        PixelFormat pixels;  // the family's transform (model-formats*.md, per family)
        float default_conf = 0.25f;
        float default_iou = 0.7f;  // NMS IoU of the family's reference (Ultralytics 0.7)
        std::map<int, std::string> names;  // the family's own (metadata, COCO); a names file wins
        int num_class_slots = 0;           // ids 0..n-1 get a fallback name
        bool outputs_batched = true;       // false: outputs have no batch axis (one item per run)
    };
    Detector(const ModelSignature& sig, const DetectorConfig& config, Setup setup);

    // Hook for inputs besides the image (official RT-DETR's orig_target_sizes): must write
    // item `index` of each such input completely (see make_input_slots).
    virtual void fill_extra_inputs(std::vector<Tensor>& slots, int index, const Geometry& g) const;

    float conf_threshold(const DecodeOptions& o) const { return o.conf.value_or(default_conf_); }
    float iou_threshold(const DecodeOptions& o) const { return o.iou.value_or(default_iou_); }
    std::size_t image_input_index() const { return image_input_; }
    std::size_t output_index(const std::string& name) const;  // throws UnknownLayoutError

private:
    Shape image_item_shape() const;  // one item of the image input: [C, H, W] or [H, W, C]

    ModelSignature sig_;
    Family family_;
    std::string reason_;
    PixelFormat pixels_;
    float default_conf_;
    float default_iou_ = 0.7f;
    std::size_t image_input_ = 0;
    std::size_t c_axis_ = 1, h_axis_ = 2, w_axis_ = 3;  // of the image input
    int input_h_ = 640, input_w_ = 640;
    bool outputs_batched_ = true;
    std::map<int, std::string> names_;
};

// Registering a family: its id (the --family spelling), aliases, one known_layouts() line, the
// signature test and the factory. The built-in families are registered in registry.cpp, one
// line each; register_family adds one at run time (for a family outside the library). Throws
// ConfigError when the id or an alias is taken.
using FamilyFit = std::optional<std::string>;  // why the signature fits (empty: it does not)
struct FamilyRegistration {
    std::string id;
    std::vector<std::string> aliases;
    std::string layout;
    std::function<FamilyFit(const ModelSignature&)> fits;
    std::function<std::unique_ptr<Detector>(const ModelSignature&, const DetectorConfig&, std::string reason)> make;
};
void register_family(FamilyRegistration registration);

// Picks the family (or takes config.family) and builds its detector. Throws
// UnknownLayoutError listing the model's inputs and outputs and the known layouts.
std::unique_ptr<Detector> make_detector(const ModelSignature& sig, const DetectorConfig& config = {});

// Preprocess at batch 1, run, decode: the simple path for tests and the plain CLI loop.
Detections detect_one(const Model& model, const Detector& detector, const cv::Mat& bgr,
                      const DecodeOptions& options = {});

}  // namespace tiledet
