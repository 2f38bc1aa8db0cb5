'use strict';
// Rollcall's gRPC contract for Node.js: proto/rollcall/v1/attendance.proto loaded at runtime with
// @grpc/proto-loader, and a client of rollcall.v1.AttendanceReportService dialing with the
// service config of clients/service_config.json (round_robin, a 30s default deadline, retries of
// UNAVAILABLE).

const fs = require('node:fs');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO_DIR = path.resolve(__dirname, '..', '..', 'proto');
const SERVICE_CONFIG = fs.readFileSync(path.resolve(__dirname, '..', 'service_config.json'), 'utf8');

// camelCase field names (Graph's own: emailAddress, totalAttendanceInSeconds, ...), enums as
// their names, int64 (Timestamp.seconds) as strings, repeated fields always present; an unset
// `optional` field or message is absent or null, never a zero: unset means Graph sent null.
const LOADER_OPTIONS = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: false,
  arrays: true,
  oneofs: false,
  includeDirs: [PROTO_DIR],
};

let rollcallPackage;

/** The rollcall.v1 package: its service and message definitions (loaded once). */
function loadRollcall() {
  if (!rollcallPackage) {
    const definition = protoLoader.loadSync('rollcall/v1/attendance.proto', LOADER_OPTIONS);
    rollcallPackage = grpc.loadPackageDefinition(definition).rollcall.v1;
  }
  return rollcallPackage;
}

/**
 * A client of rollcall.v1.AttendanceReportService at target ("host:port"). Plaintext unless
 * credentials are given (grpc.credentials.createSsl(ca, key, cert) for mutual TLS).
 */
function createClient(target, { credentials = grpc.credentials.createInsecure(), options = {} } = {}) {
  const { AttendanceReportService } = loadRollcall();
  return new AttendanceReportService(target, credentials, {
    'grpc.service_config': SERVICE_CONFIG,
    ...options,
  });
}

/** A deadline `seconds` from now, for a call's options ({deadline}). */
function deadlineIn(seconds) {
  return new Date(Date.now() + seconds * 1000);
}

/**
 * A google.protobuf.Timestamp ({seconds, nanos}) as RFC 3339 text at full precision
 * ("2021-03-16T18:59:52.2782182Z"), or null when unset.
 */
function timestampToString(ts) {
  if (!ts) return null;
  const base = new Date(Number(ts.seconds) * 1000).toISOString().replace(/\.000Z$/, '');
  const nanos = ts.nanos || 0;
  return nanos ? `${base}.${String(nanos).padStart(9, '0').replace(/0+$/, '')}Z` : `${base}Z`;
}

module.exports = { grpc, loadRollcall, createClient, deadlineIn, timestampToString, SERVICE_CONFIG, PROTO_DIR };
