#include "tiledet/detectors/describe.hpp"

#include <cstdio>

#include "tiledet/detectors/detector.hpp"
#include "tiledet/error.hpp"

namespace tiledet {

std::string describe_pixels(const ModelSignature& sig) {
    if (!match_family(sig).family) return "-";
    try {
        return to_string(make_detector(sig)->pixel_format());
    } catch (const Error& e) {
        const std::string what = e.what();
        return "refused: " + what.substr(0, what.find('\n'));
    }
}

std::string describe_defaults(const ModelSignature& sig) {
    if (!match_family(sig).family) return "-";
    try {
        const auto det = make_detector(sig);
        char buf[96];
        std::snprintf(buf, sizeof buf, "conf %g, NMS IoU %g", det->default_conf(), det->default_iou());
        return buf;
    } catch (const Error&) {
        return "-";
    }
}

}  // namespace tiledet
