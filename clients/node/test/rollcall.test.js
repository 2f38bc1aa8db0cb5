'use strict';
// Tests of the Node client against a live Rollcall server and its Graph emulator, as
// scripts/with_server starts them (clients/node/test.sh): ROLLCALL_TARGET, ROLLCALL_GRAPH_URL
// and ROLLCALL_GRAPH_CA. Skipped when ROLLCALL_TARGET is unset.

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const https = require('node:https');
const path = require('node:path');
const { grpc, createClient, deadlineIn, timestampToString } = require('../client');
const { decodeStatus, errorInfo, retryInfo, badRequest, retryDelayMs } = require('../error_details');

// The Graph docs' example report, in the emulator's default dataset.
const DOCS = {
  userId: '16664f75-11dc-4870-bec6-38c1aaa81431',
  meetingId: 'MSpkYzE3Njc0Yy04MWQ5LTRhZGItYmZ',
  reportId: 'c9b6db1c-d5eb-427d-a5c0-20088d9b22d7',
};
// The same meeting's other report, with two records.
const SECOND_REPORT = '2c2c2454-7613-4d6e-9c7c-4cf7a6cdce89';
const DOMAIN = 'rollcall.v1';

const target = process.env.ROLLCALL_TARGET;
const skip = target ? false : 'ROLLCALL_TARGET is not set (run clients/node/test.sh under scripts/with_server)';
const client = target ? createClient(target) : null;
after(() => client && client.close());

function call(method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, { deadline: deadlineIn(20) }, (error, response) => (error ? reject(error) : resolve(response)));
  });
}

// The call's error (it must fail), with its decoded google.rpc.Status checked for an ErrorInfo
// of Rollcall's domain.
async function failure(method, request) {
  const error = await call(method, request).then(
    () => assert.fail(`${method} succeeded; want an error`),
    (e) => e,
  );
  const status = decodeStatus(error);
  assert.ok(status, `${error.message}: no grpc-status-details-bin`);
  assert.equal(status.code, error.code, 'google.rpc.Status code');
  const info = errorInfo(error);
  assert.ok(info, `${error.message}: no ErrorInfo in ${JSON.stringify(status.details)}`);
  assert.equal(info.domain, DOMAIN);
  return error;
}

function datasetReport(userId, meetingId, reportId) {
  const file = path.resolve(__dirname, '..', '..', '..', 'tests', 'fake_graph', 'dataset.json');
  const dataset = JSON.parse(fs.readFileSync(file, 'utf8'));
  const report = dataset.users[userId].onlineMeetings[meetingId].attendanceReports[reportId];
  assert.ok(report, `dataset.json has no report ${reportId}`);
  return report;
}

// Graph's date-time text (seven fractional digits) as a Timestamp's {seconds, nanos}.
function graphTime(text) {
  const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/.exec(text);
  assert.ok(match, `not a Graph date-time: ${text}`);
  return { seconds: String(Date.parse(`${match[1]}Z`) / 1000), nanos: Number((match[2] || '').padEnd(9, '0')) };
}

// A Timestamp against Graph's text at full precision; null in Graph: unset.
function checkTime(what, got, want) {
  if (want === null || want === undefined) {
    assert.equal(got, undefined, `${what}: want unset`);
    return;
  }
  assert.ok(got, `${what} unset, want ${want}`);
  assert.deepEqual({ seconds: got.seconds, nanos: got.nanos ?? 0 }, graphTime(want), `${what}`);
}

// An optional scalar against Graph's value; null in Graph: unset (absent), never a zero.
function checkOptional(what, got, want) {
  assert.equal(got, want === null ? undefined : want, what);
}

