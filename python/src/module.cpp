// The extension module tiledet._tiledet; the package tiledet (python/tiledet) re-exports it.
#include "module.hpp"

#include <pybind11/numpy.h>

#include <cstring>

#include "errors.hpp"
#include "images.hpp"
#include "tiledet/io/image.hpp"
#include "tiledet/limits.hpp"
#include "tiledet/runtime/model.hpp"

namespace py = pybind11;

PYBIND11_MODULE(_tiledet, m) {
    m.doc() = "tiledet's C++ engine (ONNX Runtime, one dynamic batcher for the tiles of every image)";
    tiledet::python::register_errors(m);
    tiledet::python::register_pipeline(m);
    tiledet::python::register_tools(m);
    m.def("runtime_version", &tiledet::Model::runtime_version, "The ONNX Runtime version tiledet runs on.");
    m.def("available_providers", &tiledet::Model::available_providers,
          "Execution providers this ONNX Runtime build has (provider= takes cpu, cuda, tensorrt, coreml).");
    m.def(
        "load_image",
        [](const std::string& path, std::int64_t max_image_pixels) {
            cv::Mat bgr;
            {
                py::gil_scoped_release unlocked;
                bgr = tiledet::load_image(path, max_image_pixels);
            }
            py::array_t<std::uint8_t> out({bgr.rows, bgr.cols, 3});
            for (int y = 0; y < bgr.rows; ++y)
                std::memcpy(out.mutable_data(y, 0, 0), bgr.ptr(y), static_cast<std::size_t>(bgr.cols) * 3);
            return out;
        },
        py::arg("path"), py::kw_only(), py::arg("max_image_pixels") = tiledet::Limits{}.max_image_pixels,
        "An image file decoded as tiledet decodes it (EXIF orientation applied): np.ndarray [H, W, 3] uint8, BGR. "
        "max_image_pixels: refuse larger images from their header, before decoding (default 2^28, as the "
        "pipeline's; 0: no limit). Raises InputError, OptionError (over the limit).");
    // For tests: the address of the pixels the pipeline would read for this array (the array's
    // own buffer when no copy is made).
    m.def(
        "_pixels_address",
        [](py::handle array, bool rgb) {
            const cv::Mat m = tiledet::python::array_to_mat(array, rgb);
            return reinterpret_cast<std::uintptr_t>(m.data);
        },
        py::arg("array"), py::arg("rgb") = false);
}
