#include "tiledet/runtime/signature.hpp"

#include "tiledet/error.hpp"

#include <limits>
#include <sstream>
#include <utility>

namespace tiledet {

std::string Dim::to_string() const {
    if (fixed()) return std::to_string(value);
    return symbol.empty() ? "'?'" : "'" + printable(symbol, 60) + "'";  // from the file: escaped
}

std::string TensorInfo::dims_string() const {
    std::string s = "[";
    for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + dims[i].to_string();
    return s + "]";
}

std::string BatchKind::describe() const {
    switch (kind) {
        case Kind::dynamic:
            return "dynamic batch" + (symbol.empty() ? std::string() : " '" + symbol + "'") +
                   ": the signature accepts any batch size";
        case Kind::static_size:
            if (size == 1)
                return "static batch 1: batches of more than 1 will be rejected "
                       "(repair with `tiledet batchify`, or re-export with a dynamic batch axis)";
            return "static batch " + std::to_string(size) + ": exactly " + std::to_string(size) +
                   " items per run (tiledet pads partial batches)";
        case Kind::none:
            return "no batch axis: the model takes one item per run";
    }
    return "unknown";
}

const TensorInfo* ModelSignature::find_input(const std::string& name) const {
    for (const auto& t : inputs)
        if (t.name == name) return &t;
    return nullptr;
}

const TensorInfo* ModelSignature::find_output(const std::string& name) const {
    for (const auto& t : outputs)
        if (t.name == name) return &t;
    return nullptr;
}

BatchKind ModelSignature::batch_kind() const {
    BatchKind bk;
    bool any = false, all_fixed = true, any_fixed = false;
    int64_t n = -1;
    for (const auto& in : inputs) {
        if (in.dims.empty()) continue;
        any = true;
        const Dim& d = in.dims[0];
        if (d.fixed()) {
            any_fixed = true;
            if (n >= 0 && n != d.value) all_fixed = false;  // inputs disagree: no common batch axis
            n = d.value;
        } else {
            all_fixed = false;
            if (bk.symbol.empty()) bk.symbol = d.symbol;
        }
    }
    if (!any) return bk;
    if (all_fixed && n >= 0) {
        bk.kind = BatchKind::Kind::static_size;
        bk.size = n;
        bk.symbol.clear();
    } else if (!any_fixed) {
        bk.kind = BatchKind::Kind::dynamic;
    } else {
        // Mixed fixed and symbolic leading dims: the fixed ones bound the batch.
        bk.kind = BatchKind::Kind::static_size;
        bk.size = n;
        bk.symbol.clear();
    }
    // A leading fixed dim of 3 on a rank-3 input is channels, not a batch (e.g. [3,H,W]).
    if (bk.is_static()) {
        bool image_like = false;
        for (const auto& in : inputs)
            if (in.rank() == 4) image_like = true;
        if (!image_like) {
            for (const auto& in : inputs)
                if (in.rank() == 3 && in.dims[0].fixed() && in.dims[0].value == 3) return BatchKind{};
        }
    }
    return bk;
}

std::optional<std::pair<int64_t, int64_t>> ModelSignature::spatial_size() const {
    for (const auto& in : inputs) {
        if (in.rank() == 4 && in.dims[2].fixed() && in.dims[3].fixed())
            return std::make_pair(in.dims[2].value, in.dims[3].value);
        if (in.rank() == 4) return std::nullopt;
    }
    return std::nullopt;
}

std::string ModelSignature::describe() const {
    std::ostringstream os;
    os << "inputs:\n";
    for (const auto& t : inputs) os << "  " << printable(t.name, 200) << " " << t.dims_string() << " " << to_string(t.type) << "\n";
    os << "outputs:\n";
    for (const auto& t : outputs) os << "  " << printable(t.name, 200) << " " << t.dims_string() << " " << to_string(t.type) << "\n";
    os << "batch: " << batch_kind().describe();
    return os.str();
}

namespace {

// Elements of one item (limits.hpp's elements_per_item; a symbolic dim counts as 1).
std::int64_t item_elements(const TensorInfo& t) {
    std::vector<std::int64_t> dims;
    for (const Dim& d : t.dims) dims.push_back(d.fixed() ? d.value : -1);
    return elements_per_item(dims);
}

void check_limit_values(const Limits& l) {
    const std::pair<const char*, double> values[] = {
        {"limits.max_image_pixels", static_cast<double>(l.max_image_pixels)},
        {"limits.max_input_elements", static_cast<double>(l.max_input_elements)},
        {"limits.max_output_elements", static_cast<double>(l.max_output_elements)},
        {"limits.max_tiles_per_image", static_cast<double>(l.max_tiles_per_image)},
        {"limits.min_tile_ratio", l.min_tile_ratio},
    };
    for (const auto& [name, v] : values)
        if (!(v >= 0)) throw OptionError(name, "", ": expected >= 0 (0: no limit), got " + std::to_string(v));
}

// A fixed leading dim N > 1 is a static batch: every run holds N items (tiledet pads partial
// batches), so N x the per-item count is what one run allocates. INT64_MAX on overflow.
std::int64_t static_batch_elements(const TensorInfo& t) {
    if (t.rank() < 2 || !t.dims[0].fixed() || t.dims[0].value <= 1) return 0;
    const std::int64_t n = t.dims[0].value, item = item_elements(t);
    if (item > 0 && n > std::numeric_limits<std::int64_t>::max() / item) return std::numeric_limits<std::int64_t>::max();
    return n * item;
}

void check_tensor(const TensorInfo& t, std::int64_t limit, const char* option, const std::string& what,
                  const std::string& advice) {
    const std::string name = "model " + what + " '" + printable(t.name, 200) + "' " + t.dims_string();
    check_limit(item_elements(t), limit, option,
                name + (what == "input" ? " takes elements per item" : " gives elements per item"), advice);
    if (const std::int64_t per_run = static_batch_elements(t); per_run > 0)
        check_limit(per_run, limit, option,
                    name + " is a static batch of " + count_text(t.dims[0].value) + "; elements per run", advice);
}

}  // namespace

void check_signature_limits(const ModelSignature& sig, const Limits& limits) {
    check_limit_values(limits);
    for (const TensorInfo& t : sig.inputs)
        check_tensor(t, limits.max_input_elements, "limits.max_input_elements", "input",
                     "; re-export the model at a smaller input size or batch, or raise the limit");
    for (const TensorInfo& t : sig.outputs)
        check_tensor(t, limits.max_output_elements, "limits.max_output_elements", "output",
                     "; re-export the model with fewer outputs or a smaller batch, or raise the limit");
}

}  // namespace tiledet
