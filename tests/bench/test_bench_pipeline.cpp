// How bench modes map to pipeline settings, and how a pipeline image becomes a completion.
#include <gtest/gtest.h>

#include "tiledet/bench/pipeline_load.hpp"
#include "tiledet/error.hpp"

using namespace tiledet;
using namespace tiledet::bench;

TEST(BenchModes, MapToMaxBatchAndInstancesAsTheIssueDefinesThem) {
    PipelineOptions base;
    base.batching.max_batch_size = 8;
    base.batching.instances = 3;
    const auto seq = options_for({BenchMode::sequential, 4, 2}, base);
    EXPECT_EQ(seq.batching.max_batch_size, 1);
    EXPECT_EQ(seq.batching.instances, 1);
    const auto dyn = options_for({BenchMode::dynamic, 4, 2}, base);
    EXPECT_EQ(dyn.batching.max_batch_size, 4);
    EXPECT_EQ(dyn.batching.instances, 1);
    const auto inst = options_for({BenchMode::instances, 2, 2}, base);
    EXPECT_EQ(inst.batching.max_batch_size, 2);
    EXPECT_EQ(inst.batching.instances, 2);
    EXPECT_THROW(parse_bench_mode("turbo"), ConfigError);
    EXPECT_EQ(parse_bench_mode("dynamic"), BenchMode::dynamic);
}

TEST(BenchModes, AutoConcurrencyKeepsTwoBatchesPerInstanceQueued) {
    EXPECT_EQ(auto_concurrency({BenchMode::sequential, 8, 1}, 2), 2);  // never fewer than 2
    EXPECT_EQ(auto_concurrency({BenchMode::dynamic, 4, 1}, 2), 4);
    EXPECT_EQ(auto_concurrency({BenchMode::dynamic, 8, 1}, 24), 2);
    EXPECT_EQ(auto_concurrency({BenchMode::instances, 256, 256}, 1), 1024);  // producer threads: bounded
    EXPECT_EQ(auto_concurrency({BenchMode::instances, 2, 2}, 1), 8);
}

TEST(BenchCompletion, CarriesEveryTileTimingAndItsBatchId) {
    ImageResult r;
    r.end_to_end_ms = 100;
    r.preprocess_ms = 3;
    r.merge_ms = 0.5;
    for (int i = 0; i < 2; ++i) {
        TileReport t;
        t.batch_size = 2;
        t.queue_ms = 10 + i;
        t.inference_ms = 50;
        t.decode_ms = 1;
        t.preprocess_ms = 1.5;
        t.latency_ms = 70;
        t.batch_id = 0;  // id 0 is a real id: must not be read as "unknown"
        r.tiles.push_back(t);
    }
    const Completion c = completion_of(r);
    EXPECT_EQ(c.images, 1);
    EXPECT_DOUBLE_EQ(c.latency_ms, 100);
    EXPECT_DOUBLE_EQ(c.merge_ms, 0.5);
    ASSERT_EQ(c.tiles.size(), 2u);
    EXPECT_DOUBLE_EQ(c.tiles[1].queue_ms, 11);
    EXPECT_EQ(c.tiles[0].batch_id, c.tiles[1].batch_id);
    EXPECT_NE(c.tiles[0].batch_id, 0u);
}
