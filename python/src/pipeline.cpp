// tiledet.Pipeline: the C++ Pipeline behind a Python object. Every call that waits (model load,
// tiles running, a file read) releases the GIL; results completing on the pipeline's own thread
// take it only to hand the result to a concurrent.futures.Future.
#include <cmath>
#include <algorithm>
#include <cstring>
#include <chrono>
#include "tiledet/batching/errors.hpp"
#include "tiledet/pipeline/pipeline.hpp"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <deque>
#include <future>
#include <memory>
#include <optional>

#include "errors.hpp"
#include "images.hpp"
#include "module.hpp"
#include "tiledet/pipeline/options.hpp"
#include "tiledet/pipeline/result_json.hpp"

namespace py = pybind11;

namespace tiledet::python {
namespace {

bool interpreter_finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
    return Py_IsFinalizing();
#else
    return _Py_IsFinalizing();
#endif
}

// A Python reference that a C++ thread may drop: it takes the GIL to do so (and leaks the
// reference rather than touch a finalizing interpreter).
struct SharedPyObject {
    PyObject* object;
    explicit SharedPyObject(py::object o) : object(o.release().ptr()) {}
    SharedPyObject(const SharedPyObject&) = delete;
    ~SharedPyObject() {
        if (!Py_IsInitialized() || interpreter_finalizing()) return;
        py::gil_scoped_acquire gil;
        Py_DECREF(object);
    }
    py::handle get() const { return object; }
};

// Drops a Pipeline reference; when it is the last one, the Pipeline is destroyed with the GIL
// released, since its destructor waits for callbacks that take the GIL.
void release(std::shared_ptr<Pipeline>& p) {
    if (!p) return;
    if (PyGILState_Check()) {
        py::gil_scoped_release unlocked;
        p.reset();
    } else {
        p.reset();
    }
}

struct HeldPipeline {
    std::shared_ptr<Pipeline> p;
    ~HeldPipeline() { release(p); }
    Pipeline* operator->() const { return p.get(); }
};

// Waits for `f` with the GIL released, checking for Ctrl-C (a Python signal) every 100 ms: on one,
// `on_interrupt` runs (it cancels what is in flight) and the KeyboardInterrupt propagates.
template <class T, class OnInterrupt>
T wait_interruptibly(std::future<T>& f, OnInterrupt on_interrupt) {
    for (;;) {
        {
            py::gil_scoped_release unlocked;
            if (f.wait_for(std::chrono::milliseconds(100)) == std::future_status::ready) return f.get();
        }
        if (PyErr_CheckSignals() != 0) {
            on_interrupt();
            throw py::error_already_set();
        }
    }
}

// One image submitted with its job handle (to cancel it) and a real future (to wait on).
struct Started {
    ImageJob job;
    std::future<ImageResult> result;
};

Started start(Pipeline& p, const cv::Mat& bgr, SubmitOptions so) {
    auto promise = std::make_shared<std::promise<ImageResult>>();
    Started s;
    s.result = promise->get_future();
    s.job = p.submit(bgr, std::move(so), [promise](ImageResult&& r, std::exception_ptr e) {
        if (e)
            promise->set_exception(std::move(e));
        else
            promise->set_value(std::move(r));
    });
    return s;
}

class PyPipeline {
public:
    PyPipeline(std::string model, const std::vector<std::pair<std::string, std::string>>& options)
        : model_(std::move(model)) {
        for (const auto& [name, value] : options) set_option(options_, name, value);
        {
            py::gil_scoped_release unlocked;
            pipeline_ = std::make_shared<Pipeline>(model_, options_);
        }
        device_ = pipeline_->executor().stats().device;
    }
    // Dropped without close(): what was submitted still completes (futures keep their answer,
    // as a ThreadPoolExecutor's do), with the GIL released while it drains.
    ~PyPipeline() {
        if (pipeline_) {
            py::gil_scoped_release unlocked;
            pipeline_->shutdown();
        }
        release(pipeline_);
    }

    // Cancels every queued image at once (their detect / detect_many / futures end with
    // Cancelled, in any thread), waits for running batches, then lets the Pipeline go.
    void close() {
        if (pipeline_) {
            py::gil_scoped_release unlocked;
            // The Pipeline's own close, not only its executor's: a big image's tiles that are not
            // cut yet must end Cancelled too, instead of being cut for a closed executor.
            pipeline_->shutdown(/*cancel_pending=*/true);
        }
        release(pipeline_);
    }
    bool closed() const { return !pipeline_; }

