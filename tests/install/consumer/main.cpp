// Runs one image through an installed tiledet: consumer MODEL -> prints "detections N family F".
#include <cstdio>
#include <exception>

#include <opencv2/core.hpp>

#include "tiledet/pipeline/pipeline.hpp"

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: consumer MODEL.onnx\n");
        return 2;
    }
    try {
        tiledet::PipelineOptions options;
        options.tile_mode = tiledet::TileMode::fixed;
        tiledet::Pipeline pipeline(argv[1], options);
        // A 1280x640 gradient: several overlapping tiles of a 640x640 model, with image-dependent outputs.
        cv::Mat image(640, 1280, CV_8UC3);
        for (int y = 0; y < image.rows; ++y)
            for (int x = 0; x < image.cols; ++x)
                image.at<cv::Vec3b>(y, x) = cv::Vec3b(x % 256, y % 256, (x + y) % 256);
        tiledet::ImageResult result = pipeline.detect(image, "gradient");
        std::printf("tiles %zu detections %zu family %s\n", result.tiles.size(), result.detections.size(),
                    tiledet::to_string(pipeline.detector().family()).c_str());
        return result.tiles.size() >= 2 ? 0 : 1;  // 1280 px wide: more than one tile
    } catch (const std::exception& e) {
        std::fprintf(stderr, "consumer: %s\n", e.what());
        return 1;
    }
}
