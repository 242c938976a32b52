// COCOeval 'bbox' semantics, re-derived from the behaviour of pycocotools' cocoeval.py
// (evaluateImg, accumulate, summarize); no code from it is copied. The points that move figures,
// each reproduced on purpose:
// - detections of one image and class are sorted by score with a stable sort (numpy's
//   'mergesort') and cut to maxDets before matching;
// - each detection, in that order, takes the unmatched ground truth with the highest IoU that is
//   >= the threshold (threshold capped at 1 - 1e-10; a later ground truth with an equal IoU wins);
//   ground truth outside the area range is sorted last and taken only when no other is left;
// - across images, detections are concatenated in image order and stable-sorted by score;
// - precision is made non-increasing from the right, then read at each recall threshold r at
//   the first index whose recall >= r (searchsorted 'left'); thresholds past the last recall
//   read 0; AP is the mean over the 101 recall thresholds;
// - a class with no (non-ignored) ground truth has precision -1 and is left out of every mean.
#include "tiledet/eval/coco_eval.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <utility>

#include "tiledet/tiling/mask_ops.hpp"

namespace tiledet::eval {
namespace {

// numpy.linspace(start, stop, num): y[i] = i * ((stop - start) / (num - 1)) + start, y[-1] = stop.
template <std::size_t N>
std::array<double, N> linspace(double start, double stop) {
    std::array<double, N> y{};
    const double step = (stop - start) / static_cast<double>(N - 1);
    for (std::size_t i = 0; i < N; ++i) y[i] = static_cast<double>(i) * step + start;
    y[N - 1] = stop;
    return y;
}

// pycocotools' areaRng: all, small, medium, large ([0, 1e5^2], [0, 32^2], [32^2, 96^2], [96^2, 1e5^2]).
struct AreaRange {
    double lo, hi;
};
constexpr AreaRange kAreaAll{0.0, 1e10};
constexpr AreaRange kAreaSmall{0.0, 32.0 * 32.0};
constexpr AreaRange kAreaMedium{32.0 * 32.0, 96.0 * 96.0};
constexpr AreaRange kAreaLarge{96.0 * 96.0, 1e10};

double box_area(const Box& b) {
    return static_cast<double>(b.x2 - b.x1) * static_cast<double>(b.y2 - b.y1);
}

// As pycocotools' bbIou (maskApi.c) on [x, y, w, h] boxes in doubles: no +1 on widths.
double box_iou(const Box& d, const Box& g) {
    const double w = std::min<double>(d.x2, g.x2) - std::max<double>(d.x1, g.x1);
    if (w <= 0) return 0.0;
    const double h = std::min<double>(d.y2, g.y2) - std::max<double>(d.y1, g.y1);
    if (h <= 0) return 0.0;
    const double inter = w * h;
    return inter / (box_area(d) + box_area(g) - inter);
}

// Mask IoU for iouType 'segm' (maskApi.c rleIou without crowd): a ground truth without a mask is
// its filled box.
double segm_iou(const Detection& d, const GroundTruth& g) {
    if (!d.mask) return 0.0;
    if (g.mask) return iou(*d.mask, *g.mask);
    // The box's pixels are columns ceil(x1 - 0.5) .. ceil(x2 - 0.5) - 1 (centres inside), and the
    // same for rows; counted, not drawn, so a box of any size (a caller's, through Python) costs
    // only the detection mask's extent. Doubles: a coordinate beyond int's range stays exact enough.
    const Mask& m = *d.mask;
    if (!std::isfinite(g.box.x1) || !std::isfinite(g.box.y1) || !std::isfinite(g.box.x2) || !std::isfinite(g.box.y2))
        return 0.0;
    const double bx0 = std::ceil(static_cast<double>(g.box.x1) - 0.5), bx1 = std::ceil(static_cast<double>(g.box.x2) - 0.5);
    const double by0 = std::ceil(static_cast<double>(g.box.y1) - 0.5), by1 = std::ceil(static_cast<double>(g.box.y2) - 0.5);
    const double box_pixels = std::max(0.0, bx1 - bx0) * std::max(0.0, by1 - by0);
    const auto inside = [](double lo, double hi, int from, int to) {  // [lo, hi) within [from, to), as ints
        return std::pair<int, int>{static_cast<int>(std::clamp(lo, double(from), double(to))),
                                   static_cast<int>(std::clamp(hi, double(from), double(to)))};
    };
    const auto [cx0, cx1] = inside(bx0, bx1, m.x, m.x + m.w);
    const auto [cy0, cy1] = inside(by0, by1, m.y, m.y + m.h);
    std::int64_t inter = 0;
    for (int y = cy0; y < cy1; ++y)
        for (int x = cx0; x < cx1; ++x) inter += m.at(x, y);
    const double uni = static_cast<double>(m.area()) + box_pixels - static_cast<double>(inter);
    return uni > 0 ? static_cast<double>(inter) / uni : 0.0;
}

// The area the ranges look at: the box's, or in segm the mask's pixel count where there is a
// mask (pycocotools' loadRes sets a segm result's area with maskUtils.area; a COCO ground
// truth's `area` is its segmentation's).
double area_of(const GroundTruth& g, bool segm) {
    return segm && g.mask ? static_cast<double>(g.mask->area()) : box_area(g.box);
}
double area_of(const Detection& d, bool segm) {
    return segm && d.mask ? static_cast<double>(d.mask->area()) : box_area(d.box);
}

bool outside(const AreaRange& r, double area) {
    return area < r.lo || area > r.hi;
}

// Detections of one class over all images, in image order, each flagged per IoU threshold.
struct ClassMatches {
    std::vector<double> scores;
    std::array<std::vector<char>, kIouThresholdCount> matched;
    std::array<std::vector<char>, kIouThresholdCount> ignored;
    int gt_not_ignored = 0;
};

// evaluateImg for one image, one class, one area range; appends to `out`.
void match_image(const std::vector<const GroundTruth*>& gt_boxes, const std::vector<const Detection*>& dets,
                 const AreaRange& range, bool segm, ClassMatches& out) {
    // Ground truth outside the range is ignored and sorted last (stable, as mergesort).
    std::vector<const GroundTruth*> gt = gt_boxes;
    std::stable_sort(gt.begin(), gt.end(), [&](const GroundTruth* a, const GroundTruth* b) {
        return !outside(range, area_of(*a, segm)) && outside(range, area_of(*b, segm));
    });
    std::vector<char> gt_ignore(gt.size());
    for (std::size_t g = 0; g < gt.size(); ++g) {
        gt_ignore[g] = outside(range, area_of(*gt[g], segm)) ? 1 : 0;
        if (!gt_ignore[g]) ++out.gt_not_ignored;
    }
    std::vector<std::vector<double>> ious(dets.size(), std::vector<double>(gt.size()));
    for (std::size_t d = 0; d < dets.size(); ++d)
        for (std::size_t g = 0; g < gt.size(); ++g)
            ious[d][g] = segm ? segm_iou(*dets[d], *gt[g]) : box_iou(dets[d]->box, gt[g]->box);

    const auto& thresholds = iou_thresholds();
    for (int t = 0; t < kIouThresholdCount; ++t) {
        std::vector<char> gt_taken(gt.size(), 0);
        for (std::size_t d = 0; d < dets.size(); ++d) {
            double best = std::min(thresholds[static_cast<std::size_t>(t)], 1 - 1e-10);
            int m = -1;
            for (std::size_t g = 0; g < gt.size(); ++g) {
                if (gt_taken[g]) continue;
                // Once a regular match is found, ignored ground truth (sorted last) cannot replace it.
                if (m > -1 && !gt_ignore[static_cast<std::size_t>(m)] && gt_ignore[g]) break;
                if (ious[d][g] < best) continue;
                best = ious[d][g];
                m = static_cast<int>(g);
            }
            char matched = 0, ignored = 0;
            if (m > -1) {
                matched = 1;
                ignored = gt_ignore[static_cast<std::size_t>(m)];
                gt_taken[static_cast<std::size_t>(m)] = 1;
            } else if (outside(range, area_of(*dets[d], segm))) {
                ignored = 1;  // an unmatched detection outside the range is neither TP nor FP
            }
            out.matched[static_cast<std::size_t>(t)].push_back(matched);
            out.ignored[static_cast<std::size_t>(t)].push_back(ignored);
        }
    }
    for (const Detection* d : dets) out.scores.push_back(d->score);
}

struct ClassFigures {
    bool has_gt = false;
    std::array<double, kIouThresholdCount> ap{};      // mean precision over recall thresholds
    std::array<double, kIouThresholdCount> recall{};  // final recall
    int det_count = 0;
};

// accumulate for one class and area range.
ClassFigures accumulate(const ClassMatches& cm) {
    ClassFigures f;
    if (cm.gt_not_ignored == 0) return f;
    f.has_gt = true;
    const std::size_t nd = cm.scores.size();
    f.det_count = static_cast<int>(nd);
    std::vector<std::size_t> order(nd);
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return cm.scores[a] > cm.scores[b]; });
    const auto& rec_thr = recall_thresholds();
    const double eps = std::numeric_limits<double>::epsilon();  // numpy's np.spacing(1)
    std::vector<double> rc(nd), pr(nd);
    for (std::size_t t = 0; t < kIouThresholdCount; ++t) {
        double tp = 0, fp = 0;
        for (std::size_t i = 0; i < nd; ++i) {
            const std::size_t k = order[i];
            if (!cm.ignored[t][k]) (cm.matched[t][k] ? tp : fp) += 1;
            rc[i] = tp / cm.gt_not_ignored;
            pr[i] = tp / (tp + fp + eps);
        }
        f.recall[t] = nd ? rc[nd - 1] : 0.0;
        for (std::size_t i = nd; i-- > 1;)
            if (pr[i] > pr[i - 1]) pr[i - 1] = pr[i];
        double sum = 0;
        for (const double r : rec_thr) {
            const auto it = std::lower_bound(rc.begin(), rc.end(), r);  // searchsorted 'left'
            if (it == rc.end()) break;  // every later threshold is past the last recall: 0
            sum += pr[static_cast<std::size_t>(it - rc.begin())];
        }
        f.ap[t] = sum / kRecallThresholdCount;
    }
    return f;
}

