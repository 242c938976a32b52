// The v2 REST endpoints and the request/response encoding (KServe v2 + Triton's binary-data
// extension), on a served bright-box pipeline.
#include <regex>
#include <gtest/gtest.h>

#include <cstring>

#include "protocol.hpp"
#include "serve_fixture.hpp"

namespace tiledet {
namespace {

using namespace testing_serve;

TEST(ServeProtocol, ParsesJsonTensorsOfEveryNumericType) {
    const std::string body = R"({"id":"r1","inputs":[
        {"name":"a","datatype":"FP32","shape":[2,2],"data":[[1.5,2],[3,4]]},
        {"name":"b","datatype":"INT64","shape":[3],"data":[-1,0,9007199254740993]},
        {"name":"c","datatype":"BOOL","shape":[2],"data":[true,false]},
        {"name":"d","datatype":"UINT8","shape":[1],"data":[255]}]})";
    const auto r = serve::parse_infer_request(body, std::nullopt);
    EXPECT_EQ(r.id, "r1");
    ASSERT_EQ(r.inputs.size(), 4u);
    EXPECT_EQ(r.inputs[0].tensor.shape(), (Shape{2, 2}));
    EXPECT_FLOAT_EQ(r.inputs[0].tensor.data<float>()[0], 1.5f);
    EXPECT_FLOAT_EQ(r.inputs[0].tensor.data<float>()[3], 4.0f);
    EXPECT_EQ(r.inputs[1].tensor.data<std::int64_t>()[2], 9007199254740993LL);  // exact, not through a double
    EXPECT_EQ(r.inputs[2].tensor.data<std::uint8_t>()[0], 1);
    EXPECT_EQ(r.inputs[3].tensor.data<std::uint8_t>()[0], 255);
}

TEST(ServeProtocol, ParsesTheBinaryDataExtension) {
    const float values[3] = {1.0f, -2.5f, 7.25f};
    std::string bin(reinterpret_cast<const char*>(values), sizeof(values));
    const std::string header =
        R"({"inputs":[{"name":"x","datatype":"FP32","shape":[3],"parameters":{"binary_data_size":12}},)"
        R"({"name":"s","datatype":"BYTES","shape":[2],"parameters":{"binary_data_size":13}}]})";
    std::string strings = std::string("\x02\0\0\0hi", 6) + std::string("\x03\0\0\0abc", 7);
    const auto r = serve::parse_infer_request(header + bin + strings, header.size());
    ASSERT_EQ(r.inputs.size(), 2u);
    EXPECT_FLOAT_EQ(r.inputs[0].tensor.data<float>()[2], 7.25f);
    ASSERT_EQ(r.inputs[1].elements.size(), 2u);
    EXPECT_EQ(r.inputs[1].elements[0], "hi");
    EXPECT_EQ(r.inputs[1].elements[1], "abc");
}

TEST(ServeProtocol, RefusesMalformedRequestsWithWhatWasExpected) {
    auto error_of = [](const std::string& body, std::optional<std::size_t> len = std::nullopt) -> std::string {
        try {
            serve::parse_infer_request(body, len);
        } catch (const serve::BadRequest& e) {
            return e.what();
        }
        return "";
    };
    EXPECT_NE(error_of("\x89PNG garbage").find("not a JSON object"), std::string::npos);
    EXPECT_NE(error_of(R"({"inputs":[]})").find("non-empty array"), std::string::npos);
    EXPECT_NE(error_of(R"({"inputs":[{"name":"x","datatype":"FP32","shape":[2],"data":[1]}]})").find("holds 2 elements"),
              std::string::npos);
    EXPECT_NE(error_of(R"({"inputs":[{"name":"x","datatype":"FP33","shape":[1],"data":[1]}]})").find("unknown datatype"),
              std::string::npos);
    EXPECT_NE(error_of(R"({"inputs":[{"name":"x","datatype":"INT8","shape":[1],"data":[300]}]})").find("does not fit"),
              std::string::npos);
    EXPECT_NE(error_of(R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":["a"]}]})").find("expected numbers"),
              std::string::npos);
    // A shape whose element count overflows is refused before anything is allocated.
    EXPECT_NE(error_of(R"({"inputs":[{"name":"x","datatype":"FP32","shape":[4294967296,4294967296],"data":[]}]})")
                  .find("too many elements"),
              std::string::npos);
    // Binary data shorter than binary_data_size says (a truncated body).
    const std::string h = R"({"inputs":[{"name":"x","datatype":"FP32","shape":[4],"parameters":{"binary_data_size":16}}]})";
    EXPECT_NE(error_of(h + "12345678", h.size()).find("truncated body"), std::string::npos);
    // Binary bytes that belong to no input.
    const std::string h2 = R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"parameters":{"binary_data_size":4}}]})";
    EXPECT_NE(error_of(h2 + "1234extra", h2.size()).find("belong to no input"), std::string::npos);
}

