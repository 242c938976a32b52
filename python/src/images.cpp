#include "images.hpp"

#include <pybind11/numpy.h>

#include <chrono>
#include <opencv2/imgproc.hpp>
#include <span>
#include <sstream>

#include "tiledet/io/image.hpp"

namespace py = pybind11;

namespace tiledet::python {
namespace {

std::string shape_text(const py::array& a) {
    std::ostringstream os;
    os << "[";
    for (py::ssize_t i = 0; i < a.ndim(); ++i) os << (i ? ", " : "") << a.shape(i);
    os << "]";
    return os.str();
}

std::string strides_text(const py::array& a) {
    std::ostringstream os;
    os << "(";
    for (py::ssize_t i = 0; i < a.ndim(); ++i) os << (i ? ", " : "") << a.strides(i);
    os << ")";
    return os.str();
}

double ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

cv::Mat array_to_mat(py::handle obj, bool rgb) {
    if (!py::isinstance<py::array>(obj))
        throw py::type_error("image: expected a numpy array [H, W, 3] uint8, a path or encoded image bytes, got " +
                             std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
    const auto a = py::reinterpret_borrow<py::array>(obj);
    const std::string layout = rgb ? "RGB" : "BGR (or RGB with rgb=True)";
    if (a.dtype().kind() != 'u' || a.itemsize() != 1)
        throw py::value_error("image: expected dtype uint8, got " + std::string(py::str(a.dtype())) +
                              "; convert 0..255 values with image.astype(np.uint8)");
    if (a.ndim() != 3 || a.shape(2) != 3)
        throw py::value_error("image: expected shape [H, W, 3] (" + layout + "), got " + shape_text(a) +
                              (a.ndim() == 2                      ? "; expand gray with np.dstack([image] * 3)"
                               : a.ndim() == 3 && a.shape(2) == 4 ? "; drop alpha with image[..., :3].copy()"
                                                                  : ""));
    if (a.shape(0) == 0 || a.shape(1) == 0) throw py::value_error("image: empty array of shape " + shape_text(a));
    if (!(a.flags() & py::array::c_style))
        throw py::value_error("image: expected a C-contiguous array, got strides " + strides_text(a) + " for shape " +
                              shape_text(a) + "; pass np.ascontiguousarray(image)");
    // A view: the pipeline reads the array's own pixels (submit preprocesses them before it returns).
    cv::Mat view(static_cast<int>(a.shape(0)), static_cast<int>(a.shape(1)), CV_8UC3, const_cast<void*>(a.data()));
    if (!rgb) return view;
    cv::Mat bgr;
    cv::cvtColor(view, bgr, cv::COLOR_RGB2BGR);
    return bgr;
}

InputImage to_input(py::handle image, bool rgb, const std::string& label, std::int64_t max_pixels) {
    InputImage in;
    const auto t0 = std::chrono::steady_clock::now();
    if (py::isinstance<py::array>(image)) {
        in.bgr = array_to_mat(image, rgb);
        in.label = label.empty() ? "image" : label;
        return in;
    }
    if (rgb) throw py::value_error("rgb=True applies to arrays; files are decoded as their format says");
    if (py::isinstance<py::bytes>(image)) {
        const std::string bytes = image.cast<std::string>();
        in.label = label.empty() ? "image" : label;
        py::gil_scoped_release release;
        in.bgr = decode_image(std::as_bytes(std::span<const char>(bytes.data(), bytes.size())), in.label, max_pixels);
    } else if (py::isinstance<py::str>(image) || py::hasattr(image, "__fspath__")) {
        const std::string path = py::str(py::module_::import("os").attr("fspath")(image));
        in.label = label.empty() ? path : label;
        py::gil_scoped_release release;
        in.bgr = load_image(path, max_pixels);
    } else {
        array_to_mat(image, rgb);  // raises the TypeError naming what was given
    }
    in.load_ms = ms_since(t0);
    return in;
}

}  // namespace tiledet::python
