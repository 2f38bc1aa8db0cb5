#!/usr/bin/env node
'use strict';
// rollcall-get: asks a Rollcall server for one attendance report and prints it, a short table of
// attendees, then the report as JSON (Graph's property names; date-times as RFC 3339 text). On an
// error it prints the gRPC code and message and the decoded google.rpc details (ErrorInfo,
// RetryInfo, BadRequest) and exits 1.
//
//   node rollcall-get.js --target 127.0.0.1:50051 --user U --meeting M --report R
//                        [--view full|basic] [--deadline 30] [--json-only]

const { parseArgs } = require('node:util');
const { grpc, createClient, deadlineIn, timestampToString } = require('./client');
const { decodeStatus } = require('./error_details');

const USAGE =
  'usage: rollcall-get.js --target HOST:PORT --user USER_ID --meeting MEETING_ID --report REPORT_ID ' +
  '[--view full|basic] [--deadline SECONDS] [--json-only]\n';

// JSON.stringify replacer: google.protobuf.Timestamp objects as RFC 3339 text.
function timestampsAsText(key, value) {
  if (value && typeof value === 'object' && 'seconds' in value && 'nanos' in value && Object.keys(value).length === 2) {
    return timestampToString(value);
  }
  return value;
}

function printTable(response) {
  const report = response.report;
  const time = (ts) => timestampToString(ts) ?? '-';
  console.log(
    `report ${report.id}: ${report.totalParticipantCount ?? '?'} participants, ` +
      `meeting ${time(report.meetingStartDateTime)} .. ${time(report.meetingEndDateTime)}`,
  );
  console.log(`fetched from Graph at ${time(response.graphFetchTime)}; served from cache: ${Boolean(response.fromCache)}`);
  for (const record of report.attendanceRecords) {
    const name = (record.identity && record.identity.displayName) ?? '';
    console.log(
      `  ${name.padEnd(24)} ${(record.emailAddress ?? '').padEnd(32)} ${(record.role ?? '').padEnd(10)} ` +
        `${String(record.totalAttendanceInSeconds ?? '?').padStart(6)}s in ${record.attendanceIntervals.length} interval(s)`,
    );
    for (const interval of record.attendanceIntervals) {
      console.log(`      ${time(interval.joinDateTime)} .. ${time(interval.leaveDateTime)} (${interval.durationInSeconds ?? 0}s)`);
    }
  }
}

function printError(error) {
  console.error(`error: ${grpc.status[error.code] ?? error.code}: ${error.details}`);
  const status = decodeStatus(error);
  for (const detail of status ? status.details : []) {
    const type = detail['@type'].slice(detail['@type'].lastIndexOf('/') + 1);
    if (type === 'google.rpc.ErrorInfo') {
      console.error(`  reason: ${detail.reason} (${detail.domain})`);
      for (const key of Object.keys(detail.metadata).sort()) console.error(`  ${key}: ${detail.metadata[key]}`);
    } else if (type === 'google.rpc.RetryInfo') {
      const delay = detail.retryDelay || { seconds: 0, nanos: 0 };
      console.error(`  retry after: ${delay.seconds + delay.nanos / 1e9}s`);
    } else if (type === 'google.rpc.BadRequest') {
      for (const v of detail.fieldViolations) console.error(`  field ${v.field}: ${v.description}`);
    } else {
      console.error(`  detail: ${type}`);
    }
  }
}

function main(argv) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        target: { type: 'string' },
        user: { type: 'string' },
        meeting: { type: 'string' },
        report: { type: 'string' },
        view: { type: 'string', default: 'full' },
        deadline: { type: 'string', default: '30' },
        'json-only': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    process.stderr.write(`${error.message}\n${USAGE}`);
    return Promise.resolve(2);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return Promise.resolve(0);
  }
  for (const required of ['target', 'user', 'meeting', 'report']) {
    if (values[required] === undefined) {
      process.stderr.write(`missing --${required}\n${USAGE}`);
      return Promise.resolve(2);
    }
  }
  const deadline = Number(values.deadline);
  if (!(deadline > 0) || !['full', 'basic'].includes(values.view)) {
    process.stderr.write(`bad --deadline or --view\n${USAGE}`);
    return Promise.resolve(2);
  }

  const client = createClient(values.target);
  const request = {
    userId: values.user,
    meetingId: values.meeting,
    reportId: values.report,
    view: values.view === 'basic' ? 'REPORT_VIEW_BASIC' : 'REPORT_VIEW_FULL',
  };
  return new Promise((resolve) => {
    client.GetAttendanceReport(request, { deadline: deadlineIn(deadline) }, (error, response) => {
      client.close();
      if (error) {
        printError(error);
        resolve(1);
        return;
      }
      if (!values['json-only']) printTable(response);
      console.log(JSON.stringify(response, timestampsAsText, 2));
      resolve(0);
    });
  });
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
