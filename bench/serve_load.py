#!/usr/bin/env python3
"""Closed-loop load on an OpenAI-compatible /v1/completions endpoint (lazyllm serve, llama-server).

Each of N clients sends streamed completion requests back to back for a fixed time and records,
per request, the time to the first chunk (TTFT), the time per output token after the first (TPOT:
the rest of the stream over the tokens after the first, counted by the usage chunk when the server
sends one), and every gap between two chunks. lazyllm sends a chunk per token (its text "" while a
character is incomplete); llama-server sends none for such a token, so its gaps then span two.
Prints one JSON object: requests/s, p50/p99 TTFT, time per output token and gap, aggregate
generated tokens/s, errors. Loopback only; bounded in time.

  bench/serve_load.py --port 8080 --clients 8 --seconds 30 --prompt-file P.txt --max-tokens 64
"""
import argparse
import http.client
import json
import statistics
import threading
import time


def percentile(values, p):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def one_request(port, body, timeout):
    """Sends one streamed request; returns (ttft_s, chunk_times, tokens) or raises."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    t0 = time.monotonic()
    conn.request("POST", "/v1/completions", body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"HTTP {resp.status}: {resp.read()[:200]!r}")
    times = []
    usage_tokens = None
    buf = b""
    done = False
    while not done:
        line = resp.readline()
        if not line:
            break
        line = line.strip()
        if not line.startswith(b"data: "):
            continue
        data = line[6:]
        if data == b"[DONE]":
            done = True
            break
        chunk = json.loads(data)
        if chunk.get("usage"):
            usage_tokens = chunk["usage"].get("completion_tokens")
        choices = chunk.get("choices") or []
        # a token's chunk: text (possibly "") and no finish reason, or the last text with one
        if choices and (choices[0].get("text") or not choices[0].get("finish_reason")):
            times.append(time.monotonic())
    conn.close()
    if not times:
        raise RuntimeError("no text in the stream")
    return times[0] - t0, times, usage_tokens or len(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--prompt-file", required=True)
    ap.add_argument("--prompt-chars", type=int, default=0, help="use the file's first N characters (0: all)")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--pause", type=float, default=0, help="seconds each client waits between its requests")
    ap.add_argument("--label", default="")
    args = ap.parse_args()
    prompt = open(args.prompt_file, encoding="utf-8").read()
    if args.prompt_chars:
        prompt = prompt[: args.prompt_chars]
    # Each request's prompt starts with its own number, so that no server can answer it from a
    # cached prefix of an earlier one (llama-server caches prompts by default).
    counter = [0]

    def body():
        with lock:
            counter[0] += 1
            n = counter[0]
        return json.dumps({"prompt": f"{n}. {prompt}", "max_tokens": args.max_tokens, "temperature": 0,
                           "stream": True, "stream_options": {"include_usage": True}, "ignore_eos": True})

    lock = threading.Lock()
    ttft, tpot, gaps, tokens, errors = [], [], [], [0], []
    stop_at = time.monotonic() + args.seconds
    completed = [0]

    def client():
        while time.monotonic() < stop_at:
            try:
                first, times, n = one_request(args.port, body(), timeout=args.seconds + 600)
            except Exception as e:  # noqa: BLE001 - every failure counts as an error
                with lock:
                    errors.append(str(e)[:200])
                time.sleep(0.1)
                continue
            with lock:
                ttft.append(first)
                if len(times) > 1 and n > 1:
                    tpot.append((times[-1] - times[0]) / (n - 1))
                    gaps.extend(b - a for a, b in zip(times, times[1:]))
                tokens[0] += n
                completed[0] += 1
            if args.pause > 0:
                time.sleep(args.pause)

    t0 = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    ms = lambda v: None if v is None else round(v * 1000, 1)  # noqa: E731
    print(json.dumps({
        "label": args.label, "clients": args.clients, "requests": completed[0], "wall_s": round(wall, 1),
        "requests_per_s": round(completed[0] / wall, 3), "tokens_per_s": round(tokens[0] / wall, 1),
        "ttft_p50_ms": ms(percentile(ttft, 50)), "ttft_p99_ms": ms(percentile(ttft, 99)),
        "tpot_p50_ms": ms(percentile(tpot, 50)), "tpot_p99_ms": ms(percentile(tpot, 99)),
        "tpot_mean_ms": ms(statistics.mean(tpot)) if tpot else None,
        # every gap between two text chunks of a stream, pooled over requests
        "gap_p50_ms": ms(percentile(gaps, 50)), "gap_p99_ms": ms(percentile(gaps, 99)),
        "errors": len(errors), "first_error": errors[0] if errors else None}))


if __name__ == "__main__":
    main()
