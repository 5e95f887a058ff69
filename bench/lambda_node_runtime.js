// A minimal Lambda runtime loop for a Node handler, for bench/lambda_rie.py only: what Lambda's
// Node runtime does for one execution environment (load the handler once, then GET
// .../invocation/next, call the handler with the event and a context, POST .../response or
// .../error), without its logging and X-Ray parts. The handler may finish through
// context.succeed/fail/done (the AWS LogsToElasticsearch blueprint does), the callback, or a
// returned promise.
//
// BENCH_HTTPS_TO=http://host:port sends the handler's https requests to that plain-HTTP address
// instead (the bench's fake OpenSearch), whatever host the handler names: the blueprint is run
// as it ships, its endpoint and SigV4 signing untouched.
//
//   node bench/lambda_node_runtime.js HANDLER_FILE.js [EXPORT_NAME]
'use strict';
const http = require('http');
const https = require('https');
const path = require('path');

const [file, exportName = 'handler'] = process.argv.slice(2);
const api = process.env.AWS_LAMBDA_RUNTIME_API;
const runtime = '/2018-06-01/runtime';
const agent = new http.Agent({ keepAlive: true });

if (process.env.BENCH_HTTPS_TO) {
  const { hostname: host, port } = new URL(process.env.BENCH_HTTPS_TO);
  const plain = new http.Agent({ keepAlive: true });
  https.request = (options, callback) =>
    http.request({ ...options, protocol: 'http:', hostname: host, host, port: Number(port), agent: plain }, callback);
}

function call(method, route, body) {
  const [host, port] = api.split(':');
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port: Number(port), method, path: runtime + route, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function errorBody(e) {
  return JSON.stringify({
    errorType: (e && e.name) || 'Error',
    errorMessage: e instanceof Error ? e.message : String(e),
  });
}

function invoke(handler, event, context) {
  return new Promise((resolve, reject) => {
    const done = (err, result) => (err ? reject(err) : resolve(result));
    context.done = done;
    context.succeed = (result) => resolve(result);
    context.fail = (err) => reject(err === undefined ? new Error('context.fail') : err);
    try {
      const returned = handler(event, context, done);
      if (returned && typeof returned.then === 'function') returned.then(resolve, reject);
    } catch (e) {
      reject(e);
    }
  });
}

async function main() {
  let handler;
  try {
    handler = require(path.resolve(file))[exportName];
    if (typeof handler !== 'function') throw new Error(`${file} exports no function ${exportName}`);
  } catch (e) {
    await call('POST', '/init/error', errorBody(e));
    process.exit(1);
  }
  for (;;) {
    const next = await call('GET', '/invocation/next');
    const id = next.headers['lambda-runtime-aws-request-id'];
    const deadline = Number(next.headers['lambda-runtime-deadline-ms']);
    const context = {
      awsRequestId: id,
      functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
      functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
      invokedFunctionArn: next.headers['lambda-runtime-invoked-function-arn'],
      memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
      getRemainingTimeInMillis: () => deadline - Date.now(),
      callbackWaitsForEmptyEventLoop: true,
    };
    try {
      const result = await invoke(handler, JSON.parse(next.body), context);
      await call('POST', `/invocation/${id}/response`, JSON.stringify(result === undefined ? null : result));
    } catch (e) {
      await call('POST', `/invocation/${id}/error`, errorBody(e));
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
