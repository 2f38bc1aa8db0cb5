// Tests of the Go client against a live Rollcall server and its Graph emulator, as
// scripts/with_server starts them (clients/go/test.sh): ROLLCALL_TARGET, ROLLCALL_GRAPH_URL and
// ROLLCALL_GRAPH_CA. Skipped when ROLLCALL_TARGET is unset.
package rollcall_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"rollcall.dev/clients/go/rollcallv1"
	"rollcall.dev/clients/go/serviceconfig"
)

// The Graph docs' example report, in the emulator's default dataset.
const (
	docsUser    = "16664f75-11dc-4870-bec6-38c1aaa81431"
	docsMeeting = "MSpkYzE3Njc0Yy04MWQ5LTRhZGItYmZ"
	docsReport  = "c9b6db1c-d5eb-427d-a5c0-20088d9b22d7"
	// The same meeting's other report, with two records.
	secondReport = "2c2c2454-7613-4d6e-9c7c-4cf7a6cdce89"
	domain       = "rollcall.v1"
)

var client rollcallv1.AttendanceReportServiceClient

func TestMain(m *testing.M) {
	target := os.Getenv("ROLLCALL_TARGET")
	if target == "" {
		fmt.Println("ROLLCALL_TARGET is not set: the live tests are skipped (run clients/go/test.sh under scripts/with_server)")
		os.Exit(m.Run())
	}
	conn, err := grpc.NewClient(target,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(serviceconfig.JSON))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	client = rollcallv1.NewAttendanceReportServiceClient(conn)
	code := m.Run()
	conn.Close()
	os.Exit(code)
}