TEST(ServeProtocol, EncodesBinaryOutputsWithTheJsonLength) {
    serve::InferRequest req;
    req.id = "abc";
    req.outputs.push_back({"y", true});
    Tensor t(ElementType::float32, {2});
    t.data<float>()[0] = 3.5f;
    t.data<float>()[1] = -1.0f;
    const auto out = serve::encode_infer_response(req, "m", "1", {{"y", ElementType::float32, {2}, t}}, json::object());
    ASSERT_TRUE(out.json_length.has_value());
    const json j = json::parse(out.body.substr(0, *out.json_length));
    EXPECT_EQ(j["id"], "abc");
    EXPECT_EQ(j["outputs"][0]["parameters"]["binary_data_size"], 8);
    ASSERT_EQ(out.body.size(), *out.json_length + 8);
    float back[2];
    std::memcpy(back, out.body.data() + *out.json_length, 8);
    EXPECT_FLOAT_EQ(back[0], 3.5f);
    EXPECT_FLOAT_EQ(back[1], -1.0f);
}

TEST(ServeEndpoints, HealthServerAndModelMetadata) {
    Served s;
    auto c = s.client();
    EXPECT_EQ(c.Get("/v2/health/live")->status, 200);
    EXPECT_EQ(c.Get("/v2/health/ready")->status, 200);
    const auto server = json::parse(c.Get("/v2")->body);
    EXPECT_EQ(server["name"], "tiledet");
    EXPECT_NE(server["extensions"].dump().find("binary_tensor_data"), std::string::npos);

    const auto det = json::parse(c.Get("/v2/models/bright")->body);
    EXPECT_EQ(det["inputs"][0]["datatype"], "BYTES");
    EXPECT_EQ(det["outputs"][0]["name"], "boxes");
    EXPECT_EQ(det["outputs"][2]["datatype"], "INT64");
    const auto raw = json::parse(c.Get("/v2/models/bright_raw/versions/1")->body);
    EXPECT_EQ(raw["inputs"][0]["name"], "images");
    EXPECT_EQ(raw["inputs"][0]["shape"], json({-1, 3, 640, 640}));
    EXPECT_EQ(raw["outputs"][0]["shape"], json({-1, 84, 2100}));
    EXPECT_EQ(c.Get("/v2/models/bright/ready")->status, 200);
    EXPECT_EQ(c.Get("/v2/models/bright/versions/1/ready")->status, 200);

    auto missing = c.Get("/v2/models/nope");
    EXPECT_EQ(missing->status, 404);
    EXPECT_NE(json::parse(missing->body)["error"].get<std::string>().find("bright"), std::string::npos);
    EXPECT_EQ(c.Get("/v2/models/bright/versions/7")->status, 404);
    EXPECT_EQ(c.Get("/v2/nothing/here")->status, 404);
}

TEST(ServeEndpoints, NotReadyUntilSetReadyAndAfterStop) {
    serve::ServeOptions so;
    so.host = "127.0.0.1";
    so.http_port = 0;
    serve::InferenceServer server(so);
    server.start();
    httplib::Client c("127.0.0.1", server.http_port());
    EXPECT_EQ(c.Get("/v2/health/live")->status, 200);
    EXPECT_EQ(c.Get("/v2/health/ready")->status, 503);
    server.set_ready(true);
    EXPECT_EQ(c.Get("/v2/health/ready")->status, 200);
    server.stop();
    EXPECT_FALSE(c.Get("/v2/health/live"));  // nothing listens any more
}

