#include "tiledet/tiling/merge.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

#include "tiledet/tiling/mask_ops.hpp"
#include "tiledet/tiling/rotated.hpp"

namespace tiledet {
namespace {

float match_value(const Box& a, const Box& b, MatchMetric metric) {
    return metric == MatchMetric::iou ? iou(a, b) : ios(a, b);
}

// Masked detections compare by their masks, oriented ones by their exact rotated polygons; a
// pair where either lacks the richer geometry falls back to the axis-aligned boxes.
float match_value(const Detection& a, const Detection& b, MatchMetric metric) {
    if (a.mask && b.mask) return metric == MatchMetric::iou ? iou(*a.mask, *b.mask) : ios(*a.mask, *b.mask);
    if (a.rbox && b.rbox) return metric == MatchMetric::iou ? iou(*a.rbox, *b.rbox) : ios(*a.rbox, *b.rbox);
    return match_value(a.box, b.box, metric);
}

bool coords_less(const Box& a, const Box& b) {
    if (a.x1 != b.x1) return a.x1 < b.x1;
    if (a.y1 != b.y1) return a.y1 < b.y1;
    if (a.x2 != b.x2) return a.x2 < b.x2;
    return a.y2 < b.y2;
}

// SAHI's _score_tiebreak_order: np.lexsort((y2, x2, y1, x1, -scores)). Used with stable_sort,
// which like lexsort keeps input order among equal keys.
bool ranks_before(const Detection& a, const Detection& b) {
    if (a.score != b.score) return a.score > b.score;
    return coords_less(a.box, b.box);
}

// SAHI nmm_from_matrix's dominates[i, j]: i may take j when j scores lower, or scores the same
// and does not sort after i by coordinates. Equal-score boxes at different places therefore
// never take each other; exact duplicates take each other (the first one processed wins).
bool outranks(const Detection& a, const Detection& b) {
    return a.score > b.score || (a.score == b.score && !coords_less(a.box, b.box));
}

// sahi/postprocess/utils.py::merge_object_prediction_pair: enclosing box, max score, and the
// class of pred1 only when it scores strictly higher (get_merged_category).
Detection absorb(const Detection& keeper, const Detection& other) {
    Detection merged;
    merged.box.x1 = std::min(keeper.box.x1, other.box.x1);
    merged.box.y1 = std::min(keeper.box.y1, other.box.y1);
    merged.box.x2 = std::max(keeper.box.x2, other.box.x2);
    merged.box.y2 = std::max(keeper.box.y2, other.box.y2);
    merged.score = std::max(keeper.score, other.score);
    merged.class_id = keeper.score > other.score ? keeper.class_id : other.class_id;
    if (keeper.rbox && other.rbox) {
        // Oriented: the box at the keeper's angle that holds both (rotated.hpp enclose_along).
        merged.rbox = enclose_along(*keeper.rbox, *other.rbox);
        merged.box = merged.rbox->bounds();
    } else if (keeper.rbox) {
        merged.rbox = keeper.rbox;  // a plain box cannot enlarge an oriented one sensibly; keep it
    }
    if (keeper.mask && other.mask) {
        merged.mask = std::make_shared<const Mask>(union_of(*keeper.mask, *other.mask));
    } else {
        merged.mask = keeper.mask ? keeper.mask : other.mask;
    }
    return merged;
}

constexpr int unowned = -1;

// The working state of one merge_detections call; every array is sized once, up front.
class Merger {
public:
    Merger(Detections& all, const MergeOptions& options)
        : all_(all), options_(options), owner_(all.size(), unowned), kept_(all.size(), 0) {}

    // `ranked`: one group's indices in SAHI's order; `indexed`: the same indices ascending.
    void run_group(const int* ranked, const int* indexed, std::size_t size) {
        switch (options_.algorithm) {
            case MergeAlgorithm::nms:
                return nms(ranked, size);
            case MergeAlgorithm::greedy_nmm:
                return greedy_nmm(ranked, size);
            case MergeAlgorithm::nmm:
                return nmm(ranked, indexed, size);
        }
    }

    bool kept(int index) const { return kept_[index] != 0; }

private:
    bool is_candidate(int keeper, int other) const {  // _numpy_backend: metric >= threshold
        return match_value(all_[keeper], all_[other], options_.metric) >= options_.threshold;
    }
    bool still_matches(const Detection& grown, int other) const {  // utils.has_match: metric > threshold
        return match_value(grown, all_[other], options_.metric) > options_.threshold;
    }

