// DOTA_devkit dota_evaluation_task1.py (voc_eval, voc_ap) semantics for oriented boxes.
#include "tiledet/eval/rotated_eval.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <numeric>
#include <sstream>

#include "tiledet/error.hpp"
#include "tiledet/tiling/rotated.hpp"

namespace tiledet::eval {
namespace {

std::array<Point2, 4> corners_of(const Detection& d) {
    if (d.rbox) return d.rbox->corners();
    const Box& b = d.box;
    return {Point2{b.x1, b.y1}, Point2{b.x2, b.y1}, Point2{b.x2, b.y2}, Point2{b.x1, b.y2}};
}

// voc_ap: VOC07 11-point or the area under the precision envelope.
double voc_ap(const std::vector<double>& rec, const std::vector<double>& prec, VocAp kind) {
    if (kind == VocAp::voc07_11point) {
        double ap = 0;
        for (int i = 0; i <= 10; ++i) {
            const double t = i / 10.0;
            double p = 0;
            for (std::size_t k = 0; k < rec.size(); ++k)
                if (rec[k] >= t) p = std::max(p, prec[k]);
            ap += p / 11.0;
        }
        return ap;
    }
    std::vector<double> mrec{0.0}, mpre{0.0};
    mrec.insert(mrec.end(), rec.begin(), rec.end());
    mpre.insert(mpre.end(), prec.begin(), prec.end());
    mrec.push_back(1.0);
    mpre.push_back(0.0);
    for (std::size_t i = mpre.size() - 1; i > 0; --i) mpre[i - 1] = std::max(mpre[i - 1], mpre[i]);
    double ap = 0;
    for (std::size_t i = 1; i < mrec.size(); ++i)
        if (mrec[i] != mrec[i - 1]) ap += (mrec[i] - mrec[i - 1]) * mpre[i];
    return ap;
}

[[noreturn]] void fail(const std::string& source, int line_no, const std::string& what) {
    throw InputError("label file " + source + " line " + std::to_string(line_no) + ": " + what +
                     " (expected DOTA 'x1 y1 x2 y2 x3 y3 x4 y4 class difficult' in pixels, or YOLO OBB "
                     "'class x1 y1 x2 y2 x3 y3 x4 y4' normalized to 0..1)");
}

std::optional<double> number(const std::string& token) {
    double v = 0;
    const char* end = token.data() + token.size();
    const auto [ptr, ec] = std::from_chars(token.data(), end, v);
    if (ec != std::errc() || ptr != end || !std::isfinite(v)) return std::nullopt;
    return v;
}

}  // namespace

double polygon_iou(const std::array<Point2, 4>& a, const std::array<Point2, 4>& b) {
    const std::vector<Point2> pa(a.begin(), a.end()), pb(b.begin(), b.end());
    const double inter = polygon_area(clip_convex(pa, pb));
    const double uni = static_cast<double>(polygon_area(pa)) + polygon_area(pb) - inter;
    return uni > 0 ? inter / uni : 0.0;
}

void RotatedEvaluator::add_image(RotatedGroundTruths ground_truth, Detections detections) {
    images_.push_back({std::move(ground_truth), std::move(detections)});
}

RotatedEvalResult RotatedEvaluator::evaluate() const {
    RotatedEvalResult out;
    out.images = static_cast<int>(images_.size());
    std::map<int, int> npos;
    for (const Image& im : images_) {
        out.detections += static_cast<int>(im.dets.size());
        for (const auto& g : im.gt) {
            int& n = npos[g.class_id];
            if (!g.difficult) ++n, ++out.gt_objects;
        }
    }
    double sum = 0;
    int classes = 0;
    for (const auto& [cls, n] : npos) {
        if (n == 0) continue;  // only difficult objects: the devkit divides by zero; skip the class
        struct Ranked {
            double score;
            std::size_t image, det;
        };
        std::vector<Ranked> ranked;
        for (std::size_t i = 0; i < images_.size(); ++i)
            for (std::size_t k = 0; k < images_[i].dets.size(); ++k)
                if (images_[i].dets[k].class_id == cls) ranked.push_back({images_[i].dets[k].score, i, k});
        // np.argsort(-confidence) (quicksort, unstable in the devkit); stable here: image order on ties.
        std::stable_sort(ranked.begin(), ranked.end(),
                         [](const Ranked& a, const Ranked& b) { return a.score > b.score; });
        std::vector<std::vector<char>> matched(images_.size());
        for (std::size_t i = 0; i < images_.size(); ++i) matched[i].assign(images_[i].gt.size(), 0);
        std::vector<double> tp, fp;
        double ctp = 0, cfp = 0;
        for (const Ranked& r : ranked) {
            const Image& im = images_[r.image];
            const auto det = corners_of(im.dets[r.det]);
            double best = -1;
            std::size_t best_j = 0;
            for (std::size_t j = 0; j < im.gt.size(); ++j) {
                if (im.gt[j].class_id != cls) continue;
                const double o = polygon_iou(im.gt[j].polygon, det);
                if (o > best) best = o, best_j = j;
            }
            if (best > options_.iou_threshold) {
                if (im.gt[best_j].difficult) {
                    // neither: the devkit leaves tp and fp at 0 for this rank
                } else if (!matched[r.image][best_j]) {
                    matched[r.image][best_j] = 1;
                    ctp += 1;
                } else {
                    cfp += 1;
                }
            } else {
                cfp += 1;
            }
            tp.push_back(ctp);
            fp.push_back(cfp);
        }
        std::vector<double> rec(tp.size()), prec(tp.size());
        for (std::size_t k = 0; k < tp.size(); ++k) {
            rec[k] = tp[k] / n;
            prec[k] = tp[k] / std::max(tp[k] + fp[k], std::numeric_limits<double>::epsilon());
        }
        RotatedClassAp c;
        c.class_id = cls;
        c.gt_count = n;
        c.det_count = static_cast<int>(ranked.size());
        c.ap = voc_ap(rec, prec, options_.ap);
        out.per_class.push_back(c);
        sum += c.ap;
        ++classes;
    }
    if (classes > 0) out.map = sum / classes;
    return out;
}

RotatedGroundTruths parse_obb_labels(const std::string& text, int img_w, int img_h, const std::string& source,
                                     const std::function<std::optional<int>(const std::string&)>& class_id_of) {
    if (img_w <= 0 || img_h <= 0)
        throw InputError("labels " + source + ": image size " + std::to_string(img_w) + "x" + std::to_string(img_h) +
                         " is not positive");
    RotatedGroundTruths out;
    std::istringstream in(text);
    std::string line;
    int line_no = 0;
    while (std::getline(in, line)) {
        ++line_no;
        if (line.rfind("imagesource:", 0) == 0 || line.rfind("gsd:", 0) == 0) continue;  // DOTA headers
        std::istringstream words(line);
        std::vector<std::string> t;
        for (std::string w; words >> w;) t.push_back(w);
        if (t.empty()) continue;
        RotatedGroundTruth g;
        if (t.size() == 10 && !number(t[8])) {  // DOTA: pixels, class name, difficult
            for (int k = 0; k < 8; ++k)
                if (!number(t[static_cast<std::size_t>(k)]))
                    fail(source, line_no, "'" + printable(t[static_cast<std::size_t>(k)]) + "' is not a number");
            for (int k = 0; k < 4; ++k)
                g.polygon[static_cast<std::size_t>(k)] = {static_cast<float>(*number(t[2 * k])),
                                                          static_cast<float>(*number(t[2 * k + 1]))};
            const auto id = class_id_of ? class_id_of(t[8]) : std::nullopt;
            if (!id) fail(source, line_no, "class name '" + printable(t[8]) + "' is not one of the model's classes");
            g.class_id = *id;
            if (t[9] != "0" && t[9] != "1") fail(source, line_no, "difficult flag '" + printable(t[9]) + "' is not 0 or 1");
            g.difficult = t[9] == "1";
        } else if (t.size() == 9) {  // YOLO OBB: class, normalized corners
            std::array<double, 9> v{};
            for (std::size_t k = 0; k < 9; ++k) {
                const auto x = number(t[k]);
                if (!x) fail(source, line_no, "'" + printable(t[k]) + "' is not a number");
                v[k] = *x;
            }
            if (v[0] < 0 || v[0] != std::floor(v[0]) || v[0] > 1e6)
                fail(source, line_no, "class " + printable(t[0]) + " is not an integer >= 0");
            g.class_id = static_cast<int>(v[0]);
            for (std::size_t k = 0; k < 4; ++k) {
                if (v[1 + 2 * k] < 0 || v[1 + 2 * k] > 1 || v[2 + 2 * k] < 0 || v[2 + 2 * k] > 1)
                    fail(source, line_no, "a corner lies outside 0..1");
                g.polygon[k] = {static_cast<float>(v[1 + 2 * k] * img_w), static_cast<float>(v[2 + 2 * k] * img_h)};
            }
        } else {
            fail(source, line_no, std::to_string(t.size()) + " fields");
        }
        out.push_back(g);
    }
    return out;
}

}  // namespace tiledet::eval