TEST(ServeEndpoints, DetectionThroughABytesImageInput) {
    Served s;
    auto c = s.client();
    // Two tiles of 640: one rectangle in each.
    const cv::Mat img = bb::scene(1280, 640, {{100, 200, 60, 40}, {700, 300, 80, 50}});
    auto req = image_request(png(img), "two", {{"tile", 640}, {"overlap", 0}});
    auto res = c.Post("/v2/models/bright/infer", req.headers, req.body, "application/octet-stream");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    const json j = json::parse(res->body);
    EXPECT_EQ(j["id"], "two");
    EXPECT_EQ(j["model_name"], "bright");
    EXPECT_EQ(j["parameters"]["tiles"], 2);
    EXPECT_EQ(j["parameters"]["image_width"], 1280);
    const json& boxes = j["outputs"][0];
    ASSERT_EQ(boxes["name"], "boxes");
    ASSERT_EQ(boxes["shape"], json({2, 4}));
    std::vector<float> b = boxes["data"].get<std::vector<float>>();
    if (b[0] > b[4]) std::swap_ranges(b.begin(), b.begin() + 4, b.begin() + 4);
    EXPECT_NEAR(b[0], 100, 1.0);
    EXPECT_NEAR(b[1], 200, 1.0);
    EXPECT_NEAR(b[2], 160, 1.0);
    EXPECT_NEAR(b[3], 240, 1.0);
    EXPECT_NEAR(b[4], 700, 1.0);
    EXPECT_NEAR(b[7], 350, 1.0);
    EXPECT_EQ(j["outputs"][2]["datatype"], "INT64");
    EXPECT_EQ(j["outputs"][2]["data"], json({0, 0}));
    EXPECT_EQ(json::parse(j["parameters"]["class_names"].get<std::string>()), json({"person", "person"}));
    // Both tiles of the one image ran in one batch.
    const std::string ids = j["parameters"]["batch_ids"];
    EXPECT_EQ(ids.substr(0, ids.find(',')), ids.substr(ids.find(',') + 1));
}

TEST(ServeEndpoints, AnImageOverThePixelLimitIs400NamingTheLimitAndTheServersFlag) {
    Limits limits;
    limits.max_image_pixels = 1000;
    Served s(bb::one_backend({}), {}, 8, std::chrono::microseconds(2000), limits);
    auto c = s.client();
    auto req = image_request(png(bb::scene(64, 64, {{10, 10, 20, 20}})), "", {});
    auto res = c.Post("/v2/models/bright/infer", req.headers, req.body, "application/octet-stream");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << res->body;
    const std::string error = json::parse(res->body)["error"];
    EXPECT_NE(error.find("exceeds the limit of 1,000 (limits.max_image_pixels, tiledet serve --max-image-pixels)"),
              std::string::npos)
        << error;
}

TEST(ServeEndpoints, DetectionParametersConfAndClassesApply) {
    Served s;
    auto c = s.client();
    const cv::Mat img = bb::scene(640, 640, {{100, 100, 50, 50}});
    auto req = image_request(png(img), "", {{"conf", 0.99}});
    auto res = c.Post("/v2/models/bright/infer", req.headers, req.body, "application/octet-stream");
    ASSERT_EQ(res->status, 200) << res->body;
    EXPECT_EQ(json::parse(res->body)["outputs"][0]["shape"], json({0, 4}));  // scored below 0.99
    auto bad = image_request(png(img), "", {{"tile", "sideways"}});
    res = c.Post("/v2/models/bright/infer", bad.headers, bad.body, "application/octet-stream");
    EXPECT_EQ(res->status, 400);
    EXPECT_NE(json::parse(res->body)["error"].get<std::string>().find("parameter 'tile'"), std::string::npos);
}