    void nms(const int* ranked, std::size_t size) {
        for (std::size_t a = 0; a < size; ++a) {
            const int keeper = ranked[a];
            if (owner_[keeper] != unowned) continue;
            owner_[keeper] = keeper;
            kept_[keeper] = 1;
            for (std::size_t b = a + 1; b < size; ++b) {
                const int other = ranked[b];
                if (owner_[other] == unowned && is_candidate(keeper, other)) owner_[other] = keeper;
            }
        }
    }

    // greedy_nmm_from_matrix: candidates are the later, untaken boxes matching the keeper's own
    // (original) box; the merge re-check then runs against the growing box in the same order.
    void greedy_nmm(const int* ranked, std::size_t size) {
        for (std::size_t a = 0; a < size; ++a) {
            const int keeper = ranked[a];
            if (owner_[keeper] != unowned) continue;
            owner_[keeper] = keeper;
            kept_[keeper] = 1;
            Detection grown = all_[keeper];
            for (std::size_t b = a + 1; b < size; ++b) {
                const int other = ranked[b];
                if (owner_[other] != unowned || !is_candidate(keeper, other)) continue;
                owner_[other] = keeper;
                if (still_matches(grown, other)) grown = absorb(grown, all_[other]);
            }
            all_[keeper] = grown;
        }
    }

    // nmm_from_matrix: visit boxes in rank order; an untaken box becomes a keeper; every box
    // (keeper or taken) hands the untaken boxes it outranks and matches to its keeper, scanning
    // them in ascending input index (np.where). Merging waits until the whole group is assigned,
    // because assignment compares original boxes.
    void nmm(const int* ranked, const int* indexed, std::size_t size) {
        if (members_next_.empty()) {
            members_next_.assign(all_.size(), unowned);
            members_head_.assign(all_.size(), unowned);
            members_tail_.assign(all_.size(), unowned);
        }
        for (std::size_t a = 0; a < size; ++a) {
            const int current = ranked[a];
            if (owner_[current] == unowned) {
                owner_[current] = current;
                kept_[current] = 1;
            }
            const int keeper = owner_[current];
            for (std::size_t b = 0; b < size; ++b) {
                const int other = indexed[b];
                if (owner_[other] != unowned || !outranks(all_[current], all_[other]) ||
                    !is_candidate(current, other)) {
                    continue;
                }
                owner_[other] = keeper;
                append_member(keeper, other);
            }
        }
        for (std::size_t a = 0; a < size; ++a) {
            const int keeper = ranked[a];
            if (!kept_[keeper]) continue;
            Detection grown = all_[keeper];
            for (int other = members_head_[keeper]; other != unowned; other = members_next_[other]) {
                if (still_matches(grown, other)) grown = absorb(grown, all_[other]);
            }
            all_[keeper] = grown;
        }
    }

    void append_member(int keeper, int member) {
        if (members_head_[keeper] == unowned) {
            members_head_[keeper] = member;
        } else {
            members_next_[members_tail_[keeper]] = member;
        }
        members_tail_[keeper] = member;
    }

