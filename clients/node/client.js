'use strict';
// A Node.js client of the liveness gateway: loads the contract from protos/ with @grpc/proto-loader, as any
// Node developer would, and wraps each RPC in a promise. Field names are lowerCamelCase (proto-loader's
// default; the proto and the gateway's error messages write them snake_case: timestamp_ms -> timestampMs),
// int64 values are strings, enums their names, bytes Buffers.

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTOS = path.resolve(__dirname, '..', '..', 'protos');
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
const LOADER_OPTIONS = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTOS],
};

function loadContract() {
  const definition = protoLoader.loadSync('liveness/v1/liveness.proto', LOADER_OPTIONS);
  return grpc.loadPackageDefinition(definition).liveness.v1;
}

// A client of service Liveness at `address` (host:port); plaintext unless credentials are given.
function gatewayClient(address, credentials = grpc.credentials.createInsecure()) {
  const { Liveness } = loadContract();
  return new Liveness(address, credentials, {
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  });
}

// Call `method` with `request`; resolves with the reply, rejects with the gRPC error (err.code, err.details).
// `requestId` goes out as x-request-id, `traceparent` (W3C trace context) as traceparent, `apiKey` as x-api-key.
function call(client, method, request, { deadlineMs = 5000, requestId, traceparent, apiKey } = {}) {
  const metadata = new grpc.Metadata();
  if (requestId) metadata.set('x-request-id', requestId);
  if (traceparent) metadata.set('traceparent', traceparent);
  if (apiKey) metadata.set('x-api-key', apiKey);
  return new Promise((resolve, reject) => {
    client[method](request, metadata, { deadline: Date.now() + deadlineMs }, (err, reply) =>
      err ? reject(err) : resolve(reply),
    );
  });
}

// Media of one encoded image (a Buffer of JPEG, PNG or WebP bytes).
function imageMedia(data) {
  return { image: { data } };
}

// Media of a clip: [[Buffer, timestampMs], ...], timestamps strictly increasing.
function clipMedia(frames) {
  return {
    clip: { frames: frames.map(([data, timestampMs]) => ({ image: { data }, timestampMs: String(timestampMs) })) },
  };
}

module.exports = { PROTOS, LOADER_OPTIONS, loadContract, gatewayClient, call, imageMedia, clipMedia, grpc };