TEST(ServeEndpoints, RawTensorsBatchedByTheExecutorInBinaryAndJson) {
    Served s;
    auto c = s.client();
    // Two items, each red channel bright in its own rectangle.
    const int64_t n = 2, plane = 640 * 640;
    std::vector<float> x(static_cast<std::size_t>(n * 3 * plane), 0.0f);
    const cv::Rect rects[2] = {{10, 20, 30, 40}, {300, 310, 50, 20}};
    for (int64_t i = 0; i < n; ++i)
        for (int y = rects[i].y; y < rects[i].y + rects[i].height; ++y)
            for (int xx = rects[i].x; xx < rects[i].x + rects[i].width; ++xx)
                x[static_cast<std::size_t>(i * 3 * plane + y * 640 + xx)] = 1.0f;
    const std::string bytes(reinterpret_cast<const char*>(x.data()), x.size() * 4);
    const json header = {{"inputs", {{{"name", "images"}, {"datatype", "FP32"}, {"shape", {n, 3, 640, 640}},
                                      {"parameters", {{"binary_data_size", bytes.size()}}}}}},
                         {"outputs", {{{"name", "output0"}, {"parameters", {{"binary_data", true}}}}}}};
    const std::string h = header.dump();
    auto res = c.Post("/v2/models/bright_raw/infer", {{"Inference-Header-Content-Length", std::to_string(h.size())}},
                      h + bytes, "application/octet-stream");
    ASSERT_EQ(res->status, 200) << res->body.substr(0, 300);
    const std::size_t jl = std::stoul(res->get_header_value("Inference-Header-Content-Length"));
    const json j = json::parse(res->body.substr(0, jl));
    EXPECT_EQ(j["outputs"][0]["shape"], json({2, 84, 2100}));
    ASSERT_EQ(res->body.size() - jl, static_cast<std::size_t>(2 * 84 * 2100 * 4));
    // The binary section starts right after the JSON, at any alignment: copy it out.
    std::vector<float> out(2 * 84 * 2100);
    std::memcpy(out.data(), res->body.data() + jl, out.size() * sizeof(float));
    for (int64_t i = 0; i < n; ++i) {
        EXPECT_FLOAT_EQ(out[i * 84 * 2100 + 0], rects[i].x + rects[i].width / 2.0f) << "item " << i;
        EXPECT_FLOAT_EQ(out[i * 84 * 2100 + 2 * 2100], static_cast<float>(rects[i].width)) << "item " << i;
    }
    // JSON tensors of a wrong shape or datatype: 400 naming what the model takes.
    const json wrong_shape = {{"inputs", {{{"name", "images"}, {"datatype", "FP32"}, {"shape", {1, 3, 2, 2}},
                                           {"data", std::vector<float>(12, 0.0f)}}}}};
    res = c.Post("/v2/models/bright_raw/infer", wrong_shape.dump(), "application/json");
    EXPECT_EQ(res->status, 400);
    EXPECT_NE(res->body.find("images FP32 ['batch', 3, 640, 640]"), std::string::npos) << res->body;
    const json wrong_type = {{"inputs", {{{"name", "images"}, {"datatype", "INT32"}, {"shape", {1, 3, 1, 1}},
                                          {"data", {1, 2, 3}}}}}};
    res = c.Post("/v2/models/bright_raw/infer", wrong_type.dump(), "application/json");
    EXPECT_EQ(res->status, 400);
    EXPECT_NE(res->body.find("datatype INT32"), std::string::npos) << res->body;
    const json wrong_name = {{"inputs", {{{"name", "pixels"}, {"datatype", "FP32"}, {"shape", {1}}, {"data", {1}}}}}};
    res = c.Post("/v2/models/bright_raw/infer", wrong_name.dump(), "application/json");
    EXPECT_EQ(res->status, 400);
    EXPECT_NE(res->body.find("'pixels' is not an input"), std::string::npos) << res->body;
}

TEST(ServeEndpoints, MetricsUseTritonNamesAndCountRequests) {
    Served s;
    auto c = s.client();
    const cv::Mat img = bb::scene(640, 640, {{100, 100, 50, 50}});
    for (int i = 0; i < 3; ++i) {
        auto req = image_request(png(img), std::to_string(i));
        ASSERT_EQ(c.Post("/v2/models/bright/infer", req.headers, req.body, "application/octet-stream")->status, 200);
    }
    ASSERT_EQ(c.Post("/v2/models/bright/infer", "garbage", "application/json")->status, 400);
    const std::string m = c.Get("/metrics")->body;
    EXPECT_NE(m.find("nv_inference_request_success{model=\"bright\",version=\"1\"} 3\n"), std::string::npos) << m;
    EXPECT_NE(m.find("nv_inference_request_failure{model=\"bright\",version=\"1\",reason=\"OTHER\"} 1\n"),
              std::string::npos);
    EXPECT_NE(m.find("nv_inference_count{model=\"bright\",version=\"1\"} 3\n"), std::string::npos);
    EXPECT_NE(m.find("nv_inference_exec_count{model=\"bright\",version=\"1\"} 3\n"), std::string::npos);
    EXPECT_NE(m.find("nv_inference_pending_request_count{model=\"bright\",version=\"1\"} 0\n"), std::string::npos);
    for (const char* name : {"nv_inference_request_duration_us", "nv_inference_queue_duration_us",
                             "nv_inference_compute_input_duration_us", "nv_inference_compute_infer_duration_us",
                             "nv_inference_compute_output_duration_us", "tiledet_batch_size",
                             "tiledet_sequential_fallback", "tiledet_batch_retries"})
        EXPECT_NE(m.find(std::string("# TYPE ") + name), std::string::npos) << name;
    EXPECT_NE(m.find("tiledet_tiles_per_request_count{model=\"bright\",version=\"1\"} 3\n"), std::string::npos);
    EXPECT_NE(m.find("tiledet_batch_size_bucket{model=\"bright\",version=\"1\",le=\"1\"} 3\n"), std::string::npos);
}

