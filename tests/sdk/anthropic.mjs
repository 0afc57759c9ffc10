// SPDX-License-Identifier: Apache-2.0
// The official Anthropic SDK against aigw's /v1/messages: one scenario per
// run, one JSON line out (see common.mjs). Run by tests/e2e/test_sdk.py, which
// checks the result against what the mock upstream answers.
//
//   node anthropic.mjs PORT KEY SCENARIO MODEL [OPTIONS-JSON]
//
// Scenarios (OPTIONS: prompt, the user message; tools: declare get_weather;
// eager: with eager_input_streaming true (fine-grained tool streaming);
// max_tokens, 256 unless given; api_version: the anthropic-version header
// instead of the SDK's; x_api_key: the key in x-api-key instead of
// Authorization: Bearer, as SDKs before 1.0 send it):
//   create        messages.create, not streamed: {message, headers}
//   stream        messages.stream(): every event the SDK parsed and its
//                 finalMessage() {helper: {events, final, headers}}; then
//                 messages.create({stream: true}) read to its end {raw: {events, headers}}
//   count_tokens  messages.countTokens: {count, headers}
//   models        models.list(), every page: {models}
//   model         models.retrieve(MODEL): {model}
// An SDK error ends the scenario: {ok: false, error, and the events before it}.

import Anthropic from '@anthropic-ai/sdk';

import { CLIENT_LIMITS, WEATHER_SCHEMA, describeError, gatewayHeaders, gatewayOrigin, parseArgs,
         runBounded } from './common.mjs';

const args = parseArgs(['create', 'stream', 'count_tokens', 'models', 'model']);
const defaultHeaders = {};
if (args.options.api_version)
    defaultHeaders['anthropic-version'] = args.options.api_version;
if (args.options.x_api_key) // a null header is one the SDK leaves out
    Object.assign(defaultHeaders, { 'X-Api-Key': args.key, Authorization: null });
const client = new Anthropic({
    apiKey: args.key,
    authToken: null,
    baseURL: gatewayOrigin(args.port),
    defaultHeaders,
    ...CLIENT_LIMITS,
});

// The messages and tools of every request.
function conversation() {
    const o = args.options;
    const body = {
        model: args.model,
        messages: [{ role: 'user', content: o.prompt ?? 'hello from the anthropic sdk' }],
    };
    if (o.tools) {
        body.tools = [{ name: 'get_weather', description: 'The weather in a city',
                        input_schema: WEATHER_SCHEMA }];
        if (o.eager)
            body.tools[0].eager_input_streaming = true;
    }
    return body;
}

// A messages.create body.
function messageBody() {
    return { ...conversation(), max_tokens: args.options.max_tokens ?? 256 };
}

// messages.create, not streamed.
async function create() {
    const { data, response } = await client.messages.create(messageBody()).withResponse();
    return { ok: true, headers: gatewayHeaders(response), message: data };
}

// The SDK's messages.stream() helper, then a raw create({stream: true}).
async function stream() {
    const helper = { events: [], headers: null };
    try {
        const s = client.messages.stream(messageBody());
        // a copy: the helper builds its snapshot in message_start's message
        for await (const ev of s)
            helper.events.push(structuredClone(ev));
        helper.final = await s.finalMessage();
        helper.headers = s.response ? gatewayHeaders(s.response) : null;
    } catch (e) {
        return { ok: false, error: describeError(e), helper };
    }
    const raw = { events: [], headers: null };
    try {
        const { data, response } = await client.messages.create({ ...messageBody(), stream: true })
            .withResponse();
        raw.headers = gatewayHeaders(response);
        for await (const ev of data)
            raw.events.push(ev);
    } catch (e) {
        return { ok: false, error: describeError(e), helper, raw };
    }
    return { ok: true, helper, raw };
}

// messages.countTokens.
async function countTokens() {
    const { data, response } = await client.messages.countTokens(conversation()).withResponse();
    return { ok: true, headers: gatewayHeaders(response), count: data };
}

// models.list(), every page.
async function models() {
    const list = [];
    for await (const m of client.models.list())
        list.push(m);
    return { ok: true, models: list };
}

// models.retrieve(MODEL).
async function model() {
    return { ok: true, model: await client.models.retrieve(args.model) };
}

runBounded({ create, stream, count_tokens: countTokens, models, model }[args.scenario]);