    Detections& all_;
    const MergeOptions& options_;
    std::vector<int> owner_;  // the keeper a box belongs to; a keeper owns itself
    std::vector<char> kept_;
    // NMM only: each keeper's taken boxes, in the order taken, as an intrusive linked list.
    std::vector<int> members_next_, members_head_, members_tail_;
};

void check_finite(const Detections& all) {
    for (std::size_t i = 0; i < all.size(); ++i) {
        const Detection& d = all[i];
        if (std::isnan(d.score) || std::isnan(d.box.x1) || std::isnan(d.box.y1) || std::isnan(d.box.x2) ||
            std::isnan(d.box.y2) ||
            (d.rbox && (std::isnan(d.rbox->cx) || std::isnan(d.rbox->cy) || std::isnan(d.rbox->w) ||
                        std::isnan(d.rbox->h) || std::isnan(d.rbox->angle)))) {
            throw std::invalid_argument(
                "merge_detections: expected numbers, got NaN in the score or box of detection " + std::to_string(i) +
                " of " + std::to_string(all.size()) + "; check the detector's decode");
        }
    }
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

}  // namespace

Detections shift_to_image(const Detections& in_tile, const Tile& tile) {
    Detections out = in_tile;
    const auto dx = static_cast<float>(tile.x);
    const auto dy = static_cast<float>(tile.y);
    for (Detection& d : out) {
        d.box.x1 += dx;
        d.box.x2 += dx;
        d.box.y1 += dy;
        d.box.y2 += dy;
        if (d.rbox) {
            d.rbox->cx += dx;
            d.rbox->cy += dy;
        }
        if (d.mask) {
            auto moved = std::make_shared<Mask>(*d.mask);
            moved->x += tile.x;
            moved->y += tile.y;
            d.mask = std::move(moved);
        }
    }
    return out;
}

Detections clip_to_image(Detections detections, int image_w, int image_h) {
    if (image_w <= 0 || image_h <= 0) {
        throw std::invalid_argument("clip_to_image: expected a positive image size, got " + std::to_string(image_w) +
                                    "x" + std::to_string(image_h));
    }
    const auto w = static_cast<float>(image_w);
    const auto h = static_cast<float>(image_h);
    for (Detection& d : detections) {
        d.box.x1 = std::clamp(d.box.x1, 0.0f, w);
        d.box.x2 = std::clamp(d.box.x2, 0.0f, w);
        d.box.y1 = std::clamp(d.box.y1, 0.0f, h);
        d.box.y2 = std::clamp(d.box.y2, 0.0f, h);
    }
    std::erase_if(detections, [](const Detection& d) { return !(d.box.x2 > d.box.x1 && d.box.y2 > d.box.y1); });
    return detections;
}

Detections merge_detections(Detections all, const MergeOptions& options) {
    const std::size_t n = all.size();
    if (n < 2) return all;
    check_finite(all);

    std::vector<int> ranked(n);
    std::iota(ranked.begin(), ranked.end(), 0);
    std::stable_sort(ranked.begin(), ranked.end(), [&](int a, int b) { return ranks_before(all[a], all[b]); });

    Merger merger(all, options);
    if (options.class_agnostic) {
        std::vector<int> indexed(n);
        std::iota(indexed.begin(), indexed.end(), 0);
        merger.run_group(ranked.data(), indexed.data(), n);
    } else {
        // SAHI's batched_*: one run per class. Stable sorts by class keep rank order (and index
        // order) inside each class, and give both arrays the same group boundaries.
        auto by_class = [&](int a, int b) { return all[a].class_id < all[b].class_id; };
        std::vector<int> group_ranked = ranked;
        std::stable_sort(group_ranked.begin(), group_ranked.end(), by_class);
        std::vector<int> group_indexed(n);
        std::iota(group_indexed.begin(), group_indexed.end(), 0);
        std::stable_sort(group_indexed.begin(), group_indexed.end(), by_class);
        for (std::size_t begin = 0; begin < n;) {
            const int class_id = all[group_ranked[begin]].class_id;
            std::size_t end = begin + 1;
            while (end < n && all[group_ranked[end]].class_id == class_id) ++end;
            merger.run_group(group_ranked.data() + begin, group_indexed.data() + begin, end - begin);
            begin = end;
        }
    }

    // A keeper's score never changes (it is the max of its group), so rank order is score order.
    Detections out;
    out.reserve(n);
    for (int i : ranked) {
        if (merger.kept(i)) out.push_back(all[i]);
    }
    return out;
}

std::string_view to_string(MergeAlgorithm algorithm) {
    switch (algorithm) {
        case MergeAlgorithm::nms:
            return "nms";
        case MergeAlgorithm::nmm:
            return "nmm";
        case MergeAlgorithm::greedy_nmm:
            return "greedy_nmm";
    }
    return "unknown";
}

std::string_view to_string(MatchMetric metric) {
    switch (metric) {
        case MatchMetric::iou:
            return "iou";
        case MatchMetric::ios:
            return "ios";
    }
    return "unknown";
}

std::optional<MergeAlgorithm> parse_merge_algorithm(std::string_view name) {
    const std::string s = lower(name);
    if (s == "nms") return MergeAlgorithm::nms;
    if (s == "nmm") return MergeAlgorithm::nmm;
    if (s == "greedy_nmm" || s == "greedynmm" || s == "greedy-nmm") return MergeAlgorithm::greedy_nmm;
    return std::nullopt;
}

std::optional<MatchMetric> parse_match_metric(std::string_view name) {
    const std::string s = lower(name);
    if (s == "iou") return MatchMetric::iou;
    if (s == "ios") return MatchMetric::ios;
    return std::nullopt;
}

}  // namespace tiledet