// Triton's compute_infer is the time the model spent on a request: four tiles run two at a time on
// two instances (100 ms each) take about 200 ms, not the 400 ms their runs add up to, and never
// more than the request itself took.
TEST(ServeEndpoints, ComputeInferCountsParallelRunsOfARequestOnce) {
    std::vector<std::unique_ptr<Backend>> backends;
    for (int i = 0; i < 2; ++i) backends.push_back(std::make_unique<bb::BrightBoxBackend>(std::chrono::milliseconds(100)));
    Served s(std::move(backends), {}, /*max_batch=*/1);
    auto c = s.client();
    const cv::Mat img = bb::scene(1280, 1280, {{100, 100, 50, 50}});
    auto req = image_request(png(img), "four", {{"tile", 640}, {"overlap", 0}});
    auto res = c.Post("/v2/models/bright/infer", req.headers, req.body, "application/octet-stream");
    ASSERT_EQ(res->status, 200) << res->body;
    const std::string m = c.Get("/metrics")->body;
    const auto value = [&](const std::string& name) {
        std::smatch match;
        const std::regex re(name + R"(\{model="bright",version="1"\} ([0-9]+))");
        EXPECT_TRUE(std::regex_search(m, match, re)) << name << " in " << m;
        return match.empty() ? 0.0 : std::stod(match[1]);
    };
    const double infer = value("nv_inference_compute_infer_duration_us");
    const double request = value("nv_inference_request_duration_us");
    EXPECT_GE(infer, 190000.0) << "two rounds of 100 ms runs";
    EXPECT_LT(infer, 390000.0) << "the four runs were added up, not their covered time";
    EXPECT_LE(infer, request);
}

TEST(ServeEndpoints, StatusPageAndItsNumbers) {
    Served s;
    auto c = s.client();
    auto page = c.Get("/");
    ASSERT_EQ(page->status, 200);
    EXPECT_NE(page->get_header_value("Content-Type").find("text/html"), std::string::npos);
    EXPECT_NE(page->body.find("/status.json"), std::string::npos);
    EXPECT_NE(page->body.find("Inference-Header-Content-Length"), std::string::npos);  // its upload box
    const cv::Mat img = bb::scene(1280, 640, {{100, 100, 50, 50}});
    for (int i = 0; i < 2; ++i) {
        auto req = image_request(png(img), "", {{"tile", 640}, {"overlap", 0}});
        ASSERT_EQ(c.Post("/v2/models/bright/infer", req.headers, req.body, "application/octet-stream")->status, 200);
    }
    const json st = json::parse(c.Get("/status.json")->body);
    EXPECT_EQ(st["ready"], true);
    EXPECT_EQ(st["last_minute"]["requests"], 2);
    EXPECT_GT(st["last_minute"]["p50_ms"].get<double>(), 0.0);
    ASSERT_EQ(st["models"][0]["name"], "bright");
    EXPECT_EQ(st["models"][0]["success"], 2);
    EXPECT_EQ(st["models"][0]["tiles_pending"], 0);
    EXPECT_EQ(st["models"][0]["batch_size_histogram"][2], 2);  // each image's two tiles in one batch
    EXPECT_EQ(st["models"][1]["name"], "bright_raw");
}

}  // namespace
}  // namespace tiledet
