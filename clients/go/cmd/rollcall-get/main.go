// Command rollcall-get asks a Rollcall server for one attendance report and prints it: a short
// table of attendees, then the report as proto3 JSON (whose property names are Graph's own). On
// an error it prints the gRPC code and message and the google.rpc details the server attached
// (ErrorInfo, RetryInfo, BadRequest), and exits 1.
//
//	rollcall-get --target 127.0.0.1:50051 --user U --meeting M --report R
//	             [--view full|basic] [--deadline 30s] [--json-only]
//
// It dials in plaintext (the demo's server, scripts/demo), with the service config of
// clients/service_config.json.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"rollcall.dev/clients/go/rollcallv1"
	"rollcall.dev/clients/go/serviceconfig"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("rollcall-get", flag.ContinueOnError)
	flags.SetOutput(stderr)
	target := flags.String("target", "", "HOST:PORT of the Rollcall server (required)")
	user := flags.String("user", "", "the meeting organizer's user ID (required)")
	meeting := flags.String("meeting", "", "the online meeting ID (required)")
	report := flags.String("report", "", "the attendance report ID (required)")
	view := flags.String("view", "full", "full (with attendance records) or basic")
	deadline := flags.Duration("deadline", 30*time.Second, "deadline of the call")
	jsonOnly := flags.Bool("json-only", false, "print only the JSON")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	// Each must be given; an empty ID is sent as it is, for the server to refuse (INVALID_ID).
	given := map[string]bool{}
	flags.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, required := range []string{"target", "user", "meeting", "report"} {
		if !given[required] {
			fmt.Fprintf(stderr, "missing --%s\n", required)
			flags.Usage()
			return 2
		}
	}
	request := &rollcallv1.GetAttendanceReportRequest{
		UserId:    *user,
		MeetingId: *meeting,
		ReportId:  *report,
		View:      rollcallv1.ReportView_REPORT_VIEW_FULL,
	}
	switch *view {
	case "full":
	case "basic":
		request.View = rollcallv1.ReportView_REPORT_VIEW_BASIC
	default:
		fmt.Fprintf(stderr, "bad --view %q: full or basic\n", *view)
		return 2
	}

	conn, err := grpc.NewClient(*target,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(serviceconfig.JSON))
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return 1
	}
	defer conn.Close()

	ctx, cancel := context.WithTimeout(context.Background(), *deadline)
	defer cancel()
	response, err := rollcallv1.NewAttendanceReportServiceClient(conn).GetAttendanceReport(ctx, request)
	if err != nil {
		printError(stderr, err)
		return 1
	}
	if !*jsonOnly {
		printTable(stdout, response)
	}
	fmt.Fprintln(stdout, protojson.MarshalOptions{Multiline: true}.Format(response))
	return 0
}

func timeText(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "-"
	}
	return ts.AsTime().Format(time.RFC3339Nano)
}

func printTable(w io.Writer, response *rollcallv1.GetAttendanceReportResponse) {
	report := response.GetReport()
	participants := "?"
	if report.TotalParticipantCount != nil {
		participants = fmt.Sprint(report.GetTotalParticipantCount())
	}
	fmt.Fprintf(w, "report %s: %s participants, meeting %s .. %s\n", report.GetId(), participants,
		timeText(report.GetMeetingStartDateTime()), timeText(report.GetMeetingEndDateTime()))
	fmt.Fprintf(w, "fetched from Graph at %s; served from cache: %t\n",
		timeText(response.GetGraphFetchTime()), response.GetFromCache())
	for _, record := range report.GetAttendanceRecords() {
		seconds := "?"
		if record.TotalAttendanceInSeconds != nil {
			seconds = fmt.Sprint(record.GetTotalAttendanceInSeconds())
		}
		fmt.Fprintf(w, "  %-24s %-32s %-10s %6ss in %d interval(s)\n",
			record.GetIdentity().GetDisplayName(), record.GetEmailAddress(), record.GetRole(),
			seconds, len(record.GetAttendanceIntervals()))
		for _, interval := range record.GetAttendanceIntervals() {
			fmt.Fprintf(w, "      %s .. %s (%ds)\n", timeText(interval.GetJoinDateTime()),
				timeText(interval.GetLeaveDateTime()), interval.GetDurationInSeconds())
		}
	}
}

// printError prints the call's status and the details Rollcall attaches to every error
// (grpc-status-details-bin, decoded by the status package).
func printError(w io.Writer, err error) {
	st, _ := status.FromError(err)
	fmt.Fprintf(w, "error: %s: %s\n", st.Code(), st.Message())
	for _, detail := range st.Details() {
		switch d := detail.(type) {
		case *errdetails.ErrorInfo:
			fmt.Fprintf(w, "  reason: %s (%s)\n", d.GetReason(), d.GetDomain())
			keys := make([]string, 0, len(d.GetMetadata()))
			for key := range d.GetMetadata() {
				keys = append(keys, key)
			}
			sort.Strings(keys)
			for _, key := range keys {
				fmt.Fprintf(w, "  %s: %s\n", key, d.GetMetadata()[key])
			}
		case *errdetails.RetryInfo:
			fmt.Fprintf(w, "  retry after: %s\n", d.GetRetryDelay().AsDuration())
		case *errdetails.BadRequest:
			for _, violation := range d.GetFieldViolations() {
				fmt.Fprintf(w, "  field %s: %s\n", violation.GetField(), violation.GetDescription())
			}
		case error:
			fmt.Fprintf(w, "  undecodable detail: %v\n", d)
		default:
			fmt.Fprintf(w, "  detail: %v\n", d)
		}
	}
}
