'use strict';
// End-to-end conformance of a running gateway, from Node.js:
//   node conformance.js --gateway 127.0.0.1:50051 [--image ../../samples/astronaut.jpg]
// Health, reflection v1, Describe, an image, a clip (frames + timestamps), CreateSession -> Evaluate ->
// replay refused, and the status code of each kind of bad input. One JSON line per check on stdout
// ({"check", "ok", "detail"}); exit code 1 when any check failed, 2 on bad usage.

const fs = require('fs');
const path = require('path');
const protoLoader = require('@grpc/proto-loader');
const descriptor = require('protobufjs/ext/descriptor');
const { grpc, gatewayClient, call, imageMedia, clipMedia, LOADER_OPTIONS } = require('./client');

const MODULES = path.join(__dirname, 'node_modules');
const DECISIONS = ['DECISION_LIVE', 'DECISION_SPOOF', 'DECISION_UNCERTAIN'];
const OUTCOMES = ['CHECK_OUTCOME_NOT_REQUESTED', 'CHECK_OUTCOME_PASSED', 'CHECK_OUTCOME_FAILED', 'CHECK_OUTCOME_UNVERIFIED'];

function args(argv) {
  const out = { image: path.resolve(__dirname, '..', '..', 'samples', 'astronaut.jpg') };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    if (!['gateway', 'image'].includes(key) || argv[i + 1] === undefined) {
      throw new Error(`unknown or incomplete argument ${argv[i]}`);
    }
    out[key] = argv[i + 1];
  }
  if (!out.gateway) throw new Error('--gateway HOST:PORT is required');
  return out;
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

const results = [];
async function check(name, fn) {
  try {
    const detail = await fn();
    results.push({ check: name, ok: true, detail: detail || '' });
  } catch (err) {
    results.push({ check: name, ok: false, detail: String(err && err.stack ? err.message : err) });
  }
  console.log(JSON.stringify(results[results.length - 1]));
}

// Expect the call to fail with `code` (a grpc.status name) and details matching `pattern`.
async function refused(promise, code, pattern) {
  try {
    const reply = await promise;
    throw new Error(`expected ${code}, got an answer: ${JSON.stringify(reply).slice(0, 200)}`);
  } catch (err) {
    if (err.code === undefined) throw err;
    const got = Object.keys(grpc.status).find((k) => grpc.status[k] === err.code);
    assert(got === code, `expected ${code}, got ${got}: ${err.details}`);
    assert(!pattern || pattern.test(err.details), `${code} details ${JSON.stringify(err.details)} do not match ${pattern}`);
    return `${code}: ${err.details}`;
  }
}

function healthClient(address) {
  const definition = protoLoader.loadSync(path.join(MODULES, 'grpc-health-check', 'proto', 'health', 'v1', 'health.proto'), LOADER_OPTIONS);
  const { Health } = grpc.loadPackageDefinition(definition).grpc.health.v1;
  return new Health(address, grpc.credentials.createInsecure());
}

// grpc.reflection.v1 (not v1alpha): list the services, then fetch the file that defines `symbol`.
function reflectV1(address, symbol) {
  const root = path.join(MODULES, '@grpc', 'reflection', 'build', 'proto');
  const definition = protoLoader.loadSync('grpc/reflection/v1/reflection.proto', { ...LOADER_OPTIONS, includeDirs: [root] });
  const { ServerReflection } = grpc.loadPackageDefinition(definition).grpc.reflection.v1;
  const client = new ServerReflection(address, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    const stream = client.ServerReflectionInfo({ deadline: Date.now() + 5000 });
    const answers = [];
    stream.on('data', (answer) => {
      answers.push(answer);
      if (answers.length === 2) stream.end();
    });
    stream.on('error', reject);
    stream.on('end', () => {
      client.close();
      resolve(answers);
    });
    stream.write({ listServices: '' });
    stream.write({ fileContainingSymbol: symbol });
  });
}

