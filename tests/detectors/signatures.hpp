// Hand-built signatures for matching and preprocessing tests (no model file needed).
#pragma once

#include <string>
#include <variant>
#include <vector>

#include "tiledet/runtime/signature.hpp"

namespace tiledet::testing {

using D = std::variant<int64_t, std::string>;  // fixed value or symbol

inline TensorInfo tensor(std::string name, ElementType type, std::vector<D> dims) {
    TensorInfo t;
    t.name = std::move(name);
    t.type = type;
    for (const auto& d : dims)
        t.dims.push_back(std::holds_alternative<int64_t>(d) ? Dim::fixed_at(std::get<int64_t>(d))
                                                            : Dim::symbolic(std::get<std::string>(d)));
    return t;
}

inline ModelSignature ultralytics_signature(std::vector<D> out,
                                            std::vector<D> in = {int64_t{1}, int64_t{3}, int64_t{640}, int64_t{640}}) {
    ModelSignature s;
    s.inputs.push_back(tensor("images", ElementType::float32, std::move(in)));
    s.outputs.push_back(tensor("output0", ElementType::float32, std::move(out)));
    return s;
}

inline std::string names_literal(int n) {
    std::string s = "{";
    for (int i = 0; i < n; ++i) s += (i ? ", " : "") + std::to_string(i) + ": 'c" + std::to_string(i) + "'";
    return s + "}";
}

}  // namespace tiledet::testing
