#include "tiledet/pipeline/options.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <sstream>

#include "tiledet/error.hpp"
#include "tiledet/runtime/providers.hpp"

namespace tiledet {
namespace {

std::string family_list() {
    std::string s;
    for (const Family& f : all_families()) s += (s.empty() ? "" : ", ") + to_string(f);
    return s;
}

[[noreturn]] void bad(std::string_view name, const std::string& expected, std::string_view value) {
    throw OptionError(std::string(name), "", ": expected " + expected + ", got '" + std::string(value) + "'");
}

template <class T>
T number(std::string_view name, std::string_view v, const std::string& expected, T lo = std::numeric_limits<T>::lowest(),
         T hi = std::numeric_limits<T>::max()) {
    T out{};
    const char* end = v.data() + v.size();
    const auto [ptr, ec] = std::from_chars(v.data(), end, out);
    if (v.empty() || ec != std::errc() || ptr != end || out < lo || out > hi) bad(name, expected, v);
    if constexpr (std::is_floating_point_v<T>)
        if (!std::isfinite(out)) bad(name, expected, v);
    return out;
}

bool boolean(std::string_view name, std::string_view v) {
    std::string s(v);
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (s == "true" || s == "1" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "0" || s == "no" || s == "off") return false;
    bad(name, "true or false", v);
}

// Comma-separated items; empty items are kept ("1,,2" and "0,2," are mistakes the parsers
// of the items refuse), an empty value is no items.
std::vector<std::string> split(std::string_view v) {
    std::vector<std::string> out;
    if (v.empty()) return out;
    for (std::size_t start = 0;;) {
        const std::size_t comma = v.find(',', start);
        out.emplace_back(v.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    return out;
}

std::vector<int> int_list(std::string_view name, std::string_view v, int lo, const char* example) {
    std::vector<int> out;
    const std::string expected = "comma-separated integers >= " + std::to_string(lo) + " (e.g. " + example + ")";
    for (const std::string& tok : split(v)) {
        if (tok.empty()) bad(name, expected, v);  // "1,,2", "0,2,"
        out.push_back(number<int>(name, tok, expected, lo));
    }
    return out;
}

std::vector<OptionSpec> make_specs() {
    const PipelineOptions d;
    const auto num = [](double v) {
        std::ostringstream os;
        os << v;
        return os.str();
    };
    return {
        {"provider", "model",
         "Execution providers in priority order, comma-separated: cpu, cuda[:DEVICE], tensorrt[:DEVICE], coreml; or "
         "auto (tensorrt, cuda, cpu: the first this machine runs). CPU runs what a GPU provider lacks. A GPU "
         "provider needs scripts/setup.sh --gpu",
         "cpu", false, {"model.providers"}},
        {"device_id", "model", "GPU device id (or --provider cuda:DEVICE)", "0", false, {"model.device_id"}},
        {"io_binding", "model",
         "ONNX Runtime IoBinding: auto (on with a GPU provider: pinned host staging, outputs bound per batch size), "
         "on, off",
         "auto", false, {"model.io_binding"}},
        {"cuda_graphs", "model", "Capture one CUDA graph per batch size (cuda provider only)", "false", true,
         {"model.cuda_graphs"}},
        {"threads", "model",
         "CPU threads in all, split between instances, at least 1 each (0: all cores); auto: chosen by --config auto, all cores "
         "with --config manual",
         "auto", false,
         {"model.intra_op_threads"}},
        {"family", "model", "Force the model family (" + family_list() + ")", "", false, {"detector.family"}},
        {"imgsz", "model", "Input size for models with dynamic H/W: SIZE or H,W", "", false, {"detector.imgsz"}},
        {"names", "model", "Class names file, one per line", "", false, {"detector.names_file"}},
        {"resize", "model", "letterbox or stretch (default: the family's reference)", "", false, {"detector.resize"}},
        {"pad", "model", "Letterbox fill value 0..255 (default: the family's reference)", "", false,
         {"detector.pad_value"}},
        {"channels", "model",
         "Image input channels, 1 (grey) or 3, for a model whose channel axis is symbolic (default: read from the "
         "input's dims, else the family's)",
         "", false, {"detector.channels"}},
        {"input_layout", "model",
         "Image input axes, nchw or nhwc (default: a fixed 1 or 3 at axis 1 is nchw, at axis 3 nhwc; required when "
         "both could be)",
         "", false, {"detector.input_layout"}},
        {"channel_order", "model", "Colour order of a 3-channel input: rgb or bgr (default: the family's reference)",
         "", false, {"detector.bgr"}},
        {"scale", "model", "Pixel divisor before mean/std, e.g. 255 or 1 for raw bytes (default: the family's)", "",
         false, {"detector.scale"}},
        {"mean", "model",
         "Per-channel mean subtracted after the divisor, R,G,B (or B,G,R) e.g. 0.485,0.456,0.406 (default: the "
         "family's)",
         "", false, {"detector.mean"}},
        {"std", "model", "Per-channel std divided by after the mean, e.g. 0.229,0.224,0.225 (default: the family's)",
         "", false, {"detector.std"}},
        {"conf", "decode", "Confidence threshold 0..1 (default: the family's reference default)", "", false,
         {"decode.conf"}},
        {"iou", "decode",
         "NMS IoU threshold 0..1 (families with NMS; default: the family's reference, 0.7 Ultralytics, 0.45 "
         "YOLOv5/YOLOX)",
         "", false, {"decode.iou"}},
        {"max_det", "decode", "Maximum detections per image (0: no limit)", std::to_string(d.decode.max_det), false,
         {"decode.max_det"}},
        {"classes", "decode", "Keep only these class ids, e.g. 0,2", "", false, {"decode.classes"}},
        {"agnostic", "decode", "Class-agnostic NMS", "false", true, {"decode.agnostic"}},
        {"tile", "tiling", "Tiles: none, auto, SIZE or WxH (SIZE 0: the model's input size)", "none", false,
         {"tile_mode", "tiles.tile_w", "tiles.tile_h"}},
        {"overlap", "tiling", "Tile overlap: ratio (< 1) or pixels (>= 1)", num(d.tiles.overlap_ratio_w), false,
         {"tiles.overlap_px_w", "tiles.overlap_px_h", "tiles.overlap_ratio_w", "tiles.overlap_ratio_h"}},
        {"full_image", "tiling", "Also run the whole image as one more tile (SAHI's standard prediction)", "false",
         true, {"tiles.add_full_image"}},
        {"merge", "tiling", "Merge across tiles: nms, nmm, greedy-nmm", "greedy-nmm", false, {"merge.algorithm"}},
        {"match", "tiling", "Merge match metric: iou or ios", "ios", false, {"merge.metric"}},
        {"merge_threshold", "tiling", "Merge match threshold 0..1", num(d.merge.threshold), false,
         {"merge.threshold"}},
        {"merge_agnostic", "tiling", "Merge boxes across classes", "false", true, {"merge.class_agnostic"}},
        {"config", "batching",
         "How instances, threads and max batch are chosen: auto (measured once per model and machine, the search "
         "bounded by --auto-budget-ms, then cached under $TILEDET_CACHE_DIR, $XDG_CACHE_HOME/tiledet or ~/.cache/tiledet; a "
         "value given with --instances, --threads or --batch is kept; one image run whole measures nothing) or "
         "manual (1 instance, all cores, max batch " + std::to_string(d.batching.max_batch_size) +
             ", unless given). TILEDET_AUTO_CONFIG=off makes auto act as manual, whatever --config says",
         "auto", false, {"auto_config.enabled"}},
        {"auto_budget_ms", "batching",
         "--config auto: how long the search may take, 100 to 60000 ms (soft: 1 instance and one per core are "
         "always measured, sessions opened and warmed first; each cell runs a tenth of it, 0.1 to 0.4 s, and a "
         "larger budget leaves room for more cells); part of the cache key",
         std::to_string(d.auto_config.budget.count()), false, {"auto_config.budget"}},
        {"auto_max_other_load", "batching",
         "--config auto: cache the measured choice only when other processes took at most this share (0 to 1) of "
         "the CPUs while it was measured (a busy machine skews the pick: it is used, and the next run measures "
         "again); 1: cache it whatever the load",
         num(d.auto_config.max_other_load), false, {"auto_config.max_other_load"}},
        {"batch", "batching",
         "Max batch size for a dynamic-batch model; auto: chosen by --config auto, " +
             std::to_string(d.batching.max_batch_size) + " with --config manual",
         "auto", false, {"batching.max_batch_size"}},
        {"max_delay_ms", "batching", "How long a request may wait for a batch to fill (ms)",
         num(d.batching.max_queue_delay.count() / 1000.0), false, {"batching.max_queue_delay"}},
        {"instances", "batching",
         "Model instances running batches concurrently; auto: chosen by --config auto, " +
             std::to_string(d.batching.instances) + " with --config manual",
         "auto", false, {"batching.instances"}},
        {"queue", "batching", "Queue capacity in requests (tiles); 0: unbounded", std::to_string(d.batching.queue_capacity), false,
         {"batching.queue_capacity"}},
        {"probe_sizes", "batching", "Warm-up probe batches of a dynamic model: sizes, 'max' (--batch), or 'none'",
         "2,3,max", false, {"batching.probe_batch_sizes"}},
        {"tiles_in_flight", "batching",
         "Tiles of one image cut and queued at a time; more are cut as these come back (0: two batches per instance)",
         std::to_string(d.max_tiles_in_flight), false, {"max_tiles_in_flight"}},
        {"verbose", "batching", "One log line per batch", "false", true, {"batching.verbose"}},
        {"max_image_pixels", "limits", "Refuse images of more pixels (0: no limit)",
         std::to_string(d.limits.max_image_pixels), false, {"limits.max_image_pixels"}},
        {"max_input_elements", "limits", "Refuse models whose input takes more elements per item (0: no limit)",
         std::to_string(d.limits.max_input_elements), false, {"limits.max_input_elements"}},
        {"max_output_elements", "limits", "Refuse models whose output gives more elements per item (0: no limit)",
         std::to_string(d.limits.max_output_elements), false, {"limits.max_output_elements"}},
        {"max_tiles", "tiling", "Refuse images cut into more tiles (0: no limit)",
         std::to_string(d.limits.max_tiles_per_image), false, {"limits.max_tiles_per_image"}},
        {"min_tile_ratio", "tiling", "Refuse tiles smaller than this fraction of the model input side (0: no limit)",
         num(d.limits.min_tile_ratio), false, {"limits.min_tile_ratio"}},
    };
}

}  // namespace

const std::vector<OptionSpec>& pipeline_option_specs() {
    static const std::vector<OptionSpec> specs = make_specs();
    return specs;
}

std::string option_for_field(std::string_view field) {
    for (const OptionSpec& s : pipeline_option_specs())
        if (std::find(s.fields.begin(), s.fields.end(), field) != s.fields.end()) return s.name;
    return std::string(field);
}

std::string option_flag(std::string_view name) {
    std::string flag(name);
    std::replace(flag.begin(), flag.end(), '_', '-');
    return flag.insert(0, "--");
}

void set_option(PipelineOptions& o, std::string_view name, std::string_view v) {
    const std::string n(name);
    if (n == "provider") {
        // The provider rules (names, NAME:DEVICE, auto) are the runtime's: tiledet/runtime/providers.hpp.
        // parse_provider_list names the command line's "--provider" (with nothing before it);
        // set_option's errors name the option as given (found by fuzz_options).
        ProviderRequest r;
        try {
            r = parse_provider_list(v);
        } catch (const OptionError& e) {
            throw OptionError(n, "", e.with_name(""));
        }
        if (r.device_id && o.model.device_id != 0 && *r.device_id != o.model.device_id)
            bad(name, "the same device as device_id " + std::to_string(o.model.device_id) + " (give it once)", v);
        o.model.providers = r.automatic ? std::vector<std::string>{"auto"} : r.providers;
        if (r.device_id) o.model.device_id = *r.device_id;
    } else if (n == "device_id") {
        o.model.device_id = number<int>(name, v, "a device id >= 0", 0);
    } else if (n == "io_binding") {
        if (v == "auto") o.model.io_binding = ModelOptions::IoBinding::automatic;
        else if (v == "on") o.model.io_binding = ModelOptions::IoBinding::on;
        else if (v == "off") o.model.io_binding = ModelOptions::IoBinding::off;
        else bad(name, "auto, on or off", v);
    } else if (n == "cuda_graphs") {
        o.model.cuda_graphs = boolean(name, v);
    } else if (n == "threads") {
        const bool chosen = v == "auto";
        o.model.intra_op_threads =
            chosen ? PipelineOptions{}.model.intra_op_threads
                   : number<int>(name, v, "a thread count from 0 to 4096 (0: all cores) or auto", 0, 4096);
        o.auto_config.threads_given = !chosen;
    } else if (n == "family") {
        o.detector.family = parse_family(std::string(v));
        if (!o.detector.family) bad(name, "one of: " + family_list(), v);
    } else if (n == "imgsz") {
        const std::vector<int> s = int_list(name, v, 1, "640 or 480,640");
        if (s.size() == 1) o.detector.imgsz = std::make_pair(s[0], s[0]);
        else if (s.size() == 2) o.detector.imgsz = std::make_pair(s[0], s[1]);
        else bad(name, "SIZE or H,W (e.g. 640 or 480,640)", v);
    } else if (n == "names") {
        o.detector.names_file = std::string(v);
    } else if (n == "resize") {
        o.detector.resize = parse_resize_mode(std::string(v));
        if (!o.detector.resize) bad(name, "letterbox or stretch", v);
    } else if (n == "pad") {
        o.detector.pad_value = number<int>(name, v, "a fill value 0..255", 0, 255);
    } else if (n == "channels") {
        const int c = number<int>(name, v, "1 or 3", 1, 3);
        if (c == 2) bad(name, "1 or 3", v);
        o.detector.channels = c;
    } else if (n == "input_layout") {
        o.detector.input_layout = parse_tensor_layout(std::string(v));
        if (!o.detector.input_layout) bad(name, "nchw or nhwc", v);
    } else if (n == "channel_order") {
        if (v == "rgb") o.detector.bgr = false;
        else if (v == "bgr") o.detector.bgr = true;
        else bad(name, "rgb or bgr", v);
    } else if (n == "scale") {
        const float s = number<float>(name, v, "a divisor > 0 (255: bytes to 0..1; 1: raw bytes)", 0.f, 1e6f);
        if (!(s > 0)) bad(name, "a divisor > 0 (255: bytes to 0..1; 1: raw bytes)", v);
        o.detector.scale = s;
    } else if (n == "mean" || n == "std") {
        const bool is_std = n == "std";
        const std::string expected = std::string("three comma-separated numbers") + (is_std ? " > 0" : "") +
                                     ", one per channel (e.g. " + (is_std ? "0.229,0.224,0.225" : "0.485,0.456,0.406") +
                                     ")";
        const std::vector<std::string> parts = split(v);
        if (parts.size() != 3) bad(name, expected, v);
        std::array<float, 3> values{};
        for (std::size_t i = 0; i < 3; ++i) {
            values[i] = number<float>(name, parts[i], expected, is_std ? 0.f : -1e6f, 1e6f);
            if (is_std && !(values[i] > 0)) bad(name, expected, v);
        }
        (is_std ? o.detector.std : o.detector.mean) = values;
    } else if (n == "conf") {
        o.decode.conf = number<float>(name, v, "a confidence in [0, 1]", 0.f, 1.f);
    } else if (n == "iou") {
        o.decode.iou = number<float>(name, v, "an IoU in [0, 1]", 0.f, 1.f);
    } else if (n == "max_det") {
        o.decode.max_det = number<int>(name, v, "a count >= 0 (0: no limit)", 0);
    } else if (n == "classes") {
        o.decode.classes = int_list(name, v, 0, "0,2,5");
    } else if (n == "agnostic") {
        o.decode.agnostic = boolean(name, v);
    } else if (n == "tile") {
        if (v == "none" || v.empty()) {
            o.tile_mode = TileMode::none;
        } else if (v == "auto") {
            o.tile_mode = TileMode::automatic;
        } else {
            // SIZE or WxH, digits only: "64x" or "x64" are mistakes, not 64.
            const auto x = v.find_first_of("xX");
            const std::string_view w = v.substr(0, x), h = x == std::string_view::npos ? w : v.substr(x + 1);
            const auto digits = [](std::string_view s) {
                return !s.empty() && s.size() < 7 && s.find_first_not_of("0123456789") == std::string_view::npos;
            };
            if (!digits(w) || !digits(h)) bad(name, "none, auto, SIZE or WxH (e.g. 640 or 1024x768)", v);
            o.tile_mode = TileMode::fixed;
            o.tiles.tile_w = number<int>(name, w, "a tile width", 0);
            o.tiles.tile_h = number<int>(name, h, "a tile height", 0);
        }
    } else if (n == "overlap") {
        const double ov = number<double>(name, v, "a ratio in [0, 1) or pixels >= 1", 0.0);
        if (ov < 1.0) {
            o.tiles.overlap_ratio_w = o.tiles.overlap_ratio_h = ov;
            o.tiles.overlap_px_w = o.tiles.overlap_px_h = -1;
        } else {
            if (ov != std::floor(ov) || ov > 1e6) bad(name, "a ratio in [0, 1) or whole pixels >= 1", v);
            o.tiles.overlap_px_w = o.tiles.overlap_px_h = static_cast<int>(ov);
        }
    } else if (n == "full_image") {
        o.tiles.add_full_image = boolean(name, v);
    } else if (n == "merge") {
        std::string m(v);
        std::replace(m.begin(), m.end(), '-', '_');
        const auto alg = parse_merge_algorithm(m);
        if (!alg) bad(name, "nms, nmm or greedy-nmm", v);
        o.merge.algorithm = *alg;
    } else if (n == "match") {
        const auto metric = parse_match_metric(v);
        if (!metric) bad(name, "iou or ios", v);
        o.merge.metric = *metric;
    } else if (n == "merge_threshold") {
        o.merge.threshold = number<float>(name, v, "a threshold in [0, 1]", 0.f, 1.f);
    } else if (n == "merge_agnostic") {
        o.merge.class_agnostic = boolean(name, v);
    } else if (n == "batch") {
        const bool chosen = v == "auto";
        o.batching.max_batch_size = chosen ? PipelineOptions{}.batching.max_batch_size
                                           : number<int>(name, v, "a batch size from 1 to 65536 or auto", 1, 1 << 16);
        o.auto_config.batch_given = !chosen;
    } else if (n == "max_delay_ms") {
        const double ms = number<double>(name, v, "milliseconds >= 0 (at most one hour)", 0.0, 3.6e6);
        o.batching.max_queue_delay = std::chrono::microseconds(static_cast<long long>(ms * 1000.0));
    } else if (n == "instances") {
        const bool chosen = v == "auto";
        o.batching.instances = chosen ? PipelineOptions{}.batching.instances
                                      : number<int>(name, v, "an instance count from 1 to 256 or auto", 1, 256);
        o.auto_config.instances_given = !chosen;
    } else if (n == "config") {
        if (v == "auto") o.auto_config.enabled = true;
        else if (v == "manual") o.auto_config.enabled = false;
        else bad(name, "auto or manual", v);
    } else if (n == "auto_budget_ms") {
        o.auto_config.budget = std::chrono::milliseconds(number<long long>(name, v, "milliseconds >= 100 (at most 60000)", 100, 60000));
    } else if (n == "auto_max_other_load") {
        o.auto_config.max_other_load = number<double>(name, v, "a share of the CPUs from 0 to 1", 0.0, 1.0);
    } else if (n == "queue") {
        o.batching.queue_capacity = number<std::size_t>(name, v, "a capacity >= 0 (0: unbounded)");
    } else if (n == "probe_sizes") {
        std::vector<int> sizes;
        if (v != "none" && !v.empty())
            for (const std::string& tok : split(v))
                sizes.push_back(tok == "max" ? 0 : number<int>(name, tok, "sizes >= 1, 'max' or 'none' (e.g. 2,3,max)", 1));
        o.batching.probe_batch_sizes = sizes;
        o.batching.probe_dynamic_batch = !sizes.empty();
    } else if (n == "verbose") {
        o.batching.verbose = boolean(name, v);
    } else if (n == "max_image_pixels") {
        o.limits.max_image_pixels = number<std::int64_t>(name, v, "a pixel count >= 0 (0: no limit)", 0);
    } else if (n == "max_input_elements") {
        o.limits.max_input_elements = number<std::int64_t>(name, v, "an element count >= 0 (0: no limit)", 0);
    } else if (n == "max_output_elements") {
        o.limits.max_output_elements = number<std::int64_t>(name, v, "an element count >= 0 (0: no limit)", 0);
    } else if (n == "tiles_in_flight") {
        o.max_tiles_in_flight = number<int>(name, v, "a tile count >= 0 (0: two batches per instance)", 0);
    } else if (n == "max_tiles") {
        o.limits.max_tiles_per_image = number<std::int64_t>(name, v, "a tile count >= 0 (0: no limit)", 0);
    } else if (n == "min_tile_ratio") {
        o.limits.min_tile_ratio = number<double>(name, v, "a fraction in [0, 1] (0: no limit)", 0.0, 1.0);
    } else {
        std::string known;
        for (const OptionSpec& s : pipeline_option_specs()) known += (known.empty() ? "" : ", ") + s.name;
        throw OptionError(n, "unknown option '", "'; known options: " + known);
    }
}

}  // namespace tiledet