test('GetAttendanceReport returns the dataset report field by field', { skip }, async () => {
  const want = datasetReport(DOCS.userId, DOCS.meetingId, DOCS.reportId);
  const response = await call('GetAttendanceReport', DOCS);
  const got = response.report;
  assert.equal(got.id, want.id);
  assert.equal(got.id, DOCS.reportId);
  checkOptional('totalParticipantCount', got.totalParticipantCount, want.totalParticipantCount);
  checkTime('meetingStartDateTime', got.meetingStartDateTime, want.meetingStartDateTime);
  checkTime('meetingEndDateTime', got.meetingEndDateTime, want.meetingEndDateTime);
  assert.ok(response.graphFetchTime, 'graphFetchTime unset');
  assert.equal(want.attendanceRecords.length, 1);
  assert.equal(got.attendanceRecords.length, want.attendanceRecords.length);
  want.attendanceRecords.forEach((wantRecord, i) => {
    const record = got.attendanceRecords[i];
    const name = `attendanceRecords[${i}].`;
    checkOptional(`${name}id`, record.id, wantRecord.id ?? null);
    checkOptional(`${name}emailAddress`, record.emailAddress, wantRecord.emailAddress);
    checkOptional(`${name}totalAttendanceInSeconds`, record.totalAttendanceInSeconds, wantRecord.totalAttendanceInSeconds);
    checkOptional(`${name}role`, record.role, wantRecord.role);
    checkOptional(`${name}identity.id`, record.identity.id, wantRecord.identity.id);
    checkOptional(`${name}identity.displayName`, record.identity.displayName, wantRecord.identity.displayName);
    checkOptional(`${name}identity.tenantId`, record.identity.tenantId, wantRecord.identity.tenantId);
    assert.equal(record.attendanceIntervals.length, wantRecord.attendanceIntervals.length);
    wantRecord.attendanceIntervals.forEach((wantInterval, j) => {
      const interval = record.attendanceIntervals[j];
      const iname = `${name}attendanceIntervals[${j}].`;
      checkTime(`${iname}joinDateTime`, interval.joinDateTime, wantInterval.joinDateTime);
      checkTime(`${iname}leaveDateTime`, interval.leaveDateTime, wantInterval.leaveDateTime);
      checkOptional(`${iname}durationInSeconds`, interval.durationInSeconds, wantInterval.durationInSeconds);
    });
  });
  // The docs' values, spelled out once, so that a dataset edit cannot pass unnoticed.
  const record = got.attendanceRecords[0];
  assert.equal(record.emailAddress, 'frederick.cormier@contoso.com');
  assert.equal(record.role, 'Presenter');
  assert.equal(record.totalAttendanceInSeconds, 1152);
  assert.equal(record.identity.displayName, 'Frederick Cormier');
  assert.equal(timestampToString(record.attendanceIntervals[0].joinDateTime), '2021-03-16T18:59:52.2782182Z');
});

test('an unknown report is NOT_FOUND, REPORT_NOT_FOUND', { skip }, async () => {
  const error = await failure('GetAttendanceReport', { ...DOCS, reportId: 'no-such-report' });
  assert.equal(error.code, grpc.status.NOT_FOUND);
  assert.equal(errorInfo(error).reason, 'REPORT_NOT_FOUND');
});

test('an empty ID is INVALID_ARGUMENT, INVALID_ID, with a BadRequest naming the field', { skip }, async () => {
  const error = await failure('GetAttendanceReport', { ...DOCS, userId: '' });
  assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
  const info = errorInfo(error);
  assert.equal(info.reason, 'INVALID_ID');
  assert.equal(info.metadata.field, 'user_id');
  const bad = badRequest(error);
  assert.ok(bad, 'no BadRequest');
  assert.equal(bad.fieldViolations.length, 1);
  assert.equal(bad.fieldViolations[0].field, 'user_id');
  assert.ok(bad.fieldViolations[0].description);
});

