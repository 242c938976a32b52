// Limits and hostile input: each bad request gets one clear error and no other request notices.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <future>
#include <thread>

#include "serve_fixture.hpp"

namespace tiledet {
namespace {

using namespace testing_serve;

// A TCP connection to 127.0.0.1:port, for requests no HTTP client would send; -1 on failure.
int connect_local(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

std::string error_of(const httplib::Result& r) {
    if (!r) return "<no response>";
    const auto j = json::parse(r->body, nullptr, false);
    return j.is_object() && j.contains("error") ? j["error"].get<std::string>() : r->body;
}

TEST(ServeFaults, GarbageAndTruncatedBodiesGet400AndTheServerStaysUp) {
    Served s;
    auto c = s.client();
    auto r = c.Post("/v2/models/bright/infer", std::string("\x00\xff\x13garbage", 10), "application/json");
    EXPECT_EQ(r->status, 400);
    EXPECT_NE(error_of(r).find("not a JSON object"), std::string::npos);

    const std::string image = png(bb::scene(640, 640, {{10, 10, 50, 50}}));
    // A truncated PNG: the BYTES element is consistent, the image inside is cut.
    auto cut = image_request(image.substr(0, image.size() / 2), "cut");
    r = c.Post("/v2/models/bright/infer", cut.headers, cut.body, "application/octet-stream");
    EXPECT_EQ(r->status, 400);
    EXPECT_NE(error_of(r).find("input 'image'"), std::string::npos) << error_of(r);
    // Not an image at all.
    auto text = image_request("hello, world", "text");
    r = c.Post("/v2/models/bright/infer", text.headers, text.body, "application/octet-stream");
    EXPECT_EQ(r->status, 400);
    // A body cut after the header: binary_data_size promises more than there is.
    auto whole = image_request(image, "short");
    r = c.Post("/v2/models/bright/infer", whole.headers, whole.body.substr(0, whole.body.size() - 100),
               "application/octet-stream");
    EXPECT_EQ(r->status, 400);
    EXPECT_NE(error_of(r).find("truncated body"), std::string::npos) << error_of(r);
    // A header length beyond the body.
    r = c.Post("/v2/models/bright/infer", {{"Inference-Header-Content-Length", "99999"}}, "{}", "application/json");
    EXPECT_EQ(r->status, 400);
    EXPECT_NE(error_of(r).find("Inference-Header-Content-Length"), std::string::npos);
    // A FP32 tensor sent to the detection model.
    r = c.Post("/v2/models/bright/infer", R"({"inputs":[{"name":"image","datatype":"FP32","shape":[1],"data":[1]}]})",
               "application/json");
    EXPECT_EQ(r->status, 400);
    EXPECT_NE(error_of(r).find("one BYTES input"), std::string::npos);

    // An image as a JSON BYTES string cannot be raw bytes: the 400 says how to send it.
    r = c.Post("/v2/models/bright/infer",
               R"({"inputs":[{"name":"image","datatype":"BYTES","shape":[1],"data":["iVBORw0KGgo="]}]})",
               "application/json");
    EXPECT_EQ(r->status, 400);
    EXPECT_NE(error_of(r).find("binary-data extension"), std::string::npos) << error_of(r);

    // A typo in a parameter name, or the input's name, is a 400 naming the right ones.
    auto typo = image_request(image, "typo", json{{"confidence", 0.5}});
    r = c.Post("/v2/models/bright/infer", typo.headers, typo.body, "application/octet-stream");
    EXPECT_EQ(r->status, 400);
    EXPECT_NE(error_of(r).find("unknown parameter 'confidence'"), std::string::npos) << error_of(r);
    EXPECT_NE(error_of(r).find("conf"), std::string::npos) << error_of(r);
    auto named = image_request(image, "named");
    const std::string at = "\"name\":\"image\"";
    const auto pos = named.body.find(at);
    ASSERT_NE(pos, std::string::npos);
    named.body.replace(pos, at.size(), "\"name\":\"imagE\"");
    r = c.Post("/v2/models/bright/infer", named.headers, named.body, "application/octet-stream");
    EXPECT_EQ(r->status, 400);
    EXPECT_NE(error_of(r).find("got input 'imagE'"), std::string::npos) << error_of(r);

    // And a good request still works.
    auto ok = image_request(image, "ok");
    r = c.Post("/v2/models/bright/infer", ok.headers, ok.body, "application/octet-stream");
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(json::parse(r->body)["outputs"][0]["shape"], json({1, 4}));
}

TEST(ServeFaults, OversizedRequestGets413WithTheLimit) {
    serve::ServeOptions so;
    so.max_request_bytes = 64 * 1024;
    Served s(so);
    auto c = s.client();
    const std::string big(200 * 1024, 'x');
    auto r = c.Post("/v2/models/bright/infer", big, "application/octet-stream");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
    EXPECT_NE(error_of(r).find("--max-request-mb"), std::string::npos) << error_of(r);
    EXPECT_EQ(s.client().Get("/v2/health/live")->status, 200);
}

// curl --data-binary and Python's urllib send application/x-www-form-urlencoded unless told
// otherwise; httplib alone caps such a body at 8 KB. An infer body is never a form: only
// --max-request-mb limits it, and a 413 names the limit that was hit.
TEST(ServeFaults, InferBodyOver8KBWithFormContentTypeIsServed) {
    Served s;
    auto c = s.client();
    cv::Mat img = bb::scene(640, 640, {{10, 10, 50, 50}});
    cv::Mat dark_noise = img.rowRange(600, 640);  // dark, so no box; noise, so the PNG is not tiny
    cv::randu(dark_noise, 0, 30);
    auto req = image_request(png(img), "form");
    ASSERT_GT(req.body.size(), 8192u);
    auto r = c.Post("/v2/models/bright/infer", req.headers, req.body, "application/x-www-form-urlencoded");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(json::parse(r->body)["outputs"][0]["shape"], json({1, 4}));

    // Over the cap, the same Content-Type gets 413 with --max-request-mb's limit.
    serve::ServeOptions so;
    so.max_request_bytes = 16 * 1024;
    Served small(so);
    auto c2 = small.client();
    const std::string big(64 * 1024, 'x');
    r = c2.Post("/v2/models/bright/infer", big, "application/x-www-form-urlencoded");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
    EXPECT_NE(error_of(r).find("16384 bytes (tiledet serve --max-request-mb)"), std::string::npos) << error_of(r);
    // A form over 8 KB to another endpoint: 413 that says it is httplib's form limit, not ours.
    r = c2.Post("/v2/models/bright", std::string(10000, 'x'), "application/x-www-form-urlencoded");
    ASSERT_TRUE(r);
    if (r->status == 413) {
        EXPECT_EQ(error_of(r).find("--max-request-mb"), std::string::npos) << error_of(r);
    }
    EXPECT_EQ(small.client().Get("/v2/health/live")->status, 200);
}

// A burst of new connections (a load balancer's, or many clients starting at once): with
// httplib's backlog of 5 the kernel drops SYNs and some connects wait for its 1 s retry.
TEST(ServeFaults, BurstOfConnectionsToLiveAllAnswerQuickly) {
    Served s;
    constexpr int kClients = 64;
    std::vector<std::future<int>> answers;
    std::atomic<int> go{0};
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kClients; ++i)
        answers.push_back(std::async(std::launch::async, [&] {
            while (!go.load()) std::this_thread::yield();
            httplib::Client c("127.0.0.1", s.server->http_port());
            c.set_connection_timeout(10);
            auto r = c.Get("/v2/health/live");
            return r ? r->status : -1;
        }));
    go = 1;
    for (auto& a : answers) EXPECT_EQ(a.get(), 200);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
    // The backlog itself, where iproute2's ss is installed: a listening socket's Send-Q.
    const std::string cmd = "ss -ltnH 'sport = :" + std::to_string(s.server->http_port()) + "' 2>/dev/null";
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
        char state[64] = {0};
        long recv_q = -1, backlog = -1;
        const int n = std::fscanf(p, "%63s %ld %ld", state, &recv_q, &backlog);
        ::pclose(p);
        if (n == 3) {
            EXPECT_GE(backlog, 64) << "the HTTP listen backlog";
        }
    }
}

// Before the models have loaded, a model's readiness is "not yet" (503), not "unknown" (404).
TEST(ServeFaults, ModelReadyWhileLoadingIs503) {
    serve::ServeOptions so;
    so.host = "127.0.0.1";
    so.http_port = 0;
    serve::InferenceServer server(so);
    server.start();
    httplib::Client c("127.0.0.1", server.http_port());
    auto r = c.Get("/v2/models/bright/ready");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    EXPECT_NE(error_of(r).find("loading"), std::string::npos) << error_of(r);
    server.set_ready(true);
    r = c.Get("/v2/models/bright/ready");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    server.stop();
}

TEST(ServeFaults, ClientsDisconnectingMidRequestDoNotHurtOthers) {
    Served s({}, std::chrono::milliseconds(20));
    const std::string image = png(bb::scene(640, 640, {{10, 10, 50, 50}}));
    auto good = [&] {
        auto req = image_request(image, "good");
        auto r = s.client().Post("/v2/models/bright/infer", req.headers, req.body, "application/octet-stream");
        return r ? r->status : -1;
    };
    auto pending = std::async(std::launch::async, good);
    for (int i = 0; i < 8; ++i) {
        const int fd = connect_local(s.server->http_port());
        ASSERT_GE(fd, 0);
        auto req = image_request(image, "gone");
        // Half the body (i even), or a whole request whose answer nobody reads (i odd).
        const std::string head = "POST /v2/models/bright/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                                 "Inference-Header-Content-Length: " +
                                 req.headers.find("Inference-Header-Content-Length")->second +
                                 "\r\nContent-Length: " + std::to_string(req.body.size()) + "\r\n\r\n";
        const std::string sent = head + (i % 2 ? req.body : req.body.substr(0, req.body.size() / 2));
        ASSERT_EQ(::send(fd, sent.data(), sent.size(), MSG_NOSIGNAL), static_cast<ssize_t>(sent.size()));
        ::close(fd);
    }
    EXPECT_EQ(pending.get(), 200);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(good(), 200);
}

// A request line the HTTP library cannot parse: its 400 says what an HTTP request looks like
// (it said "HTTP error 400"), and the server goes on answering.
TEST(ServeFaults, AnUnparsableRequestLineGetsA400ThatSaysWhatWasExpected) {
    Served s({}, std::chrono::milliseconds(20));
    const int fd = connect_local(s.server->http_port());
    ASSERT_GE(fd, 0);
    const std::string garbage = "GARBAGE \x1b[31m\r\n\r\n";
    ASSERT_EQ(::send(fd, garbage.data(), garbage.size(), MSG_NOSIGNAL), static_cast<ssize_t>(garbage.size()));
    std::string answer;
    char buf[4096];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof(buf), 0)) > 0;) {
        answer.append(buf, static_cast<std::size_t>(n));
        if (answer.find("}") != std::string::npos) break;
    }
    ::close(fd);
    EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << answer;
    EXPECT_NE(answer.find("malformed HTTP request: expected a request line 'METHOD /path HTTP/1.1'"), std::string::npos)
        << answer;
    EXPECT_EQ(s.client().Get("/v2/health/live")->status, 200);
}