    py::object detect(py::handle image, bool rgb, const std::string& label) {
        HeldPipeline p = held();
        const InputImage in = to_input(image, rgb, label, options_.limits.max_image_pixels);
        Started s;
        {
            py::gil_scoped_release unlocked;
            s = start(*p.p, in.bgr, submit_options(in));
        }
        const ImageResult r = wait_interruptibly(s.result, [&] { s.job.cancel(); });
        return to_detections(r, *p.p, device_, in.load_ms);
    }

    py::list detect_many(py::iterable images, bool rgb, bool return_exceptions,
                         std::optional<std::vector<std::string>> labels) {
        HeldPipeline p = held();
        const py::list items(images);  // holds every array alive until its image is submitted
        if (labels && labels->size() != items.size())
            throw py::value_error("labels: expected one per image (" + std::to_string(items.size()) + "), got " +
                                  std::to_string(labels->size()));
        py::list out;
        if (py::isinstance<py::str>(images) || py::isinstance<py::bytes>(images))
            throw py::type_error("detect_many: expected a list of images (paths, arrays or bytes), got one " +
                                 std::string(py::isinstance<py::str>(images) ? "str" : "bytes") +
                                 "; use detect() for one image");
        struct Pending {
            ImageJob job;
            std::future<ImageResult> result;
            double load_ms = 0;
            py::object error;  // failed before it was submitted
        };
        // A window of images in flight (as `tiledet detect` keeps), so tiles of several images
        // share batches while memory stays bounded by the window, not by the list.
        const std::size_t window = static_cast<std::size_t>(std::max(2, 2 * options_.batching.max_batch_size));
        std::deque<Pending> pending;
        const auto finish_one = [&] {
            Pending item = std::move(pending.front());
            pending.pop_front();
            if (item.error) {
                out.append(item.error);
                return;
            }
            std::exception_ptr error;
            ImageResult r;
            try {
                // Ctrl-C cancels this image and every one still in the window.
                r = wait_interruptibly(item.result, [&] {
                    item.job.cancel();
                    for (Pending& other : pending) other.job.cancel();
                });
            } catch (py::error_already_set&) {
                throw;
            } catch (...) {
                error = std::current_exception();
            }
            if (!error) {
                out.append(to_detections(r, *p.p, device_, item.load_ms));
            } else if (return_exceptions) {
                out.append(python_exception(error));
            } else {
                // Let the images still in flight end before raising: their futures are dropped.
                raise(error);
            }
        };
        for (std::size_t i = 0; i < items.size(); ++i) {
            Pending item;
            try {
                const InputImage in =
                    to_input(items[i], rgb, labels ? (*labels)[i] : std::string(), options_.limits.max_image_pixels);
                item.load_ms = in.load_ms;
                py::gil_scoped_release unlocked;
                Started st = start(*p.p, in.bgr, submit_options(in));
                item.job = st.job;
                item.result = std::move(st.result);
            } catch (py::error_already_set& e) {
                if (!return_exceptions) throw;
                item.error = e.value();
            } catch (...) {
                if (!return_exceptions) throw;
                item.error = python_exception(std::current_exception());
            }
            pending.push_back(std::move(item));
            while (pending.size() >= window) finish_one();
        }
        while (!pending.empty()) finish_one();
        return out;
    }

    py::object submit(py::handle image, bool rgb, const std::string& label) {
        HeldPipeline p = held();
        const InputImage in = to_input(image, rgb, label, options_.limits.max_image_pixels);
        py::object future = py::module_::import("concurrent.futures").attr("Future")();
        auto slot = std::make_shared<SharedPyObject>(future);
        const Pipeline* pipeline = p.p.get();  // alive until every callback has returned
        const std::string device = device_;
        const double load_ms = in.load_ms;
        ImageCallback on_done = [slot, pipeline, device, load_ms](ImageResult&& r, std::exception_ptr error) {
            if (!Py_IsInitialized() || interpreter_finalizing()) return;
            py::gil_scoped_acquire gil;
            try {
                py::handle f = slot->get();
                if (f.attr("cancelled")().cast<bool>()) return;
                // The future is completed (and its done-callbacks run) on tiledet's Python
                // dispatcher thread, not on the pipeline's completion thread: a done-callback may
                // then call detect() or close() on the same pipeline without deadlocking it.
                py::object dispatch = py::module_::import("tiledet").attr("_dispatch");
                if (error)
                    dispatch(f, py::bool_(true), python_exception(error));
                else
                    dispatch(f, py::bool_(false), to_detections(r, *pipeline, device, load_ms));
            } catch (py::error_already_set& e) {
                e.discard_as_unraisable("tiledet.Pipeline.submit: completing the future");
            }
        };
        ImageJob job;
        {
            py::gil_scoped_release unlocked;
            job = p->submit(in.bgr, submit_options(in), std::move(on_done));
        }
        // Future.cancel() drops the image's queued tiles.
        future.attr("add_done_callback")(py::cpp_function([job](py::object f) mutable {
            if (f.attr("cancelled")().cast<bool>()) {
                py::gil_scoped_release unlocked;
                job.cancel();
            }
        }));
        return future;
    }

