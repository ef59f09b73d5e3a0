#!/usr/bin/env bash
# A real OpenAI client against `lazyllm serve`: the `openai` npm package (installed here into a
# temporary folder) calls completions.create and chat.completions.create, with and without
# stream, and models.list; the texts must equal `lazyllm run --temp 0` (and `run --chat`), and a
# wrong API key must get 401. Skips (exit 77) only when the npm registry cannot be reached.
#   tests/tools/openai_client_test.sh LAZYLLM MODEL
set -euo pipefail
LAZYLLM=$1
MODEL=$2
tmp=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

command -v node >/dev/null && command -v npm >/dev/null || { echo "node and npm are needed (tools/setup.sh installs them)" >&2; exit 1; }
if ! timeout 300 npm install --prefix "$tmp" openai@6 --no-audit --no-fund --loglevel=error >"$tmp/npm.log" 2>&1; then
  if grep -qiE 'ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|network|getaddrinfo|proxy' "$tmp/npm.log" ||
    [ "$(wc -c <"$tmp/npm.log")" -eq 0 ]; then
    echo "SKIP: the npm registry cannot be reached to install the openai package:" >&2
    tail -3 "$tmp/npm.log" >&2
    exit 77
  fi
  cat "$tmp/npm.log" >&2
  exit 1
fi

"$LAZYLLM" serve -m "$MODEL" --port 0 -t 1 --alias stories --chat-template chatml --api-key test-key \
  >/dev/null 2>"$tmp/serve.err" &
pid=$!
for _ in $(seq 600); do
  grep -q "ready:" "$tmp/serve.err" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/serve.err" >&2; exit 1; }
  sleep 0.1
done
port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$tmp/serve.err")
[ -n "$port" ] || { echo "serve did not start:" >&2; cat "$tmp/serve.err" >&2; exit 1; }

export PORT=$port
EXPECTED=$("$LAZYLLM" run -m "$MODEL" -p "Once upon a time" -n 24 --temp 0 --prune off 2>/dev/null)
EXPECTED_CHAT=$("$LAZYLLM" run -m "$MODEL" --chat --chat-template chatml -p "Tell me a story." -n 24 --temp 0 --prune off 2>/dev/null)
export EXPECTED EXPECTED_CHAT

cat >"$tmp/client.mjs" <<'JS'
import OpenAI from 'openai';

const baseURL = `http://127.0.0.1:${process.env.PORT}/v1`;
const client = new OpenAI({ baseURL, apiKey: 'test-key', maxRetries: 0 });
const trim = (s) => (s ?? '').replace(/\s+$/, '');
function check(name, got, want) {
  if (trim(got) !== trim(want)) {
    console.error(`${name}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    process.exitCode = 1;
  } else {
    console.log(`${name}: ok`);
  }
}

const completion = { model: 'stories', prompt: 'Once upon a time', max_tokens: 24, temperature: 0 };
const c = await client.completions.create(completion);
check('completions.create', c.choices[0].text, process.env.EXPECTED);
let text = '';
for await (const chunk of await client.completions.create({ ...completion, stream: true })) text += chunk.choices[0]?.text ?? '';
check('completions.create stream', text, process.env.EXPECTED);

const chat = { model: 'stories', messages: [{ role: 'user', content: 'Tell me a story.' }], max_tokens: 24, temperature: 0 };
const r = await client.chat.completions.create(chat);
check('chat.completions.create', r.choices[0].message.content, process.env.EXPECTED_CHAT);
text = '';
for await (const chunk of await client.chat.completions.create({ ...chat, stream: true })) text += chunk.choices[0]?.delta?.content ?? '';
check('chat.completions.create stream', text, process.env.EXPECTED_CHAT);

const models = await client.models.list();
check('models.list', models.data[0].id, 'stories');
try {
  await new OpenAI({ baseURL, apiKey: 'wrong', maxRetries: 0 }).models.list();
  console.error('a wrong key was accepted');
  process.exitCode = 1;
} catch (e) {
  check('wrong key status', String(e.status), '401');
}
JS
node "$tmp/client.mjs"
kill -TERM "$pid"
wait "$pid"
pid=
