'use strict';
// error_details.js and client.js without a server: a google.rpc.Status built here, as Rollcall
// sends it, decoded from a grpc-js error's metadata.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const protobuf = require('protobufjs');
const protoFiles = require('google-proto-files');
const { grpc, timestampToString, SERVICE_CONFIG } = require('../client');
const { decodeStatus, errorInfo, retryInfo, badRequest, retryDelayMs } = require('../error_details');

const root = protobuf.loadSync([protoFiles.getProtoPath('rpc', 'status.proto'), protoFiles.getProtoPath('rpc', 'error_details.proto')]);

function any(typeName, fields) {
  const type = root.lookupType(typeName);
  return { type_url: `type.googleapis.com/${typeName}`, value: type.encode(type.fromObject(fields)).finish() };
}

function errorWithDetails(details) {
  const Status = root.lookupType('google.rpc.Status');
  const metadata = new grpc.Metadata();
  metadata.set('grpc-status-details-bin', Buffer.from(Status.encode(Status.fromObject({ code: 8, message: 'slow down', details })).finish()));
  return Object.assign(new Error('8 RESOURCE_EXHAUSTED: slow down'), { code: 8, details: 'slow down', metadata });
}

test('decodes ErrorInfo, RetryInfo and BadRequest from grpc-status-details-bin', () => {
  const error = errorWithDetails([
    any('google.rpc.ErrorInfo', { reason: 'GRAPH_THROTTLED', domain: 'rollcall.v1', metadata: { graph_code: 'TooManyRequests' } }),
    any('google.rpc.RetryInfo', { retryDelay: { seconds: 2, nanos: 128000000 } }),
    any('google.rpc.BadRequest', { fieldViolations: [{ field: 'user_id', description: 'required' }] }),
    { type_url: 'type.googleapis.com/example.Unknown', value: Buffer.from([1, 2]) },
  ]);
  const status = decodeStatus(error);
  assert.equal(status.code, 8);
  assert.equal(status.message, 'slow down');
  assert.equal(status.details.length, 4);
  assert.deepEqual(errorInfo(error), {
    '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
    reason: 'GRAPH_THROTTLED',
    domain: 'rollcall.v1',
    metadata: { graph_code: 'TooManyRequests' },
  });
  assert.deepEqual(retryInfo(error).retryDelay, { seconds: 2, nanos: 128000000 });
  assert.equal(retryDelayMs(error), 2128);
  assert.equal(badRequest(error).fieldViolations[0].field, 'user_id');
  assert.deepEqual(status.details[3], { '@type': 'type.googleapis.com/example.Unknown', value: Buffer.from([1, 2]) });
});

test('an error without the trailer has no details', () => {
  const error = Object.assign(new Error('14 UNAVAILABLE'), { code: 14, metadata: new grpc.Metadata() });
  assert.equal(decodeStatus(error), null);
  assert.equal(errorInfo(error), null);
  assert.equal(retryDelayMs(error), null);
});

test('timestamps print at full precision', () => {
  assert.equal(timestampToString({ seconds: '1615921192', nanos: 278218200 }), '2021-03-16T18:59:52.2782182Z');
  assert.equal(timestampToString({ seconds: '1633409029', nanos: 770000000 }), '2021-10-05T04:43:49.77Z');
  assert.equal(timestampToString({ seconds: '1633409029' }), '2021-10-05T04:43:49Z');
  assert.equal(timestampToString(null), null);
});

test('the channel gets clients/service_config.json', () => {
  const config = JSON.parse(SERVICE_CONFIG);
  assert.equal(config.methodConfig[0].name[0].service, 'rollcall.v1.AttendanceReportService');
});