    std::string model() const { return model_; }
    std::string device() const { return device_; }
    std::string family() const { return to_string(held()->detector().family()); }
    std::pair<int, int> input_size() const { return held()->detector().input_size(); }
    std::map<int, std::string> class_names() const { return held()->detector().class_names(); }
    std::string batch_kind() const { return held()->signature().batch_kind().describe(); }
    // The JSON's "config" object (config_json), as a dict: one writer for both.
    py::dict config() const { return py::module_::import("json").attr("loads")(config_json(held()->config())); }

private:
    HeldPipeline held() const {
        if (!pipeline_) throw ShutDown("tiledet.Pipeline: closed (close() or the with block ended); make a new one");
        return HeldPipeline{pipeline_};
    }

    static SubmitOptions submit_options(const InputImage& in) {
        SubmitOptions so;
        so.label = in.label;
        return so;
    }

    std::string model_;
    PipelineOptions options_;
    std::shared_ptr<Pipeline> pipeline_;
    std::string device_;
};

}  // namespace

py::object to_detections(const ImageResult& r, const Pipeline& pipeline, const std::string& device, double load_ms) {
    const Detector& det = pipeline.detector();
    const auto n = static_cast<py::ssize_t>(r.detections.size());
    py::array_t<float> xyxy({n, py::ssize_t{4}});
    py::array_t<float> confidence(n);
    py::array_t<std::int64_t> class_id(n);
    py::list class_name;
    auto b = xyxy.mutable_unchecked<2>();
    auto c = confidence.mutable_unchecked<1>();
    auto k = class_id.mutable_unchecked<1>();
    for (py::ssize_t i = 0; i < n; ++i) {
        const Detection& d = r.detections[static_cast<std::size_t>(i)];
        b(i, 0) = d.box.x1;
        b(i, 1) = d.box.y1;
        b(i, 2) = d.box.x2;
        b(i, 3) = d.box.y2;
        c(i) = d.score;
        k(i) = d.class_id;
        class_name.append(det.class_name(d.class_id));
    }
    // Oriented boxes (yolo_obb): [N, 5] cx, cy, w, h, angle in radians; None for plain boxes.
    py::object xywhr = py::none();
    const bool oriented = std::any_of(r.detections.begin(), r.detections.end(), [](const Detection& d) { return d.rbox.has_value(); });
    if (oriented) {
        py::array_t<float> a({n, py::ssize_t{5}});
        auto v = a.mutable_unchecked<2>();
        for (py::ssize_t i = 0; i < n; ++i) {
            const auto& rb = r.detections[static_cast<std::size_t>(i)].rbox;
            const float row[5] = {rb ? rb->cx : NAN, rb ? rb->cy : NAN, rb ? rb->w : NAN, rb ? rb->h : NAN,
                                  rb ? rb->angle : NAN};
            for (int j = 0; j < 5; ++j) v(i, j) = row[j];
        }
        xywhr = std::move(a);
    }
    // Instance masks (yolo_seg), over their own extent: (x, y, uint8 [h, w]) each, or None.
    py::object masks = py::none();
    const bool masked = std::any_of(r.detections.begin(), r.detections.end(), [](const Detection& d) { return d.mask != nullptr; });
    if (masked) {
        py::list l;
        for (const Detection& d : r.detections) {
            if (!d.mask) {
                l.append(py::none());
                continue;
            }
            py::array_t<std::uint8_t> a({static_cast<py::ssize_t>(d.mask->h), static_cast<py::ssize_t>(d.mask->w)});
            if (!d.mask->data.empty()) std::memcpy(a.mutable_data(), d.mask->data.data(), d.mask->data.size());
            l.append(py::make_tuple(d.mask->x, d.mask->y, std::move(a)));
        }
        masks = std::move(l);
    }
    // Leaked on purpose: a static py::object would be released after the interpreter is gone.
    static const py::handle cls = py::object(py::module_::import("tiledet._detections").attr("Detections")).release();
    return cls(py::arg("xyxy") = xyxy, py::arg("confidence") = confidence, py::arg("class_id") = class_id,
               py::arg("class_name") = class_name, py::arg("source") = r.source, py::arg("width") = r.width,
               py::arg("height") = r.height, py::arg("json") = image_json(r, det, device, load_ms, -1),
               py::arg("xywhr") = xywhr, py::arg("masks") = masks);
}

