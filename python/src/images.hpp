// Python image arguments -> the 8-bit BGR cv::Mat the pipeline takes.
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <opencv2/core.hpp>
#include <string>

namespace tiledet::python {

struct InputImage {
    cv::Mat bgr;         // for a C-contiguous BGR array: a view of the array's own buffer
    std::string label;   // the file name or URL-free label the result's source carries
    double load_ms = 0;  // reading and decoding a file
};

// A numpy uint8 [H, W, 3] array: wrapped without a copy when C-contiguous and BGR; rgb=true
// converts into a new buffer. Raises ValueError (wrong dtype, shape, strides) or TypeError.
// The array must stay alive while the Mat is used.
cv::Mat array_to_mat(pybind11::handle array, bool rgb);

// An array, a path (str or os.PathLike) or encoded file bytes. Files are read with the GIL
// released. `label` empty: a path labels itself; an array or bytes is "image".
InputImage to_input(pybind11::handle image, bool rgb, const std::string& label, std::int64_t max_pixels);

}  // namespace tiledet::python
