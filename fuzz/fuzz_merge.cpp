// Merging tile detections: random boxes (NaN, inf, negative sizes, huge values), every
// algorithm and metric. merge_detections documents std::invalid_argument for NaN; otherwise it
// must return a subset-sized, score-ordered result. shift/clip run on the same boxes.
#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>

#include "tiledet/tiling/merge.hpp"
#include "tiledet/tiling/tile_grid.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    tiledet::MergeOptions options;
    options.algorithm = static_cast<tiledet::MergeAlgorithm>(in.ConsumeIntegralInRange(0, 2));
    options.metric = in.ConsumeBool() ? tiledet::MatchMetric::iou : tiledet::MatchMetric::ios;
    options.threshold = in.ConsumeBool() ? in.ConsumeFloatingPoint<float>() : in.ConsumeProbability<float>();
    options.class_agnostic = in.ConsumeBool();
    const int image_w = in.ConsumeIntegralInRange(-2, 4000), image_h = in.ConsumeIntegralInRange(-2, 4000);
    tiledet::Tile tile;
    tile.x = in.ConsumeIntegralInRange(0, 4000);
    tile.y = in.ConsumeIntegralInRange(0, 4000);
    const auto pick = [&] {
        // Small coordinates so boxes overlap, sometimes anything a float can be.
        return in.ConsumeBool() ? static_cast<float>(in.ConsumeIntegralInRange(-8, 64))
                                : in.ConsumeFloatingPoint<float>();
    };
    tiledet::Detections dets;
    while (in.remaining_bytes() > 0 && dets.size() < 300) {
        tiledet::Detection d;
        d.box = {pick(), pick(), pick(), pick()};
        d.score = in.ConsumeBool() ? in.ConsumeProbability<float>() : pick();
        d.class_id = in.ConsumeIntegralInRange(-1, 3);
        dets.push_back(d);
    }
    const auto shifted = tiledet::shift_to_image(dets, tile);
    if (shifted.size() != dets.size()) __builtin_trap();
    try {
        const auto clipped = tiledet::clip_to_image(shifted, image_w, image_h);
        for (const auto& d : clipped)
            if (!(d.box.x1 >= 0 && d.box.y1 >= 0 && d.box.x2 <= image_w && d.box.y2 <= image_h && d.box.x2 > d.box.x1 &&
                  d.box.y2 > d.box.y1))
                __builtin_trap();  // clip promises boxes inside the image with area
    } catch (const std::invalid_argument&) {
        if (image_w > 0 && image_h > 0) __builtin_trap();
    }
    try {
        const auto merged = tiledet::merge_detections(shifted, options);
        if (merged.size() > shifted.size()) __builtin_trap();
        for (std::size_t i = 1; i < merged.size(); ++i)
            if (merged[i - 1].score < merged[i].score) __builtin_trap();  // score descending
    } catch (const std::invalid_argument&) {
    }
    return 0;
}