void register_pipeline(py::module_& m) {
    py::class_<PyPipeline>(m, "_Pipeline", "The engine behind tiledet.Pipeline (use that class).")
        .def(py::init<std::string, const std::vector<std::pair<std::string, std::string>>&>(), py::arg("model"),
             py::arg("options"),
             "model: path to an ONNX file; options: (name, text) pairs as tiledet.option_specs() names them.")
        .def("detect", &PyPipeline::detect, py::arg("image"), py::kw_only(), py::arg("rgb") = false,
             py::arg("label") = "",
             R"doc(Detect objects in one image; waits for it (the GIL is released meanwhile).

image: numpy.ndarray [H, W, 3] uint8, BGR (rgb=True for RGB); a C-contiguous BGR array is read
       in place, without a copy, and may be changed again once detect returns. Or a path (str,
       os.PathLike) to an image file, or the encoded bytes of one.
label: the result's .source (default: the path, or "image").
Returns Detections: xyxy float32 [N, 4] in image pixels, confidence float32 [N], class_id int64
[N], class_name list[str], tiles, timings.
Raises ValueError (wrong dtype, shape or strides), InputError (unreadable file), OptionError
(image over max_image_pixels, more tiles than max_tiles), RuntimeFailure (ONNX Runtime failed).)doc")
        .def("detect_many", &PyPipeline::detect_many, py::arg("images"), py::kw_only(), py::arg("rgb") = false,
             py::arg("return_exceptions") = false, py::arg("labels") = py::none(),
             R"doc(Detect objects in many images; the tiles of every image share batches.

images: an iterable of what detect() takes (arrays, paths, bytes); labels: a list of their
.source labels (default: the path, or "image").
Returns list[Detections] in input order. The first failed image raises its error (as detect
would) unless return_exceptions=True, which puts the exception in that image's place instead.)doc")
        .def("submit", &PyPipeline::submit, py::arg("image"), py::kw_only(), py::arg("rgb") = false,
             py::arg("label") = "",
             R"doc(Submit one image and return at once: a concurrent.futures.Future of its Detections.

The image's pixels are read before submit returns (an array may be changed afterwards). The
future completes on tiledet's dispatcher thread (so its done-callbacks may call detect() or close()
on this pipeline); future.cancel() drops its queued tiles; a failed image
sets the exception detect() would raise.)doc")
        .def("close", &PyPipeline::close,
             "Cancel queued images (their futures raise Cancelled), wait for running batches, free the model.")
        .def_property_readonly("closed", &PyPipeline::closed)
        .def_property_readonly("model", &PyPipeline::model, "The model file.")
        .def_property_readonly("device", &PyPipeline::device, "The executor's device label (\"CPU\").")
        .def_property_readonly("family", &PyPipeline::family, "The model family it decodes as (\"yolo\", ...).")
        .def_property_readonly("input_size", &PyPipeline::input_size, "The model input (height, width) in pixels.")
        .def_property_readonly("class_names", &PyPipeline::class_names, "{class_id: name}.")
        .def_property_readonly("batch_kind", &PyPipeline::batch_kind, "The model's batch axis, in words.")
        .def_property_readonly("config", &PyPipeline::config,
                               "How instances, threads and max batch were chosen: {source (manual, one-tile, measured, "
                               "cached, fallback), instances, threads_per_instance (0: every core), max_batch_size, "
                               "cores, measure_ms, other_load (share 0..1 of the CPUs other processes took while it "
                               "measured; None when not measured), note, description, ...}. The keyword config='manual' "
                               "turns the measurement off.");

    m.def(
        "option_specs",
        [] {
            py::list out;
            for (const OptionSpec& s : pipeline_option_specs()) {
                py::dict d;
                d["name"] = s.name;
                d["group"] = s.group;
                d["help"] = s.help;
                d["default"] = s.default_text;
                d["is_flag"] = s.is_flag;
                d["fields"] = s.fields;
                out.append(d);
            }
            return out;
        },
        "Every Pipeline keyword: name, group, help, default (as text; empty: the family's or model's), is_flag.");
}

}  // namespace tiledet::python
