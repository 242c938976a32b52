#!/usr/bin/env python3
"""Closed-loop load on a running `tiledet serve`: N client threads, each with one keep-alive HTTP
connection, send the same image to the detection model (Triton's binary-data extension) for a
fixed time; prints throughput and p50/p99 latency per concurrency as JSON lines. The client runs
on the same machine (its CPU time counts against the server's).

  benchmarks/serve_load.py --port 8000 --model NAME --image bus.jpg --concurrency 1,8,64 --duration 10
"""
import argparse
import http.client
import json
import struct
import threading
import time


def request_body(image):
    elem = struct.pack("<I", len(image)) + image
    header = json.dumps({"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1],
                                     "parameters": {"binary_data_size": len(elem)}}]}).encode()
    return header + elem, {"Inference-Header-Content-Length": str(len(header)),
                           "Content-Type": "application/octet-stream"}


def run(port, model, body, headers, concurrency, duration, warmup):
    latencies, errors, failures = [], [0], []
    lock = threading.Lock()
    start = time.perf_counter() + warmup
    stop = start + duration

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        mine = []
        while True:
            t0 = time.perf_counter()
            if t0 >= stop:
                break
            try:
                conn.request("POST", "/v2/models/%s/infer" % model, body, headers)
                r = conn.getresponse()
                r.read()
                status = r.status
            except (OSError, http.client.HTTPException) as e:
                status = repr(e)
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            t1 = time.perf_counter()
            if status != 200:
                with lock:
                    failures.append(status)
                with lock:
                    errors[0] += 1
            elif t0 >= start and t1 <= stop:
                mine.append(t1 - t0)
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()
    pct = lambda p: 1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else 0
    return {"concurrency": concurrency, "requests": len(latencies), "errors": errors[0],
            "images_per_second": len(latencies) / duration, "p50_ms": pct(0.5), "p99_ms": pct(0.99),
            "failures": sorted(set(map(str, failures)))[:3]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--model", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--concurrency", default="1,8,64")
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=2)
    a = ap.parse_args()
    body, headers = request_body(open(a.image, "rb").read())
    for c in [int(x) for x in a.concurrency.split(",")]:
        print(json.dumps(run(a.port, a.model, body, headers, c, a.duration, a.warmup)), flush=True)


if __name__ == "__main__":
    main()