func needServer(t *testing.T) context.Context {
	t.Helper()
	if client == nil {
		t.Skip("ROLLCALL_TARGET is not set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// The dataset's report as Graph sends it, parsed from tests/fake_graph/dataset.json.
type graphReport struct {
	ID                    string        `json:"id"`
	TotalParticipantCount *int32        `json:"totalParticipantCount"`
	MeetingStartDateTime  *string       `json:"meetingStartDateTime"`
	MeetingEndDateTime    *string       `json:"meetingEndDateTime"`
	AttendanceRecords     []graphRecord `json:"attendanceRecords"`
}

type graphRecord struct {
	ID                       *string `json:"id"`
	EmailAddress             *string `json:"emailAddress"`
	TotalAttendanceInSeconds *int32  `json:"totalAttendanceInSeconds"`
	Role                     *string `json:"role"`
	Identity                 struct {
		ID          *string `json:"id"`
		DisplayName *string `json:"displayName"`
		TenantID    *string `json:"tenantId"`
	} `json:"identity"`
	AttendanceIntervals []struct {
		JoinDateTime      *string `json:"joinDateTime"`
		LeaveDateTime     *string `json:"leaveDateTime"`
		DurationInSeconds *int32  `json:"durationInSeconds"`
	} `json:"attendanceIntervals"`
}

func datasetReport(t *testing.T, user, meeting, report string) graphReport {
	t.Helper()
	data, err := os.ReadFile("../../tests/fake_graph/dataset.json")
	if err != nil {
		t.Fatal(err)
	}
	var dataset struct {
		Users map[string]struct {
			OnlineMeetings map[string]struct {
				AttendanceReports map[string]graphReport `json:"attendanceReports"`
			} `json:"onlineMeetings"`
		} `json:"users"`
	}
	if err := json.Unmarshal(data, &dataset); err != nil {
		t.Fatal(err)
	}
	r, ok := dataset.Users[user].OnlineMeetings[meeting].AttendanceReports[report]
	if !ok {
		t.Fatalf("dataset.json has no report %s", report)
	}
	return r
}

func checkString(t *testing.T, what string, got *string, want *string) {
	t.Helper()
	switch {
	case want == nil && got != nil:
		t.Errorf("%s = %q, want unset (Graph sent null or nothing)", what, *got)
	case want != nil && got == nil:
		t.Errorf("%s unset, want %q", what, *want)
	case want != nil && *got != *want:
		t.Errorf("%s = %q, want %q", what, *got, *want)
	}
}

func checkInt(t *testing.T, what string, got *int32, want *int32) {
	t.Helper()
	switch {
	case want == nil && got != nil:
		t.Errorf("%s = %d, want unset", what, *got)
	case want != nil && got == nil:
		t.Errorf("%s unset, want %d", what, *want)
	case want != nil && *got != *want:
		t.Errorf("%s = %d, want %d", what, *got, *want)
	}
}

// checkTime compares a Timestamp with Graph's date-time text at full precision (Graph writes
// seven fractional digits).
func checkTime(t *testing.T, what string, got *timestamppb.Timestamp, want *string) {
	t.Helper()
	if want == nil {
		if got != nil {
			t.Errorf("%s = %v, want unset", what, got.AsTime())
		}
		return
	}
	wantTime, err := time.Parse(time.RFC3339Nano, *want)
	if err != nil {
		t.Fatalf("dataset %s %q: %v", what, *want, err)
	}
	if got == nil {
		t.Errorf("%s unset, want %s", what, *want)
	} else if !got.AsTime().Equal(wantTime) {
		t.Errorf("%s = %s, want %s", what, got.AsTime().Format(time.RFC3339Nano), *want)
	}
}

func TestGetAttendanceReportMatchesTheDataset(t *testing.T) {
	ctx := needServer(t)
	want := datasetReport(t, docsUser, docsMeeting, docsReport)
	response, err := client.GetAttendanceReport(ctx, &rollcallv1.GetAttendanceReportRequest{
		UserId: docsUser, MeetingId: docsMeeting, ReportId: docsReport,
	})
	if err != nil {
		t.Fatal(err)
	}
	got := response.GetReport()
	if got.GetId() != want.ID || want.ID != docsReport {
		t.Errorf("id = %q, want %q", got.GetId(), want.ID)
	}
	checkInt(t, "totalParticipantCount", got.TotalParticipantCount, want.TotalParticipantCount)
	checkTime(t, "meetingStartDateTime", got.GetMeetingStartDateTime(), want.MeetingStartDateTime)
	checkTime(t, "meetingEndDateTime", got.GetMeetingEndDateTime(), want.MeetingEndDateTime)
	if response.GetGraphFetchTime() == nil {
		t.Error("graph_fetch_time unset")
	}
	if len(got.GetAttendanceRecords()) != len(want.AttendanceRecords) || len(want.AttendanceRecords) != 1 {
		t.Fatalf("%d records, want %d (1)", len(got.GetAttendanceRecords()), len(want.AttendanceRecords))
	}
	for i, wantRecord := range want.AttendanceRecords {
		record := got.GetAttendanceRecords()[i]
		name := fmt.Sprintf("records[%d].", i)
		checkString(t, name+"id", record.Id, wantRecord.ID)
		checkString(t, name+"emailAddress", record.EmailAddress, wantRecord.EmailAddress)
		checkInt(t, name+"totalAttendanceInSeconds", record.TotalAttendanceInSeconds, wantRecord.TotalAttendanceInSeconds)
		checkString(t, name+"role", record.Role, wantRecord.Role)
		checkString(t, name+"identity.id", record.GetIdentity().Id, wantRecord.Identity.ID)
		checkString(t, name+"identity.displayName", record.GetIdentity().DisplayName, wantRecord.Identity.DisplayName)
		checkString(t, name+"identity.tenantId", record.GetIdentity().TenantId, wantRecord.Identity.TenantID)
		if len(record.GetAttendanceIntervals()) != len(wantRecord.AttendanceIntervals) {
			t.Fatalf("%sattendanceIntervals: %d, want %d", name, len(record.GetAttendanceIntervals()),
				len(wantRecord.AttendanceIntervals))
		}
		for j, wantInterval := range wantRecord.AttendanceIntervals {
			interval := record.GetAttendanceIntervals()[j]
			iname := fmt.Sprintf("%sattendanceIntervals[%d].", name, j)
			checkTime(t, iname+"joinDateTime", interval.GetJoinDateTime(), wantInterval.JoinDateTime)
			checkTime(t, iname+"leaveDateTime", interval.GetLeaveDateTime(), wantInterval.LeaveDateTime)
			checkInt(t, iname+"durationInSeconds", interval.DurationInSeconds, wantInterval.DurationInSeconds)
		}
	}
	// The docs' values, spelled out once, so that a dataset edit cannot pass unnoticed.
	if r := got.GetAttendanceRecords()[0]; r.GetEmailAddress() != "frederick.cormier@contoso.com" ||
		r.GetRole() != "Presenter" || r.GetTotalAttendanceInSeconds() != 1152 ||
		len(r.GetAttendanceIntervals()) != 3 || r.GetIdentity().GetDisplayName() != "Frederick Cormier" {
		t.Errorf("not the Graph docs' record: %v", r)
	}
}

// errorDetails returns the status of err and its ErrorInfo, RetryInfo and BadRequest details.
func errorDetails(t *testing.T, err error) (*status.Status, *errdetails.ErrorInfo, *errdetails.RetryInfo, *errdetails.BadRequest) {
	t.Helper()
	if err == nil {
		t.Fatal("the call succeeded; want an error")
	}
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("not a gRPC status: %v", err)
	}
	var (
		info  *errdetails.ErrorInfo
		retry *errdetails.RetryInfo
		bad   *errdetails.BadRequest
	)
	for _, detail := range st.Details() {
		switch d := detail.(type) {
		case *errdetails.ErrorInfo:
			info = d
		case *errdetails.RetryInfo:
			retry = d
		case *errdetails.BadRequest:
			bad = d
		case error:
			t.Errorf("undecodable detail: %v", d)
		}
	}
	if info == nil {
		t.Fatalf("%v: no ErrorInfo in the details %v", err, st.Details())
	}
	if info.GetDomain() != domain {
		t.Errorf("ErrorInfo domain = %q, want %q", info.GetDomain(), domain)
	}
	return st, info, retry, bad
}

func TestUnknownReportIsNotFound(t *testing.T) {
	ctx := needServer(t)
	_, err := client.GetAttendanceReport(ctx, &rollcallv1.GetAttendanceReportRequest{
		UserId: docsUser, MeetingId: docsMeeting, ReportId: "no-such-report",
	})
	st, info, _, _ := errorDetails(t, err)
	if st.Code() != codes.NotFound || info.GetReason() != "REPORT_NOT_FOUND" {
		t.Errorf("got %s %s (%s), want NOT_FOUND REPORT_NOT_FOUND", st.Code(), info.GetReason(), st.Message())
	}
}

func TestEmptyIDIsInvalidArgument(t *testing.T) {
	ctx := needServer(t)
	_, err := client.GetAttendanceReport(ctx, &rollcallv1.GetAttendanceReportRequest{
		UserId: "", MeetingId: docsMeeting, ReportId: docsReport,
	})
	st, info, _, bad := errorDetails(t, err)
	if st.Code() != codes.InvalidArgument || info.GetReason() != "INVALID_ID" {
		t.Fatalf("got %s %s (%s), want INVALID_ARGUMENT INVALID_ID", st.Code(), info.GetReason(), st.Message())
	}
	if info.GetMetadata()["field"] != "user_id" {
		t.Errorf("ErrorInfo metadata %v, want field user_id", info.GetMetadata())
	}
	if bad == nil || len(bad.GetFieldViolations()) != 1 || bad.GetFieldViolations()[0].GetField() != "user_id" ||
		bad.GetFieldViolations()[0].GetDescription() == "" {
		t.Errorf("BadRequest = %v, want one violation of user_id with a description", bad)
	}
}

// emulator posts body to one of the emulator's control endpoints over HTTPS, trusting its CA.
func emulator(t *testing.T, path string, body any) []byte {
	t.Helper()
	base, caFile := os.Getenv("ROLLCALL_GRAPH_URL"), os.Getenv("ROLLCALL_GRAPH_CA")
	if base == "" || caFile == "" {
		t.Skip("ROLLCALL_GRAPH_URL and ROLLCALL_GRAPH_CA are not set")
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", caFile)
	}
	httpClient := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}},
	}
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	response, err := httpClient.Post(base+path, "application/json", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	answer, err := io.ReadAll(response.Body)
	if err != nil {
		t.Fatal(err)
	}
	if response.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s %s", path, response.Status, answer)
	}
	return answer
}