async function main() {
  let opts;
  try {
    opts = args(process.argv.slice(2));
  } catch (err) {
    console.error(`usage: node conformance.js --gateway HOST:PORT [--image FILE]: ${err.message}`);
    return 2;
  }
  const image = fs.readFileSync(opts.image);
  const client = gatewayClient(opts.gateway);
  const frames = Array.from({ length: 8 }, (_, i) => [image, 125 * i]);
  let info;

  await check('health', async () => {
    const health = healthClient(opts.gateway);
    for (const service of ['', 'liveness.v1.Liveness']) {
      const reply = await call(health, 'Check', { service });
      assert(reply.status === 'SERVING', `health of "${service}" is ${reply.status}`);
    }
    health.close();
  });

  await check('reflection v1', async () => {
    const [list, file] = await reflectV1(opts.gateway, 'liveness.v1.Liveness');
    const names = list.listServicesResponse.service.map((s) => s.name);
    for (const name of ['liveness.v1.Liveness', 'grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection']) {
      assert(names.includes(name), `${name} not listed: ${names}`);
    }
    const proto = descriptor.FileDescriptorProto.decode(file.fileDescriptorResponse.fileDescriptorProto[0]);
    assert(proto.name === 'liveness/v1/liveness.proto', `file_containing_symbol answered ${proto.name}`);
    const service = proto.service.find((s) => s.name === 'Liveness');
    const methods = service.method.map((m) => m.name);
    assert(['Evaluate', 'CreateSession', 'Describe'].every((m) => methods.includes(m)), `methods ${methods}`);
    return names.join(',');
  });

  await check('describe', async () => {
    info = await call(client, 'Describe', {});
    const limits = info.limits;
    assert(Number(limits.maxImageBytes) > 0 && Number(limits.maxPixels) > 0, 'limits unset');
    assert(limits.minSide > 0 && limits.maxFrames > 0 && Number(limits.maxMessageBytes) > 0, 'limits unset');
    assert(info.budgetMs > info.marginMs && info.tests.length > 0, 'no budget or no tests');
    assert(info.tests.every((t) => t.available && t.info && t.info.name === t.name), 'a test is unavailable');
    return `${info.tests.length} tests, budget ${info.budgetMs} ms, ${limits.maxFrames} frames max`;
  });

  await check('image', async () => {
    const reply = await call(client, 'Evaluate', { requestId: 'node-image', media: imageMedia(image) });
    assert(reply.requestId === 'node-image', `request id ${reply.requestId}`);
    assert(DECISIONS.includes(reply.decision), `decision ${reply.decision}`);
    assert(reply.score >= 0 && reply.score <= 1, `score ${reply.score}`);
    assert(reply.faceStatus !== 'STATUS_UNSPECIFIED', 'face_status unspecified');
    assert(reply.tests.length === info.tests.length, `${reply.tests.length} test results`);
    assert(reply.checks.challenge === 'CHECK_OUTCOME_NOT_REQUESTED', `challenge ${reply.checks.challenge}`);
    return `${reply.decision} ${reply.score.toFixed(3)} face ${reply.faceStatus}`;
  });

  await check('clip', async () => {
    const reply = await call(client, 'Evaluate', { media: clipMedia(frames) });
    assert(DECISIONS.includes(reply.decision), `decision ${reply.decision}`);
    const statuses = reply.tests.map((t) => `${t.result.test}=${t.result.status}`);
    assert(reply.tests.every((t) => t.result.status !== 'STATUS_UNSPECIFIED'), `statuses ${statuses}`);
    return `${reply.decision} ${statuses.join(',')}`;
  });

  await check('session, then replay refused', async () => {
    const session = await call(client, 'CreateSession', {});
    assert(session.sessionId && session.nonce && Number(session.expiresAtMs) > Date.now(), 'no session');
    assert(session.challenge.actions.length > 0, 'no challenge');
    const request = { media: clipMedia(frames), sessionId: session.sessionId, nonce: session.nonce };
    const reply = await call(client, 'Evaluate', request);
    assert(DECISIONS.includes(reply.decision) && reply.session, 'no session result');
    assert(OUTCOMES.includes(reply.checks.challenge) && OUTCOMES.includes(reply.checks.flash), 'checks unset');
    const again = await refused(call(client, 'Evaluate', request), 'FAILED_PRECONDITION', /already used/);
    return `${reply.decision} (challenge ${reply.checks.challenge}, flash ${reply.checks.flash}); ${again}`;
  });

  const bad = [
    ['unset media', { media: {} }, 'INVALID_ARGUMENT', /media: set either image or clip/],
    ['garbage image', { media: imageMedia(Buffer.from('not an image')) }, 'INVALID_ARGUMENT', /media\.image\.data: not a JPEG/],
    [
      'timestamps not increasing',
      { media: clipMedia([[image, 0], [image, 80], [image, 40]]) },
      'INVALID_ARGUMENT',
      /media\.clip\.frames\[2\]\.timestamp_ms/,
    ],
    ['unknown action', { media: imageMedia(image), challenge: { actions: [99] } }, 'INVALID_ARGUMENT', /challenge\.actions\[0\]/],
    ['forged session', { media: clipMedia(frames), sessionId: 'made-up', nonce: 'x' }, 'PERMISSION_DENIED', /session/],
  ];
  for (const [name, request, code, pattern] of bad) {
    await check(`bad input: ${name}`, () => refused(call(client, 'Evaluate', request), code, pattern));
  }
  await check('bad input: image over the byte limit', () => {
    const big = Buffer.alloc(Number(info.limits.maxImageBytes) + 1, 0xff);
    return refused(call(client, 'Evaluate', { media: imageMedia(big) }), 'INVALID_ARGUMENT', /exceeds the limit/);
  });
  await check('deadline shorter than the margin', () => {
    const deadlineMs = Math.max(1, Math.floor(info.marginMs / 2));
    return refused(call(client, 'Evaluate', { media: imageMedia(image) }, { deadlineMs }), 'DEADLINE_EXCEEDED');
  });

  client.close();
  const failed = results.filter((r) => !r.ok);
  console.log(JSON.stringify({ summary: true, checks: results.length, failed: failed.map((r) => r.check) }));
  return failed.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