// Clients that stop mid-body hold an HTTP thread only for --read-timeout-s: the other clients
// (a liveness probe) are answered again after it, and stop() (SIGTERM) does not wait 30 s on them.
TEST(ServeFaults, StalledBodiesHoldThreadsOnlyForTheReadTimeout) {
    serve::ServeOptions so;
    so.read_timeout_s = 1;
    so.http_threads = 2;
    auto s = std::make_unique<Served>(so);
    std::vector<int> fds;
    for (int i = 0; i < 2; ++i) {
        const int fd = connect_local(s->server->http_port());
        ASSERT_GE(fd, 0);
        const std::string head = "POST /v2/models/bright/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                 "Content-Length: 100000\r\n\r\n{\"inputs\":";
        ASSERT_EQ(::send(fd, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
        fds.push_back(fd);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto t0 = std::chrono::steady_clock::now();
    auto c = s->client();
    auto r = c.Get("/v2/health/live");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
    // Stalled again, then stop: bounded by the read timeout, not 30 s.
    for (int& fd : fds) {
        ::close(fd);
        fd = connect_local(s->server->http_port());
        ASSERT_GE(fd, 0);
        const std::string head = "POST /v2/models/bright/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{";
        ASSERT_EQ(::send(fd, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    t0 = std::chrono::steady_clock::now();
    s.reset();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
    for (int fd : fds) ::close(fd);
}

TEST(ServeFaults, QueueCapAnswers503AtOnceAndTheAcceptedOnesFinish) {
    serve::ServeOptions so;
    so.max_pending_requests = 2;
    // Runs of 1 s: the six requests arrive while the first two still run, even on a loaded machine.
    Served s(so, std::chrono::milliseconds(1000), /*max_batch=*/1, std::chrono::microseconds(0));
    const std::string image = png(bb::scene(640, 640, {{10, 10, 50, 50}}));
    std::vector<std::future<std::pair<int, std::string>>> results;
    for (int i = 0; i < 6; ++i)
        results.push_back(std::async(std::launch::async, [&, i] {
            auto req = image_request(image, std::to_string(i));
            auto r = s.client().Post("/v2/models/bright/infer", req.headers, req.body, "application/octet-stream");
            return std::make_pair(r ? r->status : -1, r ? r->body : std::string());
        }));
    int ok = 0, busy = 0;
    for (auto& f : results) {
        const auto [status, body] = f.get();
        if (status == 200) ++ok;
        if (status == 503) {
            ++busy;
            EXPECT_NE(body.find("--max-pending"), std::string::npos) << body;
        }
    }
    EXPECT_EQ(ok + busy, 6);
    EXPECT_GE(ok, 2);
    EXPECT_GE(busy, 1);
    EXPECT_NE(s.server->metrics_text().find("reason=\"REJECTED\"} " + std::to_string(busy) + "\n"), std::string::npos);
}

TEST(ServeFaults, RequestTimeoutEndsQueuedRequestsWith503) {
    serve::ServeOptions so;
    so.request_timeout = std::chrono::milliseconds(300);
    Served s(so, std::chrono::milliseconds(1000), /*max_batch=*/1, std::chrono::microseconds(0));
    const std::string image = png(bb::scene(640, 640, {{10, 10, 50, 50}}));
    std::vector<std::future<std::pair<int, std::string>>> results;
    for (int i = 0; i < 4; ++i)
        results.push_back(std::async(std::launch::async, [&, i] {
            auto req = image_request(image, std::to_string(i));
            auto r = s.client().Post("/v2/models/bright/infer", req.headers, req.body, "application/octet-stream");
            return std::make_pair(r ? r->status : -1, r ? r->body : std::string());
        }));
    int ok = 0, expired = 0;
    for (auto& f : results) {
        const auto [status, body] = f.get();
        ok += status == 200;
        if (status == 503) {
            ++expired;
            EXPECT_NE(body.find("timeout expired"), std::string::npos) << body;
        }
    }
    EXPECT_EQ(ok + expired, 4);
    EXPECT_GE(ok, 1);       // the first one started at once
    EXPECT_GE(expired, 1);  // the others waited behind 1 s runs
}

TEST(ServeFaults, StopDrainsRequestsInFlight) {
    Served s({}, std::chrono::milliseconds(200), /*max_batch=*/2, std::chrono::microseconds(0));
    const std::string image = png(bb::scene(640, 640, {{10, 10, 50, 50}}));
    std::vector<std::future<int>> results;
    for (int i = 0; i < 6; ++i)
        results.push_back(std::async(std::launch::async, [&, i] {
            auto req = image_request(image, std::to_string(i));
            auto r = s.client().Post("/v2/models/bright/infer", req.headers, req.body, "application/octet-stream");
            return r ? r->status : -1;
        }));
    // Until all six are being handled.
    for (int i = 0; i < 2000 && s.server->metrics_text().find("nv_inference_pending_request_count{model=\"bright\",version=\"1\"} 6") == std::string::npos; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    s.server->stop();
    for (auto& f : results) EXPECT_EQ(f.get(), 200);
    EXPECT_FALSE(s.server->ready());
    EXPECT_FALSE(httplib::Client("127.0.0.1", s.server->http_port()).Get("/v2/health/live"));
}

}  // namespace
}  // namespace tiledet
