// tiledet.inspect, tiledet.batchify and the pieces tiledet.evaluate is made of: the CLI's
// `inspect --json` and `batchify` reports as dicts.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include "module.hpp"
#include "tiledet/detectors/describe.hpp"
#include "tiledet/detectors/detector.hpp"
#include "tiledet/eval/coco_eval.hpp"
#include "tiledet/eval/yolo_labels.hpp"
#include "tiledet/io/image.hpp"
#include "tiledet/onnx/batchify.hpp"
#include "tiledet/runtime/model.hpp"

namespace py = pybind11;

namespace tiledet::python {
namespace {

py::list dims(const TensorInfo& t) {
    py::list out;
    for (const Dim& d : t.dims) {
        if (d.fixed())
            out.append(d.value);
        else
            out.append(d.symbol.empty() ? std::string("?") : d.symbol);
    }
    return out;
}

py::list tensors(const std::vector<TensorInfo>& list) {
    py::list out;
    for (const TensorInfo& t : list) {
        py::dict d;
        d["name"] = t.name;
        d["type"] = to_string(t.type);
        d["dims"] = dims(t);
        out.append(d);
    }
    return out;
}

// The same keys as `tiledet inspect --json` (without --probe).
py::dict inspect(const std::string& path) {
    std::optional<Model> model;
    std::string baked;
    std::vector<std::string> variant_ops;
    FamilyMatch match;
    {
        py::gil_scoped_release unlocked;
        model.emplace(Model::load(path));
        if (model->signature().batch_kind().is_dynamic()) baked = declared_batch_failure(path);
        variant_ops = batch_variant_ops(path);
        match = match_family(model->signature());
    }
    const ModelSignature& sig = model->signature();
    const BatchKind bk = sig.batch_kind();
    py::dict j;
    j["model"] = path;
    j["runtime"] = "ONNX Runtime " + Model::runtime_version();
    j["providers_available"] = Model::available_providers();
    j["inputs"] = tensors(sig.inputs);
    j["outputs"] = tensors(sig.outputs);
    py::dict batch;
    batch["kind"] = bk.is_dynamic() ? "dynamic" : bk.is_static() ? "static" : "none";
    batch["size"] = bk.is_static() ? py::object(py::int_(bk.size)) : py::object(py::none());
    batch["symbol"] = bk.symbol;
    batch["description"] = baked.empty() ? bk.describe() : baked;
    j["batch"] = batch;
    j["metadata"] = sig.metadata;
    j["producer"] = sig.producer;
    j["family"] = match.family ? to_string(*match.family) : match.candidates.size() > 1 ? "ambiguous" : "unknown";
    j["family_reason"] = match.reason;
    j["pixels"] = describe_pixels(sig);
    j["defaults"] = describe_defaults(sig);
    j["batch_variant_ops"] = variant_ops;
    return j;
}

py::dict agreement(const DetectionAgreement& a) {
    py::dict d;
    d["agree"] = a.agree;
    d["summary"] = a.summary;
    d["images"] = a.images;
    d["detections"] = a.detections;
    d["matched"] = a.matched;
    d["count_mismatches"] = a.count_mismatches;
    d["crossed_threshold"] = a.crossed_threshold;
    d["worst_iou"] = a.worst_iou;
    d["worst_score_diff"] = a.worst_score_diff;
    d["disagreements"] = a.disagreements;
    return d;
}

py::dict report_dict(const BatchifyReport& r) {
    py::dict d;
    d["status"] = to_string(r.status);
    d["ok"] = r.ok();
    d["message"] = r.message;
    d["output_written"] = r.output_written;
    d["rewrites"] = r.rewrites;
    d["notes"] = r.notes;
    d["batch_variant_ops"] = r.batch_variant_ops;
    py::list diffs;
    for (const OutputDifference& o : r.differences) {
        py::dict x;
        x["output"] = o.output;
        x["batch"] = o.batch;
        x["max_abs"] = o.max_abs;
        x["max_rel"] = o.max_rel;
        x["first_bad_item"] = o.first_bad_item;
        x["within_tolerance"] = o.within_tolerance;
        diffs.append(x);
    }
    d["differences"] = diffs;
    py::list checks;
    for (const auto& [batch, a] : r.detection_checks) {
        py::dict x = agreement(a);
        x["batch"] = batch;
        checks.append(x);
    }
    d["detection_checks"] = checks;
    d["text"] = r.to_text();
    return d;
}

py::dict batchify(const std::string& src, const std::string& dst, bool verify, const std::vector<int>& verify_batches,
                  const std::string& batch_name, bool keep_unverified, bool per_item_quantization, bool fold_constants,
                  double atol, double rtol) {
    BatchifyOptions o;
    o.verify = verify;
    o.verify_batches = verify_batches;
    o.batch_name = batch_name;
    o.keep_unverified = keep_unverified;
    o.per_item_quantization = per_item_quantization;
    o.fold_constants = fold_constants;
    o.atol = atol;
    o.rtol = rtol;
    BatchifyReport r;
    {
        py::gil_scoped_release unlocked;
        r = tiledet::batchify(src, dst, o);
    }
    return report_dict(r);
}

eval::GroundTruths ground_truths(const py::array_t<float, py::array::c_style | py::array::forcecast>& xyxy,
                                 const py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>& cls) {
    if (xyxy.ndim() != 2 || xyxy.shape(1) != 4 || cls.ndim() != 1 || cls.shape(0) != xyxy.shape(0))
        throw py::value_error("ground truth: expected xyxy [N, 4] and class_id [N]");
    eval::GroundTruths out;
    auto b = xyxy.unchecked<2>();
    auto c = cls.unchecked<1>();
    for (py::ssize_t i = 0; i < xyxy.shape(0); ++i)
        out.push_back({Box{b(i, 0), b(i, 1), b(i, 2), b(i, 3)}, static_cast<int>(c(i))});
    return out;
}

}  // namespace

void register_tools(py::module_& m) {
    m.def("inspect", &inspect, py::arg("path"),
          R"doc(What a model accepts, as `tiledet inspect --json` prints it (without the probe).

Returns a dict: model, runtime, providers_available, inputs and outputs ([{name, type, dims}],
a dim is an int or its symbol), batch {kind: "dynamic"|"static"|"none", size, symbol,
description}, metadata, producer, family ("yolo", ..., "unknown" or "ambiguous"),
family_reason, batch_variant_ops. Raises InputError for a missing or unreadable model.)doc");
    m.def("batchify", &batchify, py::arg("src"), py::arg("dst"), py::kw_only(), py::arg("verify") = true,
          py::arg("verify_batches") = std::vector<int>{2, 4, 8}, py::arg("batch_name") = "batch",
          py::arg("keep_unverified") = false, py::arg("per_item_quantization") = true, py::arg("fold_constants") = true,
          py::arg("atol") = 1e-4, py::arg("rtol") = 1e-4,
          R"doc(Repair a model exported with a fixed batch of 1 so that it runs any batch, and verify it.

Writes dst (atomically) when repaired and verified. Returns the verification report as a dict:
status ("repaired_verified", "repaired_verified_detections", "repaired_unverified",
"already_dynamic", "refused", "verification_failed"), ok, message (one line), output_written,
rewrites, notes, batch_variant_ops, differences [{output, batch, max_abs, max_rel,
first_bad_item, within_tolerance}], detection_checks, text (what `tiledet batchify` prints).
A model that cannot be repaired is a report (ok False), not an exception; InputError for an
unreadable src or unwritable dst.)doc");

    // The pieces of tiledet.evaluate (written in Python on top of Pipeline.detect_many).
    py::class_<eval::CocoEvaluator>(m, "_CocoEvaluator")
        .def(py::init([](int max_dets, bool area_ranges) {
                 return eval::CocoEvaluator(eval::CocoEvalOptions{max_dets, area_ranges});
             }),
             py::arg("max_dets") = eval::kCocoMaxDets, py::arg("area_ranges") = false)
        .def("add_image",
             [](eval::CocoEvaluator& e, const py::array_t<float, py::array::c_style | py::array::forcecast>& gt_xyxy,
                const py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>& gt_class,
                const py::array_t<float, py::array::c_style | py::array::forcecast>& xyxy,
                const py::array_t<float, py::array::c_style | py::array::forcecast>& confidence,
                const py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>& class_id) {
                 Detections dets;
                 if (xyxy.ndim() != 2 || (xyxy.shape(0) > 0 && xyxy.shape(1) != 4) ||
                     confidence.shape(0) != xyxy.shape(0) || class_id.shape(0) != xyxy.shape(0))
                     throw py::value_error("detections: expected xyxy [N, 4], confidence [N], class_id [N]");
                 auto b = xyxy.unchecked<2>();
                 for (py::ssize_t i = 0; i < xyxy.shape(0); ++i)
                     dets.push_back(
                         {Box{b(i, 0), b(i, 1), b(i, 2), b(i, 3)}, confidence.at(i), static_cast<int>(class_id.at(i))});
                 e.add_image(ground_truths(gt_xyxy, gt_class), std::move(dets));
             })
        .def("evaluate", [](const eval::CocoEvaluator& e) {
            eval::CocoEvalResult r;
            {
                py::gil_scoped_release unlocked;
                r = e.evaluate();
            }
            py::dict d;
            d["images"] = r.images;
            d["gt_boxes"] = r.gt_boxes;
            d["detections"] = r.detections;
            d["map"] = r.map;
            d["map50"] = r.map50;
            d["map75"] = r.map75;
            d["mar100"] = r.mar;
            d["map_small"] = r.map_small;
            d["map_medium"] = r.map_medium;
            d["map_large"] = r.map_large;
            py::list per_class;
            for (const eval::ClassAp& c : r.per_class) {
                py::dict x;
                x["class_id"] = c.class_id;
                x["gt"] = c.gt_count;
                x["detections"] = c.det_count;
                x["ap"] = c.ap;
                x["ap50"] = c.ap50;
                x["ap75"] = c.ap75;
                per_class.append(x);
            }
            d["per_class"] = per_class;
            return d;
        });
    m.def("_load_yolo_labels", [](const std::string& path, int w, int h) {
        const eval::GroundTruths gt = eval::load_yolo_labels(path, w, h);
        py::array_t<float> xyxy({static_cast<py::ssize_t>(gt.size()), py::ssize_t{4}});
        py::array_t<std::int64_t> cls(static_cast<py::ssize_t>(gt.size()));
        auto b = xyxy.mutable_unchecked<2>();
        for (std::size_t i = 0; i < gt.size(); ++i) {
            const auto j = static_cast<py::ssize_t>(i);
            b(j, 0) = gt[i].box.x1;
            b(j, 1) = gt[i].box.y1;
            b(j, 2) = gt[i].box.x2;
            b(j, 3) = gt[i].box.y2;
            cls.mutable_at(j) = gt[i].class_id;
        }
        return py::make_tuple(xyxy, cls);
    });
    m.def("_yolo_label_path", [](const std::string& image, const std::string& labels_dir) {
        return eval::yolo_label_path(image, labels_dir).string();
    });
    m.def("_list_images", &list_images, py::arg("path_or_dir"),
          "list_images: a file gives itself, a folder its images, sorted.");
}

}  // namespace tiledet::python