func TestThrottledGraphIsResourceExhaustedWithRetryInfo(t *testing.T) {
	ctx := needServer(t)
	// A report no other test (or earlier run) asked for, so that no cache answers. Graph's
	// Retry-After (120s) is longer than the server waits (graph_max_backoff, 30s): it answers at
	// once, passing the delay on.
	report := fmt.Sprintf("throttled-go-%d", time.Now().UnixNano())
	emulator(t, "/_emulator/faults", map[string]any{
		"kind": "report", "path_contains": report, "count": 1, "status": 429, "retry_after": "120",
	})
	_, err := client.GetAttendanceReport(ctx, &rollcallv1.GetAttendanceReportRequest{
		UserId: docsUser, MeetingId: docsMeeting, ReportId: report,
	})
	st, info, retry, _ := errorDetails(t, err)
	if st.Code() != codes.ResourceExhausted || info.GetReason() != "GRAPH_THROTTLED" {
		t.Fatalf("got %s %s (%s), want RESOURCE_EXHAUSTED GRAPH_THROTTLED", st.Code(), info.GetReason(), st.Message())
	}
	if retry == nil || retry.GetRetryDelay().AsDuration() != 120*time.Second {
		t.Errorf("RetryInfo = %v, want a delay of 120s", retry)
	}
}

