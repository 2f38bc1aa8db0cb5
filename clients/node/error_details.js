'use strict';
// Decodes the rich error details of a gRPC error: the google.rpc.Status that Rollcall sends in
// the grpc-status-details-bin trailer, with its ErrorInfo (every error: reason, domain
// "rollcall.v1", metadata), RetryInfo (RESOURCE_EXHAUSTED: when to retry) and BadRequest (an
// invalid ID: which field). @grpc/grpc-js hands the trailer over undecoded (error.metadata); this
// decodes it with protobufjs and the google/rpc protos that google-proto-files ships.

const protobuf = require('protobufjs');
const protoFiles = require('google-proto-files');

const STATUS_DETAILS_KEY = 'grpc-status-details-bin';

// google/rpc/status.proto and error_details.proto; their google/protobuf imports (any, duration)
// are protobufjs's bundled copies.
const root = new protobuf.Root();
root.loadSync([protoFiles.getProtoPath('rpc', 'status.proto'), protoFiles.getProtoPath('rpc', 'error_details.proto')]);
const StatusType = root.lookupType('google.rpc.Status');

// Plain objects: camelCase names, enums as names, int64 as numbers, maps and lists always there.
const TO_OBJECT = { longs: Number, enums: String, defaults: true, arrays: true, objects: true };

/**
 * The google.rpc.Status of a gRPC error (grpc-js's ServiceError), or null when the error has no
 * grpc-status-details-bin trailer. Returns {code, message, details}, each detail a plain object
 * with its type's fields and '@type', its type URL
 * ('type.googleapis.com/google.rpc.ErrorInfo'). A detail of a type not in google/rpc's
 * error_details.proto is left encoded: {'@type', value: Buffer}.
 */
function decodeStatus(error) {
  const values = error && error.metadata ? error.metadata.get(STATUS_DETAILS_KEY) : [];
  if (!values || values.length === 0) return null;
  const status = StatusType.decode(values[0]);
  return {
    code: status.code,
    message: status.message,
    details: status.details.map(decodeAny),
  };
}

function decodeAny(any) {
  // protobufjs's bundled google.protobuf.Any keeps the proto's field name, type_url.
  const typeUrl = any.type_url ?? any.typeUrl;
  const type = root.lookup(typeUrl.slice(typeUrl.lastIndexOf('/') + 1));
  if (!(type instanceof protobuf.Type)) return { '@type': typeUrl, value: Buffer.from(any.value) };
  return { '@type': typeUrl, ...type.toObject(type.decode(any.value), TO_OBJECT) };
}

function detailOf(error, typeName) {
  const status = decodeStatus(error);
  if (!status) return null;
  return status.details.find((d) => d['@type'].endsWith(`/${typeName}`)) || null;
}

/** The error's google.rpc.ErrorInfo ({reason, domain, metadata}), or null. */
const errorInfo = (error) => detailOf(error, 'google.rpc.ErrorInfo');
/** The error's google.rpc.RetryInfo ({retryDelay: {seconds, nanos}}), or null. */
const retryInfo = (error) => detailOf(error, 'google.rpc.RetryInfo');
/** The error's google.rpc.BadRequest ({fieldViolations: [{field, description}]}), or null. */
const badRequest = (error) => detailOf(error, 'google.rpc.BadRequest');

/** RetryInfo's delay in milliseconds, or null when the error carries no RetryInfo. */
function retryDelayMs(error) {
  const retry = retryInfo(error);
  if (!retry || !retry.retryDelay) return null;
  return retry.retryDelay.seconds * 1000 + retry.retryDelay.nanos / 1e6;
}

module.exports = { decodeStatus, errorInfo, retryInfo, badRequest, retryDelayMs, STATUS_DETAILS_KEY };
