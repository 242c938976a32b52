#pragma once

#include <pybind11/pybind11.h>

#include <string>

#include "tiledet/pipeline/pipeline.hpp"

namespace tiledet::python {

// A tiledet.Detections for one result (the GIL must be held).
pybind11::object to_detections(const ImageResult& result, const Pipeline& pipeline, const std::string& device,
                               double load_ms);

void register_pipeline(pybind11::module_& m);
void register_tools(pybind11::module_& m);

}  // namespace tiledet::python