// POSTs body to one of the emulator's control endpoints over HTTPS, trusting its CA.
function emulator(urlPath, body) {
  const url = new URL(urlPath, process.env.ROLLCALL_GRAPH_URL);
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = https.request(
      url,
      {
        method: 'POST',
        ca: fs.readFileSync(process.env.ROLLCALL_GRAPH_CA),
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) },
        timeout: 10000,
      },
      (response) => {
        let answer = '';
        response.setEncoding('utf8');
        response.on('data', (chunk) => (answer += chunk));
        response.on('end', () =>
          response.statusCode === 200
            ? resolve(JSON.parse(answer))
            : reject(new Error(`POST ${urlPath}: ${response.statusCode} ${answer}`)),
        );
      },
    );
    request.on('timeout', () => request.destroy(new Error(`POST ${urlPath}: timed out`)));
    request.on('error', reject);
    request.end(data);
  });
}

test('throttled Graph is RESOURCE_EXHAUSTED, GRAPH_THROTTLED, with RetryInfo', { skip }, async () => {
  // A report no other test (or earlier run) asked for, so that no cache answers. Graph's
  // Retry-After (120s) is longer than the server waits (graph_max_backoff, 30s): it answers at
  // once, passing the delay on.
  const reportId = `throttled-node-${process.hrtime.bigint()}`;
  await emulator('/_emulator/faults', {
    kind: 'report', path_contains: reportId, count: 1, status: 429, retry_after: '120',
  });
  const error = await failure('GetAttendanceReport', { ...DOCS, reportId });
  assert.equal(error.code, grpc.status.RESOURCE_EXHAUSTED, error.message);
  assert.equal(errorInfo(error).reason, 'GRAPH_THROTTLED');
  assert.deepEqual(retryInfo(error).retryDelay, { seconds: 120, nanos: 0 });
  assert.equal(retryDelayMs(error), 120000);
});

// Every record of a report by GetAttendanceReport, by ListAttendanceRecords in pages of
// pageSize, and by StreamAttendanceRecords: the three agree.
async function checkPagedAndStreamed(t, source, pageSize, wantRecords) {
  const full = await call('GetAttendanceReport', source);
  const want = full.report.attendanceRecords;
  assert.equal(want.length, wantRecords);

  const paged = [];
  let pageToken = '';
  let pages = 0;
  do {
    const page = await call('ListAttendanceRecords', { ...source, pageSize, pageToken });
    pages += 1;
    assert.equal(page.totalRecords, want.length, `page ${pages}: totalRecords`);
    assert.ok(page.attendanceRecords.length <= pageSize, `page ${pages}: more than pageSize records`);
    paged.push(...page.attendanceRecords);
    pageToken = page.nextPageToken ?? '';
  } while (pageToken && pages <= want.length);
  assert.equal(pages, Math.ceil(want.length / pageSize), 'number of pages');
  assert.deepEqual(paged, want, 'paged records');

  const streamed = [];
  let messages = 0;
  for await (const message of client.StreamAttendanceRecords(source, { deadline: deadlineIn(20) })) {
    messages += 1;
    assert.equal(message.totalRecords, want.length, `stream message ${messages}: totalRecords`);
    streamed.push(...message.attendanceRecords);
  }
  assert.deepEqual(streamed, want, 'streamed records');
  t.diagnostic(`${want.length} records, ${pages} pages of ${pageSize}, ${messages} stream messages`);
}

test('ListAttendanceRecords pages and StreamAttendanceRecords equal the report records', { skip }, async (t) => {
  await t.test('docs report', (t) => checkPagedAndStreamed(t, DOCS, 1, 1));
  await t.test('two records, pages of one', (t) =>
    checkPagedAndStreamed(t, { ...DOCS, reportId: SECOND_REPORT }, 1, 2));
  await t.test('2,500 generated records', async (t) => {
    // Several pages of the largest size and several stream messages (about 32 KiB each).
    const reportId = `paged-node-${process.hrtime.bigint()}`;
    await emulator('/_emulator/reports', { user: 'node-client-test', meeting: 'paging', report: reportId, records: 2500 });
    await checkPagedAndStreamed(t, { userId: 'node-client-test', meetingId: 'paging', reportId }, 1000, 2500);
  });
});
