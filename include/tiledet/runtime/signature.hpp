// What a model accepts and returns, read once from the session: names, element types, dims
// (numbers or symbols), metadata. Everything that guesses a family or a size reads this.
#pragma once

#include "tiledet/limits.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tiledet/runtime/tensor.hpp"

namespace tiledet {

struct Dim {
    int64_t value = -1;   // >= 0 when fixed
    std::string symbol;   // the symbol name when dynamic ("batch", "N"); may be empty

    bool fixed() const { return value >= 0; }
    static Dim fixed_at(int64_t v) { return Dim{v, {}}; }
    static Dim symbolic(std::string s) { return Dim{-1, std::move(s)}; }
    std::string to_string() const;  // 640, 'batch', or '?' for an unnamed dynamic dim
};

struct TensorInfo {
    std::string name;
    ElementType type = ElementType::unknown;
    std::vector<Dim> dims;

    std::size_t rank() const { return dims.size(); }
    // The original pipeline's one-liner: ['batch', 3, 640, 640]
    std::string dims_string() const;
};

struct BatchKind {
    enum class Kind { static_size, dynamic, none };
    Kind kind = Kind::none;
    int64_t size = 0;        // for static_size
    std::string symbol;      // for dynamic

    bool is_dynamic() const { return kind == Kind::dynamic; }
    bool is_static() const { return kind == Kind::static_size; }
    // "dynamic batch 'batch'", "static batch 1: batches of more than 1 will be rejected", ...
    std::string describe() const;
};

struct ModelSignature {
    std::vector<TensorInfo> inputs;
    std::vector<TensorInfo> outputs;
    std::map<std::string, std::string> metadata;  // custom metadata_props, as written
    std::string producer;
    std::string graph_name;

    const TensorInfo* find_input(const std::string& name) const;
    const TensorInfo* find_output(const std::string& name) const;

    // The batch kind, read from the leading dim of the inputs: static N when every input's
    // leading dim is the same fixed N, dynamic when they are symbolic, none when no input has
    // rank >= 1.
    BatchKind batch_kind() const;

    // (height, width) of the first rank-4 image input when both are fixed.
    std::optional<std::pair<int64_t, int64_t>> spatial_size() const;

    // Multi-line text: inputs, outputs, batch kind. Used in errors and `tiledet inspect`.
    std::string describe() const;
};

// Limits::max_input_elements and max_output_elements against the signature, per item (dims
// after the batch axis; symbolic dims count as 1), before a single input slot is allocated;
// and every limit >= 0. Throws OptionError naming the limit ("limits.max_input_elements").
void check_signature_limits(const ModelSignature& sig, const Limits& limits);

}  // namespace tiledet
