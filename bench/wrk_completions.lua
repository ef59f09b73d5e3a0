-- A wrk script: non-streamed greedy completions against an OpenAI-compatible server (lazyllm
-- serve, llama-server). Each prompt begins with a number of its own, so that no server can reuse
-- another request's cached prefix, then PROMPT_CHARS characters of PROMPT_FILE. It counts the
-- completion tokens of every 200 response's usage and prints one JSON line at the end.
--
--   PROMPT_FILE=story.txt PROMPT_CHARS=300 MAX_TOKENS=32 LABEL=lazyllm \
--     wrk -t 2 -c 8 -d 15s --timeout 300s -s bench/wrk_completions.lua http://127.0.0.1:8080
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local function escape(s)
  return (s:gsub('[%c"\\]', function(c)
    if c == '"' or c == "\\" then return "\\" .. c end
    return string.format("\\u%04x", c:byte())
  end))
end

function init(args)
  local f = assert(io.open(os.getenv("PROMPT_FILE"), "rb"))
  text = escape(f:read("*a"):sub(1, tonumber(os.getenv("PROMPT_CHARS") or "300")))
  f:close()
  max_tokens = tonumber(os.getenv("MAX_TOKENS") or "32")
  sent, tokens, bad = 0, 0, 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  sent = sent + 1
  local body = string.format(
    '{"prompt": "[%d.%d] %s", "max_tokens": %d, "temperature": 0, "ignore_eos": true}', id, sent, text, max_tokens)
  return wrk.format(nil, "/v1/completions", nil, body)
end

function response(status, headers, body)
  local n = body:match('"completion_tokens"%s*:%s*(%d+)')
  if status == 200 and n then
    tokens = tokens + tonumber(n)
  else
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local generated, failed = 0, 0
  for _, t in ipairs(threads) do
    generated = generated + t:get("tokens")
    failed = failed + t:get("bad")
  end
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format('{"label": "%s", "requests": %d, "seconds": %.1f, "requests_per_s": %.3f, '
                           .. '"tokens_per_s": %.1f, "latency_p50_ms": %.0f, "latency_p99_ms": %.0f, "errors": %d}\n',
                         os.getenv("LABEL") or "", summary.requests, seconds, summary.requests / seconds,
                         generated / seconds, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
                         failed + e.connect + e.read + e.write + e.timeout))
end
