// SPDX-License-Identifier: Apache-2.0
// What openai.mjs and anthropic.mjs share: the command line, the one JSON
// line of output, the time limit, and how an SDK error is described.
//
// Usage: node SCRIPT.mjs PORT KEY SCENARIO MODEL [OPTIONS-JSON]
// The gateway is at http://127.0.0.1:PORT (https:// with AIGW_SDK_SCHEME=https,
// its CA in NODE_EXTRA_CA_CERTS); nothing else is ever contacted.
// The script prints exactly one JSON line on stdout:
//   {"ok": true, ...what the SDK returned...}
//   {"ok": false, "error": {...the SDK's error...}, ...what came before it...}
// and exits 0; 2 for a bad command line, 3 when the time limit passed.

// The whole run may take this long (ms); each request has its own timeout too.
const RUN_LIMIT_MS = Number(process.env.AIGW_SDK_RUN_LIMIT_MS || 20000);

// The gateway's origin for a port: http, or https when AIGW_SDK_SCHEME says so.
export function gatewayOrigin(port) {
    const scheme = process.env.AIGW_SDK_SCHEME === 'https' ? 'https' : 'http';
    return `${scheme}://127.0.0.1:${port}`;
}

// Parse the command line; exits 2 when it is not PORT KEY SCENARIO MODEL [OPTIONS].
export function parseArgs(scenarios) {
    const [port, key, scenario, model, opts] = process.argv.slice(2);
    if (!/^[0-9]+$/.test(port || '') || key === undefined || !scenarios.includes(scenario) ||
        !model) {
        process.stderr.write(`usage: node ${process.argv[1]} PORT KEY SCENARIO MODEL ` +
                             `[OPTIONS-JSON]\nscenarios: ${scenarios.join(' ')}\n`);
        process.exit(2);
    }
    let options = {};
    try {
        options = opts ? JSON.parse(opts) : {};
    } catch (e) {
        process.stderr.write(`OPTIONS-JSON is not JSON: ${e.message}\n`);
        process.exit(2);
    }
    return { port: Number(port), key, scenario, model, options };
}

// Print the result as one JSON line and exit 0 (stdout is flushed first).
export function finish(result) {
    process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(0));
}

// Run main() under the time limit: a hung SDK call ends the process with 3.
export function runBounded(main) {
    const timer = setTimeout(() => {
        process.stdout.write(JSON.stringify({ ok: false, error: { class: 'RunLimit', message:
                             `no result after ${RUN_LIMIT_MS} ms` } }) + '\n',
                             () => process.exit(3));
    }, RUN_LIMIT_MS);
    main().then((r) => { clearTimeout(timer); finish(r); }, (e) => {
        clearTimeout(timer);
        finish({ ok: false, error: describeError(e) });
    });
}

// The class names of an error from its own class up to Error: the SDK's
// hierarchy as the test sees it (e.g. OverloadedError, InternalServerError,
// APIError, AnthropicError, Error).
function classChain(e) {
    const out = [];
    let p = Object.getPrototypeOf(e);
    for (; p && p !== Object.prototype; p = Object.getPrototypeOf(p))
        out.push(p.constructor.name);
    return out;
}

// The message in an error body: OpenAI's SDK keeps the body's error member,
// Anthropic's the whole body ({"type": "error", "error": {...}}).
function apiMessage(body) {
    if (!body || typeof body !== 'object')
        return null;
    if (body.error && typeof body.error === 'object')
        return body.error.message ?? null;
    return body.message ?? null;
}

// What an SDK error says: its class, status, the error body's type, code and
// message, the request id and the gateway's target header when there was a response.
export function describeError(e) {
    if (!(e instanceof Error))
        return { class: typeof e, message: String(e) };
    const h = e.headers && typeof e.headers.get === 'function' ? e.headers : null;
    return {
        class: e.constructor.name,
        chain: classChain(e),
        status: e.status ?? null,
        type: e.type ?? null,
        code: e.code ?? null,
        message: e.message,
        api_message: apiMessage(e.error),
        target: h ? h.get('x-aigw-target') : null,
        cause: e.cause ? String(e.cause) : null,
    };
}

// The gateway's headers of a response that a test looks at.
export function gatewayHeaders(response) {
    return {
        target: response.headers.get('x-aigw-target'),
        attempts: response.headers.get('x-aigw-attempts'),
        content_type: response.headers.get('content-type'),
        request_id: response.headers.get('x-request-id'),
    };
}

// The request timeout and retries of every client: bounded, never retried.
export const CLIENT_LIMITS = { timeout: 10000, maxRetries: 0 };

// The tool both SDKs declare (the mock's tool_call decides what is called).
export const WEATHER_SCHEMA = {
    type: 'object',
    properties: {
        city: { type: 'string', description: 'The city' },
        unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
        days: { type: 'integer' },
    },
    required: ['city'],
};