// Every record of a report, by GetAttendanceReport, by ListAttendanceRecords in pages of
// pageSize, and by StreamAttendanceRecords: the three agree.
func checkPagedAndStreamed(t *testing.T, ctx context.Context, user, meeting, report string, pageSize int32, wantRecords int) {
	t.Helper()
	full, err := client.GetAttendanceReport(ctx, &rollcallv1.GetAttendanceReportRequest{
		UserId: user, MeetingId: meeting, ReportId: report,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := full.GetReport().GetAttendanceRecords()
	if len(want) != wantRecords {
		t.Fatalf("report %s has %d records, want %d", report, len(want), wantRecords)
	}

	var paged []*rollcallv1.AttendanceRecord
	token, pages := "", 0
	for {
		page, err := client.ListAttendanceRecords(ctx, &rollcallv1.ListAttendanceRecordsRequest{
			UserId: user, MeetingId: meeting, ReportId: report, PageSize: pageSize, PageToken: token,
		})
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		pages++
		if page.GetTotalRecords() != int32(len(want)) {
			t.Errorf("page %d: total_records %d, want %d", pages, page.GetTotalRecords(), len(want))
		}
		if len(page.GetAttendanceRecords()) > int(pageSize) {
			t.Errorf("page %d: %d records, more than page_size %d", pages, len(page.GetAttendanceRecords()), pageSize)
		}
		paged = append(paged, page.GetAttendanceRecords()...)
		token = page.GetNextPageToken()
		if token == "" || pages > len(want)+1 {
			break
		}
	}
	if wantPages := (len(want) + int(pageSize) - 1) / int(pageSize); pages != wantPages {
		t.Errorf("%d pages of %d, want %d", pages, pageSize, wantPages)
	}
	if !equalRecords(paged, want) {
		t.Errorf("paged records (%d) differ from the report's (%d)", len(paged), len(want))
	}

	stream, err := client.StreamAttendanceRecords(ctx, &rollcallv1.StreamAttendanceRecordsRequest{
		UserId: user, MeetingId: meeting, ReportId: report,
	})
	if err != nil {
		t.Fatal(err)
	}
	var streamed []*rollcallv1.AttendanceRecord
	messages := 0
	for {
		message, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("stream message %d: %v", messages, err)
		}
		messages++
		if message.GetTotalRecords() != int32(len(want)) {
			t.Errorf("stream message %d: total_records %d, want %d", messages, message.GetTotalRecords(), len(want))
		}
		streamed = append(streamed, message.GetAttendanceRecords()...)
	}
	if !equalRecords(streamed, want) {
		t.Errorf("streamed records (%d in %d messages) differ from the report's (%d)", len(streamed), messages, len(want))
	}
	t.Logf("report %s: %d records, %d pages of %d, %d stream messages", report, len(want), pages, pageSize, messages)
}

func equalRecords(a, b []*rollcallv1.AttendanceRecord) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !proto.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func TestRecordsPagedAndStreamedEqualTheReports(t *testing.T) {
	ctx := needServer(t)
	t.Run("docs report", func(t *testing.T) {
		checkPagedAndStreamed(t, ctx, docsUser, docsMeeting, docsReport, 1, 1)
	})
	t.Run("two records, pages of one", func(t *testing.T) {
		checkPagedAndStreamed(t, ctx, docsUser, docsMeeting, secondReport, 1, 2)
	})
	t.Run("2,500 generated records", func(t *testing.T) {
		// Large enough for several pages of the largest size and several stream messages
		// (about 32 KiB each).
		report := fmt.Sprintf("paged-go-%d", time.Now().UnixNano())
		emulator(t, "/_emulator/reports", map[string]any{
			"user": "go-client-test", "meeting": "paging", "report": report, "records": 2500,
		})
		checkPagedAndStreamed(t, ctx, "go-client-test", "paging", report, 1000, 2500)
	})
}
