#include "names.hpp"

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>

#include "tiledet/error.hpp"

namespace tiledet::detail {
namespace {

constexpr std::array<const char*, 80> kCoco80 = {
    "person",         "bicycle",    "car",           "motorcycle",    "airplane",     "bus",           "train",
    "truck",          "boat",       "traffic light", "fire hydrant",  "stop sign",    "parking meter", "bench",
    "bird",           "cat",        "dog",           "horse",         "sheep",        "cow",           "elephant",
    "bear",           "zebra",      "giraffe",       "backpack",      "umbrella",     "handbag",       "tie",
    "suitcase",       "frisbee",    "skis",          "snowboard",     "sports ball",  "kite",          "baseball bat",
    "baseball glove", "skateboard", "surfboard",     "tennis racket", "bottle",       "wine glass",    "cup",
    "fork",           "knife",      "spoon",         "bowl",          "banana",       "apple",         "sandwich",
    "orange",         "broccoli",   "carrot",        "hot dog",       "pizza",        "donut",         "cake",
    "chair",          "couch",      "potted plant",  "bed",           "dining table", "toilet",        "tv",
    "laptop",         "mouse",      "remote",        "keyboard",      "cell phone",   "microwave",     "oven",
    "toaster",        "sink",       "refrigerator",  "book",          "clock",        "vase",          "scissors",
    "teddy bear",     "hair drier", "toothbrush"};

// COCO 2017 category ids of the 80 classes above, in the same order (the ids absent from
// 1..90 are the 10 gaps listed in names.hpp).
constexpr std::array<int, 80> kCoco91Ids = {
    1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31,
    32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59,
    60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90};

}  // namespace

const std::map<int, std::string>& coco80_names() {
    static const auto names = [] {
        std::map<int, std::string> m;
        for (int i = 0; i < 80; ++i) m[i] = kCoco80[static_cast<std::size_t>(i)];
        return m;
    }();
    return names;
}

const std::map<int, std::string>& coco91_names() {
    static const auto names = [] {
        std::map<int, std::string> m;
        for (std::size_t i = 0; i < 80; ++i) m[kCoco91Ids[i]] = kCoco80[i];
        return m;
    }();
    return names;
}

std::map<int, std::string> read_names_file(const std::string& path) {
    std::error_code ec;
    if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec))
        throw InputError(path + ": not a regular file (a folder, pipe or device); expected a names file, one class "
                                "name per line");
    if (std::filesystem::is_regular_file(path, ec) && std::filesystem::file_size(path, ec) > (16u << 20))
        throw InputError(path + ": a names file of more than 16 MB (expected one class name per line)");
    std::ifstream in(path);
    if (!in) throw InputError(path + ": cannot open names file (expected one class name per line)");
    std::map<int, std::string> names;
    std::string line;
    int id = 0;
    while (std::getline(in, line)) {
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
        // Names go to the terminal, the JSON and the drawn labels: text only, and not echoed back.
        if (!is_text_line(line))
            throw InputError(path + ": line " + std::to_string(id + 1) +
                             " is not text (control bytes or invalid UTF-8); expected one class name per line");
        names[id++] = line;
    }
    while (!names.empty() && names.rbegin()->second.empty()) names.erase(std::prev(names.end()));
    if (names.empty()) throw InputError(path + ": names file is empty (expected one class name per line)");
    // A data.yaml or a JSON list given as the names file would make "names:" or "[" class 0.
    // So would a dataset YAML's other keys ("nc: 80", "path: ...") before its "names:" line.
    const std::string& first = names.begin()->second;
    const bool yaml_names = std::any_of(names.begin(), names.end(), [](const auto& kv) { return kv.second.rfind("names:", 0) == 0; });
    if (yaml_names || first.rfind("nc:", 0) == 0 || (!first.empty() && (first[0] == '{' || first[0] == '[')))
        throw InputError(path + ": line 1 is '" + printable(first) +
                         "': this looks like YAML or JSON; expected a plain text file with one class name per line "
                         "(line 1 = class 0)");
    return names;
}

}  // namespace tiledet::detail
