#include "nms.hpp"

#include <algorithm>

namespace tiledet::detail {

bool class_allowed(int id, const std::vector<int>& classes) {
    return classes.empty() || std::find(classes.begin(), classes.end(), id) != classes.end();
}

Detections nms(Detections dets, float iou_threshold, bool agnostic, int max_det) {
    std::stable_sort(dets.begin(), dets.end(),
                     [](const Detection& a, const Detection& b) { return a.score > b.score; });
    Detections kept;
    const std::size_t limit = max_det > 0 ? static_cast<std::size_t>(max_det) : dets.size();
    std::vector<char> removed(dets.size(), 0);
    for (std::size_t i = 0; i < dets.size() && kept.size() < limit; ++i) {
        if (removed[i]) continue;
        kept.push_back(dets[i]);
        for (std::size_t j = i + 1; j < dets.size(); ++j) {
            if (removed[j]) continue;
            if (!agnostic && dets[j].class_id != dets[i].class_id) continue;
            if (iou(dets[i].box, dets[j].box) > iou_threshold) removed[j] = 1;
        }
    }
    return kept;
}

Detections sort_filter_truncate(Detections dets, const std::vector<int>& classes, int max_det) {
    if (!classes.empty())
        dets.erase(std::remove_if(dets.begin(), dets.end(),
                                  [&](const Detection& d) { return !class_allowed(d.class_id, classes); }),
                   dets.end());
    std::stable_sort(dets.begin(), dets.end(),
                     [](const Detection& a, const Detection& b) { return a.score > b.score; });
    if (max_det > 0 && dets.size() > static_cast<std::size_t>(max_det)) dets.resize(static_cast<std::size_t>(max_det));
    return dets;
}

}  // namespace tiledet::detail
