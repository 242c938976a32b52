// Detector families: each knows one model layout (see shared/reference/model-formats.md):
// how to feed an image into the model's input slot and how to turn one item's outputs into
// boxes in original image pixels. Detectors know nothing of threads or batching: the caller
// owns the slots, runs the model and hands back one item's outputs.
#pragma once

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

enum class Family { yolo, yolo_end2end, ultralytics_rtdetr, hf_rtdetr, official_rtdetr, rfdetr, yolov5, yolox, yolov7_end2end };

std::string to_string(Family f);  // "yolo", "yolo_end2end", ... (the --family spelling)
// Accepts the to_string spelling and a few aliases ("yolov8", "e2e", "dfine", "deim", ...).
std::optional<Family> parse_family(std::string name);
std::vector<Family> all_families();

// How an image becomes the model's input frame.
enum class ResizeMode {
    letterbox,  // keep aspect ratio, centre, pad (Ultralytics LetterBox; D-FINE/DEIM scripts)
    stretch,    // plain resize to the input size (RT-DETR, HF, RF-DETR references)
};
std::string to_string(ResizeMode m);
std::optional<ResizeMode> parse_resize_mode(const std::string& name);

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
    float iou = 0.7f;           // NMS IoU (families that need NMS); Ultralytics default 0.7
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

    Family family() const { return family_; }
    const std::string& reason() const { return reason_; }
    std::pair<int, int> input_size() const { return {input_h_, input_w_}; }  // (h, w)
    ResizeMode resize_mode() const { return resize_; }
    float default_conf() const { return default_conf_; }
    const ModelSignature& signature() const { return sig_; }

    // Zero-filled tensors, one per model input in signature order, leading dim `batch`.
    std::vector<Tensor> make_input_slots(int batch = 1) const;

    // Writes item `index` of every input slot from `bgr` (8-bit BGR; may be an ROI view of a
    // larger image) and returns where the image went in the input frame.
    Geometry preprocess(const cv::Mat& bgr, std::vector<Tensor>& slots, int index = 0) const;

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
        ResizeMode resize = ResizeMode::stretch;
        int pad_value = 114;
        float default_conf = 0.25f;
        bool imagenet_normalize = false;
        // YOLOX's preproc (model-formats-more.md c(3)): B,G,R planes of raw bytes 0..255, the
        // letterboxed content sized int(w*r) and pasted at the top-left corner.
        bool channels_bgr = false;
        bool raw_pixel_values = false;
        bool letterbox_top_left = false;
        std::map<int, std::string> names;  // the family's own (metadata, COCO); a names file wins
        int num_class_slots = 0;           // ids 0..n-1 get a fallback name
        bool outputs_batched = true;       // false: outputs have no batch axis (one item per run)
    };
    Detector(const ModelSignature& sig, const DetectorConfig& config, Setup setup);

    // Hook for inputs besides the image (official RT-DETR's orig_target_sizes).
    virtual void fill_extra_inputs(std::vector<Tensor>& slots, int index, const Geometry& g) const;

    float conf_threshold(const DecodeOptions& o) const { return o.conf.value_or(default_conf_); }
    std::size_t image_input_index() const { return image_input_; }
    std::size_t output_index(const std::string& name) const;  // throws UnknownLayoutError

private:
    ModelSignature sig_;
    Family family_;
    std::string reason_;
    ResizeMode resize_;
    int pad_value_;
    float default_conf_;
    bool imagenet_normalize_;
    bool channels_bgr_ = false, raw_pixel_values_ = false, letterbox_top_left_ = false;
    std::size_t image_input_ = 0;
    int input_h_ = 640, input_w_ = 640;
    bool outputs_batched_ = true;
    std::map<int, std::string> names_;
};

// Picks the family (or takes config.family) and builds its detector. Throws
// UnknownLayoutError listing the model's inputs and outputs and the known layouts.
std::unique_ptr<Detector> make_detector(const ModelSignature& sig, const DetectorConfig& config = {});

// Preprocess at batch 1, run, decode: the simple path for tests and the plain CLI loop.
Detections detect_one(const Model& model, const Detector& detector, const cv::Mat& bgr,
                      const DecodeOptions& options = {});

}  // namespace tiledet