double mean_of(const std::array<double, kIouThresholdCount>& a) {
    return std::accumulate(a.begin(), a.end(), 0.0) / kIouThresholdCount;
}

}  // namespace

const std::array<double, kIouThresholdCount>& iou_thresholds() {
    static const auto t = linspace<kIouThresholdCount>(0.5, 0.95);
    return t;
}

const std::array<double, kRecallThresholdCount>& recall_thresholds() {
    static const auto t = linspace<kRecallThresholdCount>(0.0, 1.0);
    return t;
}

CocoEvaluator::CocoEvaluator(CocoEvalOptions options) : options_(options) {}

void CocoEvaluator::add_image(GroundTruths ground_truth, Detections detections) {
    images_.push_back(Image{std::move(ground_truth), std::move(detections)});
}

CocoEvalResult CocoEvaluator::evaluate() const {
    CocoEvalResult result;
    result.images = static_cast<int>(images_.size());
    std::vector<int> classes;
    for (const Image& im : images_) {
        result.gt_boxes += static_cast<int>(im.gt.size());
        result.detections += static_cast<int>(im.dets.size());
        for (const GroundTruth& g : im.gt) classes.push_back(g.class_id);
    }
    std::sort(classes.begin(), classes.end());
    classes.erase(std::unique(classes.begin(), classes.end()), classes.end());

    std::vector<AreaRange> ranges{kAreaAll};
    if (options_.area_ranges) ranges.insert(ranges.end(), {kAreaSmall, kAreaMedium, kAreaLarge});
    std::vector<double> range_sum(ranges.size(), 0.0);
    std::vector<int> range_classes(ranges.size(), 0);
    std::array<double, kIouThresholdCount> iou_sum{};
    double ar_sum = 0;

    const std::size_t max_dets = static_cast<std::size_t>(std::max(options_.max_dets, 0));
    for (const int c : classes) {
        // Per image: this class's ground truth, and its detections by score, cut to max_dets.
        std::vector<std::vector<const GroundTruth*>> gt(images_.size());
        std::vector<std::vector<const Detection*>> dt(images_.size());
        for (std::size_t i = 0; i < images_.size(); ++i) {
            for (const GroundTruth& g : images_[i].gt)
                if (g.class_id == c) gt[i].push_back(&g);
            for (const Detection& d : images_[i].dets)
                if (d.class_id == c) dt[i].push_back(&d);
            std::stable_sort(dt[i].begin(), dt[i].end(),
                             [](const Detection* a, const Detection* b) { return a->score > b->score; });
            if (dt[i].size() > max_dets) dt[i].resize(max_dets);
        }
        for (std::size_t r = 0; r < ranges.size(); ++r) {
            ClassMatches cm;
            for (std::size_t i = 0; i < images_.size(); ++i) match_image(gt[i], dt[i], ranges[r], options_.segm, cm);
            const ClassFigures f = accumulate(cm);
            if (!f.has_gt) continue;
            range_sum[r] += mean_of(f.ap);
            ++range_classes[r];
            if (r != 0) continue;
            ClassAp ca;
            ca.class_id = c;
            ca.gt_count = cm.gt_not_ignored;
            ca.det_count = f.det_count;
            ca.ap = mean_of(f.ap);
            ca.ap50 = f.ap[0];
            ca.ap75 = f.ap[5];
            ca.ar = mean_of(f.recall);
            result.per_class.push_back(ca);
            for (std::size_t t = 0; t < kIouThresholdCount; ++t) iou_sum[t] += f.ap[t];
            ar_sum += ca.ar;
        }
    }

    result.map_per_iou.fill(-1);
    const int n = range_classes[0];
    if (n > 0) {
        for (std::size_t t = 0; t < kIouThresholdCount; ++t) result.map_per_iou[t] = iou_sum[t] / n;
        result.map = range_sum[0] / n;
        result.map50 = result.map_per_iou[0];
        result.map75 = result.map_per_iou[5];
        result.mar = ar_sum / n;
    }
    if (options_.area_ranges) {
        double* outs[] = {&result.map_small, &result.map_medium, &result.map_large};
        for (std::size_t r = 1; r < ranges.size(); ++r)
            if (range_classes[r] > 0) *outs[r - 1] = range_sum[r] / range_classes[r];
    }
    return result;
}

}  // namespace tiledet::eval
