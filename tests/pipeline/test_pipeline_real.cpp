// Tiled detection on a large real image: a 3x3 mosaic of COCO photos (1920x1920) with the real
// YOLOv8n. Objects shrink 3x in a whole-image pass; tiles see them at their own scale.
#include <gtest/gtest.h>

#include <filesystem>
#include <opencv2/imgproc.hpp>

#include "test_paths.hpp"
#include "tiledet/io/image.hpp"
#include "tiledet/pipeline/pipeline.hpp"

using namespace tiledet;
using tiledet::testing::shared_path;

TEST(PipelineRealModel, TiledMosaicFindsMoreThanAWholeImagePassAndAboutWhatEachPhotoGives) {
    TILEDET_REQUIRE_SHARED("models/yolov8n_int8.onnx");
    TILEDET_REQUIRE_SHARED("images/coco64/images");
    std::vector<std::string> photos = list_images(shared_path("images/coco64/images").string());
    ASSERT_GE(photos.size(), 9u);
    photos.resize(9);

    PipelineOptions whole_opts;
    whole_opts.log = [](LogLevel, std::string_view) {};
    Pipeline whole(shared_path("models/yolov8n_int8.onnx").string(), whole_opts);

    // Each photo letterboxed alone into a 640x640 cell, as the model would see it on its own.
    cv::Mat mosaic(1920, 1920, CV_8UC3, cv::Scalar(114, 114, 114));
    std::size_t per_photo = 0;
    for (int i = 0; i < 9; ++i) {
        const cv::Mat img = load_image(photos[i]);
        const double s = std::min(640.0 / img.cols, 640.0 / img.rows);
        cv::Mat resized;
        cv::resize(img, resized, cv::Size(static_cast<int>(img.cols * s), static_cast<int>(img.rows * s)));
        cv::Mat cell(640, 640, CV_8UC3, cv::Scalar(114, 114, 114));
        resized.copyTo(cell(cv::Rect(0, 0, resized.cols, resized.rows)));
        cell.copyTo(mosaic(cv::Rect((i % 3) * 640, (i / 3) * 640, 640, 640)));
        per_photo += whole.detect(cell, photos[i]).detections.size();
    }
    const ImageResult single = whole.detect(mosaic, "mosaic-whole");

    PipelineOptions tiled_opts = whole_opts;
    tiled_opts.tile_mode = TileMode::fixed;
    tiled_opts.tiles.overlap_ratio_w = tiled_opts.tiles.overlap_ratio_h = 0.0;  // cells are the tiles
    Pipeline tiled(shared_path("models/yolov8n_int8.onnx").string(), tiled_opts);
    const ImageResult r = tiled.detect(mosaic, "mosaic-tiled");
    EXPECT_EQ(r.tiles.size(), 9u);
    EXPECT_TRUE(tiled.executor().sequential()) << "the static batch-1 model must fall back to sequential";

    std::cout << "[ mosaic ] per-photo total " << per_photo << ", whole-image pass " << single.detections.size()
              << ", tiled " << r.detections.size() << "\n";
    EXPECT_GT(r.detections.size(), single.detections.size());
    // With tiles equal to the cells, tiled detection sees exactly what each photo alone gives;
    // the merge may join a few boxes of touching cells.
    EXPECT_GE(r.detections.size() + 2, per_photo);
    EXPECT_LE(r.detections.size(), per_photo);
}
