// SPDX-License-Identifier: Apache-2.0
// The official OpenAI SDK against aigw: one scenario per run, one JSON line
// out (see common.mjs). Run by tests/e2e/test_sdk.py, which checks the result
// against what the mock upstream answers.
//
//   node openai.mjs PORT KEY SCENARIO MODEL [OPTIONS-JSON]
//
// Scenarios (OPTIONS: prompt, the user message; tools: declare get_weather;
// include_usage: stream_options.include_usage; helper: also run the SDK's
// chat.completions.stream() helper and report its finalChatCompletion()):
//   chat    chat.completions.create, not streamed: {completion, headers}
//   stream  chat.completions.create({stream: true}): every chunk as the SDK
//           parsed it {chunks, headers}, and with helper {final}
//   models  models.list(), every page: {models}
//   model   models.retrieve(MODEL): {model}
//   embeddings  embeddings.create({model, input: OPTIONS.input}) with the SDK's
//           defaults (it asks for base64 and decodes the float32s itself):
//           {embeddings: the response, headers}
//   responses  responses.create (tools: declare get_weather; previous_response_id:
//           send it): {response, headers}
//   responses_stream  responses.create({stream: true}): every event as the SDK
//           parsed it {events, headers}, and with helper the responses.stream()
//           helper's finalResponse() {final}
// An SDK error ends the scenario: {ok: false, error, chunks (those before it)}.

import OpenAI from 'openai';

import { CLIENT_LIMITS, WEATHER_SCHEMA, describeError, gatewayHeaders, gatewayOrigin, parseArgs,
         runBounded } from './common.mjs';

const args = parseArgs(['chat', 'stream', 'models', 'model', 'embeddings', 'responses',
                         'responses_stream']);
const client = new OpenAI({
    apiKey: args.key,
    baseURL: `${gatewayOrigin(args.port)}/v1`,
    organization: null,
    project: null,
    ...CLIENT_LIMITS,
});

// The request body of the chat scenarios.
function chatBody(stream) {
    const o = args.options;
    const body = {
        model: args.model,
        messages: [{ role: 'user', content: o.prompt ?? 'hello from the openai sdk' }],
    };
    if (o.tools) {
        body.tools = [{
            type: 'function',
            function: { name: 'get_weather', description: 'The weather in a city',
                        parameters: WEATHER_SCHEMA },
        }];
    }
    if (stream) {
        body.stream = true;
        if (o.include_usage)
            body.stream_options = { include_usage: true };
    }
    return body;
}

// chat.completions.create, not streamed.
async function chat() {
    const { data, response } = await client.chat.completions.create(chatBody(false))
        .withResponse();
    return { ok: true, headers: gatewayHeaders(response), completion: data };
}

// chat.completions.create({stream: true}) read to its end; then, with
// options.helper, the same request through the SDK's stream() helper.
async function stream() {
    const chunks = [];
    let headers = null;
    try {
        const { data, response } = await client.chat.completions.create(chatBody(true))
            .withResponse();
        headers = gatewayHeaders(response);
        for await (const chunk of data)
            chunks.push(chunk);
    } catch (e) {
        return { ok: false, error: describeError(e), headers, chunks };
    }
    const out = { ok: true, headers, chunks };
    if (args.options.helper) {
        try {
            const body = chatBody(true);
            delete body.stream;
            const s = client.chat.completions.stream(body);
            out.final = await s.finalChatCompletion();
        } catch (e) {
            return { ok: false, error: describeError(e), helper: true, headers, chunks };
        }
    }
    return out;
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

// embeddings.create with nothing but model and input: the SDK's defaults.
async function embeddings() {
    const { data, response } = await client.embeddings.create({
        model: args.model,
        input: args.options.input ?? 'hello from the openai sdk',
    }).withResponse();
    return { ok: true, headers: gatewayHeaders(response), embeddings: data };
}

// The request body of the responses scenarios.
function responsesBody(stream) {
    const o = args.options;
    const body = { model: args.model, input: o.prompt ?? 'hello from the openai sdk' };
    if (o.tools) {
        body.tools = [{ type: 'function', name: 'get_weather', description: 'The weather in a city',
                        parameters: WEATHER_SCHEMA, strict: false }];
    }
    if (o.previous_response_id)
        body.previous_response_id = o.previous_response_id;
    if (stream)
        body.stream = true;
    return body;
}

// responses.create, not streamed.
async function responses() {
    const { data, response } = await client.responses.create(responsesBody(false)).withResponse();
    return { ok: true, headers: gatewayHeaders(response), response: data };
}

// responses.create({stream: true}) read to its end; then, with options.helper,
// the same request through the SDK's responses.stream() helper.
async function responses_stream() {
    const events = [];
    let headers = null;
    try {
        const { data, response } = await client.responses.create(responsesBody(true))
            .withResponse();
        headers = gatewayHeaders(response);
        for await (const ev of data)
            events.push(ev);
    } catch (e) {
        return { ok: false, error: describeError(e), headers, events };
    }
    const out = { ok: true, headers, events };
    if (args.options.helper) {
        try {
            const body = responsesBody(false);
            out.final = await client.responses.stream(body).finalResponse();
        } catch (e) {
            return { ok: false, error: describeError(e), helper: true, headers, events };
        }
    }
    return out;
}

runBounded({ chat, stream, models, model, embeddings, responses, responses_stream }[args.scenario]);
