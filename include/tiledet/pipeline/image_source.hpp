// Where a submitted image's pixels come from, one tile's region at a time. The pipeline reads a
// region just before it preprocesses that tile, so an image cut into more tiles than the
// pipeline keeps in flight is never held as a whole by the pipeline: a raster read by window
// (tiledet/raster) stays on disk until its tiles are cut. The pipeline core knows only this
// interface; a source that needs a library (GDAL) lives in an outer module.
#pragma once

#include <opencv2/core.hpp>
#include <string>

namespace tiledet {

class ImageSource {
public:
    virtual ~ImageSource() = default;

    // The image's size in pixels.
    virtual int width() const = 0;
    virtual int height() const = 0;

    // 8-bit 3-channel BGR pixels of `region` (x, y, w, h in image pixels, inside the image):
    // region.height x region.width, a new Mat or a view of pixels that do not change while the
    // image runs (the pipeline reads a whole group's regions before preprocessing them).
    // An empty Mat says the region holds no data at all (a raster's nodata area): its tile is
    // not run and reports no detections. Throws (an Error saying which source and region) when
    // the pixels cannot be read. The pipeline calls read() from one thread at a time per source.
    virtual cv::Mat read(const cv::Rect& region) = 0;
};

// An image already in memory (8-bit BGR): read() returns ROI views of it. Holds a reference to
// the pixels (cv::Mat's reference count), never a copy.
class MatImageSource final : public ImageSource {
public:
    explicit MatImageSource(cv::Mat image) : image_(std::move(image)) {}
    int width() const override { return image_.cols; }
    int height() const override { return image_.rows; }
    cv::Mat read(const cv::Rect& region) override { return image_(region); }

private:
    cv::Mat image_;
};

}  // namespace tiledet
