// Many clients at once: every answer is right and belongs to its request, none is lost, and
// tiles of different clients ran in the same executor batches (the batch ids each response
// carries). TILEDET_SERVE_LOAD_REQUESTS sets the requests per client (ctest's serve.load_64x40
// runs 40; the serving issue's 64 x 200 is TILEDET_SERVE_LOAD_REQUESTS=200).
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "serve_fixture.hpp"

namespace tiledet {
namespace {

using namespace testing_serve;

int requests_per_client() {
    const char* v = std::getenv("TILEDET_SERVE_LOAD_REQUESTS");
    return v ? std::max(1, std::atoi(v)) : 6;
}

TEST(ServeLoad, SixtyFourClientsShareBatchesAndGetTheirOwnAnswers) {
    constexpr int kClients = 64;
    const int per_client = requests_per_client();
    serve::ServeOptions so;
    so.http_threads = kClients;
    // A backend that takes a few ms per batch, so tiles of concurrent requests meet in the queue.
    Served s(so, std::chrono::milliseconds(3), /*max_batch=*/8, std::chrono::microseconds(2000));
    std::mutex mu;
    std::map<std::string, std::set<int>> clients_per_batch;  // batch id -> clients whose tiles ran in it
    std::atomic<int> ok{0}, wrong{0}, lost{0}, garbage_refused{0};
    std::vector<std::string> failures;
    auto client = [&](int c) {
        auto http = s.client();
        for (int k = 0; k < per_client; ++k) {
            if ((c + k) % 16 == 0) {  // hostile requests mixed in; they must not disturb the others
                auto r = http.Post("/v2/models/bright/infer", "{\"inputs\": [{\"name\": 1}]}", "application/json");
                if (r && r->status == 400) ++garbage_refused;
                else ++lost;
                continue;
            }
            const int tiles = 1 + (c + 3 * k) % 8;
            const int tile_index = (c * 7 + k) % tiles;
            // A rectangle whose place and size name this client and request.
            const cv::Rect rect(tile_index * 640 + 20 + (c * 9) % 500, 20 + (k * 37) % 500, 20 + c % 40, 20 + k % 30);
            const std::string id = std::to_string(c) + "/" + std::to_string(k);
            auto req = image_request(png(bb::scene(640 * tiles, 640, {rect})), id, {{"tile", 640}, {"overlap", 0}});
            auto r = http.Post("/v2/models/bright/infer", req.headers, req.body, "application/octet-stream");
            if (!r || r->status != 200) {
                ++lost;
                std::lock_guard lock(mu);
                failures.push_back(id + ": " + (r ? std::to_string(r->status) + " " + r->body : "no response"));
                continue;
            }
            const json j = json::parse(r->body);
            const auto box = j["outputs"][0]["data"].get<std::vector<float>>();
            const bool right = j["id"] == id && j["parameters"]["tiles"] == tiles && box.size() == 4 &&
                               std::abs(box[0] - rect.x) <= 1 && std::abs(box[1] - rect.y) <= 1 &&
                               std::abs(box[2] - (rect.x + rect.width)) <= 1 &&
                               std::abs(box[3] - (rect.y + rect.height)) <= 1;
            if (!right) {
                ++wrong;
                std::lock_guard lock(mu);
                failures.push_back(id + ": " + r->body.substr(0, 400));
                continue;
            }
            ++ok;
            std::stringstream ids(j["parameters"]["batch_ids"].get<std::string>());
            std::lock_guard lock(mu);
            for (std::string b; std::getline(ids, b, ',');) clients_per_batch[b].insert(c);
        }
    };
    std::vector<std::thread> threads;
    for (int c = 0; c < kClients; ++c) threads.emplace_back(client, c);
    for (auto& t : threads) t.join();

    int garbage = 0, good = 0;
    for (int c = 0; c < kClients; ++c)
        for (int k = 0; k < per_client; ++k) ((c + k) % 16 == 0 ? garbage : good)++;
    for (std::size_t i = 0; i < std::min<std::size_t>(failures.size(), 5); ++i) ADD_FAILURE() << failures[i];
    EXPECT_EQ(ok, good);
    EXPECT_EQ(wrong, 0);
    EXPECT_EQ(lost, 0);
    EXPECT_EQ(garbage_refused, garbage);
    std::size_t shared = 0;
    for (const auto& [batch, clients] : clients_per_batch) shared += clients.size() > 1;
    EXPECT_GT(shared, 0u) << "no executor batch held tiles of two clients";
    const std::string m = s.server->metrics_text();
    EXPECT_NE(m.find("nv_inference_request_success{model=\"bright\",version=\"1\"} " + std::to_string(good) + "\n"),
              std::string::npos);
    std::cout << "[ load ] " << good << " requests, " << clients_per_batch.size() << " batches, " << shared
              << " of them shared by clients\n";
}

}  // namespace
}  // namespace tiledet
