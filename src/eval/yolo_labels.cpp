// YOLO label files, read with the checks Ultralytics applies before training or validating
// (ultralytics/data/utils.py, verify_image_label): classes are non-negative integers,
// coordinates lie in 0..1, polygon rows become their bounding box, duplicate rows count once.
#include "tiledet/eval/yolo_labels.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>
#include <vector>

#include "tiledet/error.hpp"

namespace tiledet::eval {
namespace {

// A number as the label file could have written it (%g: 1e+308, not 309 digits; 2.5, not 2.500000).
std::string number_text(double v) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.10g", v);
    return buf;
}

[[noreturn]] void fail(const std::string& source, int line_no, const std::string& what) {
    throw InputError("label file " + source + " line " + std::to_string(line_no) + ": " + what +
                     " (expected YOLO format: 'class cx cy w h', class an integer >= 0, coordinates "
                     "normalized to 0..1; fix or remove the line)");
}

std::vector<double> parse_numbers(const std::string& line, const std::string& source, int line_no) {
    std::vector<double> values;
    std::istringstream in(line);
    std::string token;
    while (in >> token) {
        double v = 0;
        const char* end = token.data() + token.size();
        const auto [ptr, ec] = std::from_chars(token.data(), end, v);
        if (ec != std::errc() || ptr != end || !std::isfinite(v))
            fail(source, line_no, "'" + printable(token) + "' is not a number");
        values.push_back(v);
    }
    return values;
}

}  // namespace

GroundTruths parse_yolo_labels(const std::string& text, int img_w, int img_h, const std::string& source) {
    if (img_w <= 0 || img_h <= 0)
        throw InputError("labels " + source + ": image size " + std::to_string(img_w) + "x" + std::to_string(img_h) +
                         " is not positive; pass the size of the image the labels belong to");
    GroundTruths out;
    std::vector<std::vector<double>> seen;
    std::istringstream in(text);
    std::string line;
    int line_no = 0;
    while (std::getline(in, line)) {
        ++line_no;
        std::vector<double> v = parse_numbers(line, source, line_no);
        if (v.empty()) continue;
        const bool polygon = v.size() >= 7 && v.size() % 2 == 1;
        if (v.size() != 5 && !polygon)
            fail(source, line_no, std::to_string(v.size()) + " numbers (a box has 5, a polygon an odd count >= 7)");
        if (v[0] < 0 || v[0] != std::floor(v[0]))
            fail(source, line_no, "class " + number_text(v[0]) + " is not an integer >= 0");
        // Keeps the conversion to int below defined (found by fuzz_eval).
        if (v[0] > std::numeric_limits<int>::max())
            fail(source, line_no, "class " + number_text(v[0]) + " is larger than the largest class id " +
                                      std::to_string(std::numeric_limits<int>::max()));
        for (std::size_t i = 1; i < v.size(); ++i)
            if (v[i] < 0 || v[i] > 1) fail(source, line_no, "coordinate " + number_text(v[i]) + " is outside 0..1");
        if (std::find(seen.begin(), seen.end(), v) != seen.end()) continue;
        seen.push_back(v);

        double x1, y1, x2, y2;
        if (polygon) {
            x1 = x2 = v[1];
            y1 = y2 = v[2];
            for (std::size_t i = 1; i + 1 < v.size(); i += 2) {
                x1 = std::min(x1, v[i]);
                x2 = std::max(x2, v[i]);
                y1 = std::min(y1, v[i + 1]);
                y2 = std::max(y2, v[i + 1]);
            }
        } else {
            x1 = v[1] - v[3] / 2, x2 = v[1] + v[3] / 2;
            y1 = v[2] - v[4] / 2, y2 = v[2] + v[4] / 2;
        }
        GroundTruth g;
        g.class_id = static_cast<int>(v[0]);
        if (polygon)
            for (std::size_t i = 1; i + 1 < v.size(); i += 2) {
                g.polygon.push_back(static_cast<float>(v[i] * img_w));
                g.polygon.push_back(static_cast<float>(v[i + 1] * img_h));
            }
        g.box = Box{static_cast<float>(x1 * img_w), static_cast<float>(y1 * img_h), static_cast<float>(x2 * img_w),
                    static_cast<float>(y2 * img_h)};
        out.push_back(g);
    }
    return out;
}

std::string read_label_file(const std::filesystem::path& path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))  // a folder, a pipe (which would block), a device
        throw InputError("label file " + path.string() +
                         " is not a regular file; expected a text file of labels, or none for a background image");
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw InputError("label file " + path.string() +
                         " cannot be opened; an image without labels is a background image: leave its label file out");
    std::stringstream body;
    body << in.rdbuf();
    return body.str();
}

GroundTruths load_yolo_labels(const std::filesystem::path& path, int img_w, int img_h) {
    return parse_yolo_labels(read_label_file(path), img_w, img_h, path.string());
}

std::filesystem::path yolo_label_path(const std::filesystem::path& image, const std::filesystem::path& labels_dir) {
    return labels_dir / (image.stem().string() + ".txt");
}

}  // namespace tiledet::eval
