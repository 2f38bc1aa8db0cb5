// Command peer_go is the service a Go team would write instead of Rollcall: grpc-go serving
// rollcall.v1.AttendanceReportService/GetAttendanceReport from the same proto, with an in-process
// map cache (fixed TTL, one fetch per key at a time through singleflight), reading reports from
// Microsoft Graph (here: the Graph emulator) with net/http and mapping Graph's JSON with protojson.
// It is the benchmark's "fair peer": idiomatic, small, and tuned where a Go team would tune (cached
// replies are served as pre-encoded bytes, see rawCodec). See README.md beside this file.
//
//	peer_go --listen 127.0.0.1:0 --graph https://127.0.0.1:PORT --authority https://127.0.0.1:PORT \
//	    --tenant T --client-id C --ca ca.pem        (client secret from AZURE_CLIENT_SECRET)
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sync/singleflight"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "rollcall.dev/peer_go/gen/rollcallv1"
)

// ---------------------------------------------------------------------------------------------
// Replies as pre-encoded bytes.
//
// A cache hit is the hot path. Caching the *message* and letting grpc-go marshal it would
// re-encode the whole report on every hit: a few microseconds for the docs' one-record report,
// milliseconds for a 10,000-record one. A Go team that cares about hit throughput caches the
// encoded reply once and hands grpc-go the bytes. grpc-go has no unary "pre-encoded message"
// API (PreparedMsg is for streams), so the idiomatic way is a codec: rawCodec wraps the default
// proto codec, passes a rawReply through as it is (a mem.SliceBuffer over the cached slice: no
// copy, and its Free is a no-op, so the cache's slice is never recycled), and leaves everything
// else (requests, errors' details) to the proto codec. The service is registered with a
// hand-written ServiceDesc whose handler may return a rawReply instead of the generated
// interface's *GetAttendanceReportResponse.

// rawReply is an already-serialized rollcall.v1.GetAttendanceReportResponse.
type rawReply []byte

type rawCodec struct{ proto encoding.CodecV2 }

func (c rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	if r, ok := v.(rawReply); ok {
		return mem.BufferSlice{mem.SliceBuffer(r)}, nil
	}
	return c.proto.Marshal(v)
}

func (c rawCodec) Unmarshal(data mem.BufferSlice, v any) error { return c.proto.Unmarshal(data, v) }

func (c rawCodec) Name() string { return grpcproto.Name }

// reportService is what serviceDesc's handler needs of its implementation.
type reportService interface {
	get(ctx context.Context, req *pb.GetAttendanceReportRequest) (rawReply, error)
}

// okReplies counts the calls answered OK, for the benchmark's status check: on SIGUSR1 the count
// is written to --count_file (as bench/baseline_server.cc does), since h2load cannot read gRPC's
// status trailers.
var okReplies atomic.Int64

// serviceDesc is the generated AttendanceReportService_ServiceDesc with a handler that returns
// rawReply (names taken from the generated code, so a renamed proto fails to build).
var serviceDesc = grpc.ServiceDesc{
	ServiceName: pb.AttendanceReportService_ServiceDesc.ServiceName,
	HandlerType: (*reportService)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: pb.AttendanceReportService_ServiceDesc.Methods[0].MethodName,
		Handler: func(srv any, ctx context.Context, dec func(any) error,
			_ grpc.UnaryServerInterceptor) (any, error) {
			in := new(pb.GetAttendanceReportRequest)
			if err := dec(in); err != nil {
				return nil, err
			}
			reply, err := srv.(reportService).get(ctx, in)
			if err == nil {
				okReplies.Add(1)
			}
			return reply, err
		},
	}},
	Metadata: pb.AttendanceReportService_ServiceDesc.Metadata,
}

// ---------------------------------------------------------------------------------------------
// Graph client: client-credentials token (cached until shortly before expiry), report GET with
// attendanceRecords expanded, records pages followed, JSON mapped with protojson.

type graphClient struct {
	http      *http.Client
	graphBase string // {graph}/v1.0
	tokenURL  string
	tokenForm string

	mu     sync.Mutex
	token  string
	expiry time.Time
}

// graphError is a non-2xx answer from Graph or the token endpoint.
type graphError struct {
	status int
	body   string
}

func (e *graphError) Error() string {
	return fmt.Sprintf("HTTP %d: %.300s", e.status, e.body)
}

func newGraphClient(graph, authority, tenant, clientID, secret, caFile string) (*graphClient, error) {
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no certificate", caFile)
		}
		tlsConfig.RootCAs = pool
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConfig
	// The default keeps 2 idle connections per host: too few for concurrent misses.
	transport.MaxIdleConns = 256
	transport.MaxIdleConnsPerHost = 256
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {clientID},
		"client_secret": {secret},
		"scope":         {"https://graph.microsoft.com/.default"},
	}
	return &graphClient{
		http:      &http.Client{Transport: transport, Timeout: 30 * time.Second},
		graphBase: strings.TrimRight(graph, "/") + "/v1.0",
		tokenURL: strings.TrimRight(authority, "/") + "/" + url.PathEscape(tenant) +
			"/oauth2/v2.0/token",
		tokenForm: form.Encode(),
	}, nil
}

// accessToken returns the cached token, or fetches one (one caller at a time: the others wait
// for it rather than asking too).
func (g *graphClient) accessToken(ctx context.Context) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.token != "" && time.Now().Before(g.expiry) {
		return g.token, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.tokenURL,
		strings.NewReader(g.tokenForm))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	body, code, err := g.do(req)
	if err != nil {
		return "", err
	}
	if code != http.StatusOK {
		return "", &graphError{code, string(body)}
	}
	var t struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &t); err != nil || t.AccessToken == "" {
		return "", fmt.Errorf("token response: %v %.200s", err, body)
	}
	lifetime := time.Duration(t.ExpiresIn) * time.Second
	margin := 5 * time.Minute // refresh early, as the Azure SDKs do
	if margin > lifetime/2 {
		margin = lifetime / 2
	}
	g.token, g.expiry = t.AccessToken, time.Now().Add(lifetime-margin)
	return g.token, nil
}

func (g *graphClient) forgetToken(token string) {
	g.mu.Lock()
	if g.token == token {
		g.token = ""
	}
	g.mu.Unlock()
}

func (g *graphClient) do(req *http.Request) ([]byte, int, error) {
	resp, err := g.http.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return body, resp.StatusCode, err
}

// get GETs a Graph URL with a bearer token; a 401 (token expired or revoked early) gets one retry
// with a fresh token.
func (g *graphClient) get(ctx context.Context, u string) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		token, err := g.accessToken(ctx)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", "application/json")
		body, code, err := g.do(req)
		if err != nil {
			return nil, err
		}
		if code == http.StatusUnauthorized && attempt == 0 {
			g.forgetToken(token)
			continue
		}
		if code != http.StatusOK {
			return nil, &graphError{code, string(body)}
		}
		return body, nil
	}
}

var unmarshal = protojson.UnmarshalOptions{DiscardUnknown: true}

// forProtojson adapts Graph's JSON to protojson: Graph's annotation "@odata.type" is the proto
// field odata_type, whose JSON name is "odataType". Other annotations (@odata.context,
// attendanceRecords@odata.nextLink) and properties the proto lacks are dropped by DiscardUnknown.
// (Rollcall keeps an identity's unknown properties in Identity.additional_properties; the
// emulator's reports have none, so this peer does not.)
func forProtojson(body []byte) []byte {
	const from, to = `"@odata.type":`, `"odataType":`
	if !bytes.Contains(body, []byte(from)) {
		return body
	}
	return bytes.ReplaceAll(body, []byte(from), []byte(to))
}

// nextLink finds the string value of "attendanceRecords@odata.nextLink" without parsing the
// (possibly large) body twice. The key cannot match inside a JSON string, where its quotes
// would be escaped.
func nextLink(body []byte) (string, error) {
	key := []byte(`"attendanceRecords@odata.nextLink"`)
	i := bytes.Index(body, key)
	if i < 0 {
		return "", nil
	}
	rest := bytes.TrimLeft(body[i+len(key):], " \t\r\n")
	if len(rest) == 0 || rest[0] != ':' {
		return "", errors.New("malformed attendanceRecords@odata.nextLink")
	}
	var link string
	err := json.NewDecoder(bytes.NewReader(rest[1:])).Decode(&link)
	return link, err
}

func (g *graphClient) fetchReport(ctx context.Context, user, meeting, report string,
	withRecords bool) (*pb.MeetingAttendanceReport, error) {
	u := g.graphBase + "/users/" + url.PathEscape(user) + "/onlineMeetings/" +
		url.PathEscape(meeting) + "/attendanceReports/" + url.PathEscape(report)
	if withRecords {
		u += "?$expand=attendanceRecords"
	}
	body, err := g.get(ctx, u)
	if err != nil {
		return nil, err
	}
	out := new(pb.MeetingAttendanceReport)
	if err := unmarshal.Unmarshal(forProtojson(body), out); err != nil {
		return nil, fmt.Errorf("report JSON: %w", err)
	}
	link, err := nextLink(body)
	for err == nil && link != "" {
		body, err = g.get(ctx, link)
		if err != nil {
			break
		}
		var page struct {
			Value []json.RawMessage `json:"value"`
			Next  string            `json:"@odata.nextLink"`
		}
		if err = json.Unmarshal(body, &page); err != nil {
			break
		}
		for _, raw := range page.Value {
			record := new(pb.AttendanceRecord)
			if err = unmarshal.Unmarshal(forProtojson(raw), record); err != nil {
				break
			}
			out.AttendanceRecords = append(out.AttendanceRecords, record)
		}
		link = page.Next
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// grpcError maps a fetch failure to a gRPC status.
func grpcError(err error) error {
	var ge *graphError
	if !errors.As(err, &ge) {
		return status.Errorf(codes.Unavailable, "graph: %v", err)
	}
	code := codes.Unavailable
	switch ge.status {
	case http.StatusNotFound:
		code = codes.NotFound
	case http.StatusBadRequest:
		code = codes.InvalidArgument
	case http.StatusUnauthorized, http.StatusForbidden:
		code = codes.PermissionDenied
	case http.StatusTooManyRequests:
		code = codes.ResourceExhausted
	}
	return status.Errorf(code, "graph: %v", ge)
}

// ---------------------------------------------------------------------------------------------
// The service: a map cache of encoded replies.

type cacheKey struct {
	user, meeting, report string
	withRecords           bool // the view: BASIC without records; UNSPECIFIED and FULL with them
}

// flightKey is the singleflight key: the IDs length-prefixed, so no two keys collide.
func (k cacheKey) flightKey() string {
	return strconv.Itoa(len(k.user)) + ":" + k.user + strconv.Itoa(len(k.meeting)) + ":" +
		k.meeting + strconv.Itoa(len(k.report)) + ":" + k.report + strconv.FormatBool(k.withRecords)
}

type entry struct {
	hit     rawReply // the reply with from_cache set
	expires time.Time
}

type service struct {
	graph  *graphClient
	ttl    time.Duration
	mu     sync.RWMutex
	cache  map[cacheKey]entry
	flight singleflight.Group
}

func (s *service) get(ctx context.Context, req *pb.GetAttendanceReportRequest) (rawReply, error) {
	switch {
	case req.UserId == "":
		return nil, status.Error(codes.InvalidArgument, "user_id is required")
	case req.MeetingId == "":
		return nil, status.Error(codes.InvalidArgument, "meeting_id is required")
	case req.ReportId == "":
		return nil, status.Error(codes.InvalidArgument, "report_id is required")
	}
	if _, ok := pb.ReportView_name[int32(req.View)]; !ok {
		return nil, status.Errorf(codes.InvalidArgument, "view has the unknown value %d", req.View)
	}
	key := cacheKey{req.UserId, req.MeetingId, req.ReportId, req.View != pb.ReportView_REPORT_VIEW_BASIC}
	s.mu.RLock()
	e, ok := s.cache[key]
	s.mu.RUnlock()
	if ok && time.Now().Before(e.expires) {
		return e.hit, nil
	}
	v, err, _ := s.flight.Do(key.flightKey(), func() (any, error) {
		// The flight outlives any one caller: it has its own deadline, not the first caller's.
		fctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		fetched := time.Now()
		report, err := s.graph.fetchReport(fctx, key.user, key.meeting, key.report, key.withRecords)
		if err != nil {
			return nil, grpcError(err)
		}
		miss, err := proto.Marshal(&pb.GetAttendanceReportResponse{
			Report: report, GraphFetchTime: timestamppb.New(fetched)})
		if err != nil {
			return nil, status.Errorf(codes.Internal, "marshal: %v", err)
		}
		// The hit form is the same message with from_cache = true: field 3, varint 1, which
		// proto.Marshal would put right after fields 1 and 2 (stale, field 4, is never set).
		hit := append(miss[:len(miss):len(miss)], 0x18, 0x01)
		s.mu.Lock()
		s.cache[key] = entry{hit: hit, expires: fetched.Add(s.ttl)}
		s.mu.Unlock()
		return rawReply(miss), nil
	})
	if err != nil {
		return nil, err
	}
	return v.(rawReply), nil
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "HOST:PORT to serve gRPC on")
	graph := flag.String("graph", "", "Graph base URL (https://host:port); /v1.0 is appended")
	authority := flag.String("authority", "", "identity platform base URL (https://host:port)")
	tenant := flag.String("tenant", "", "tenant ID")
	clientID := flag.String("client-id", "", "app (client) ID; the secret is AZURE_CLIENT_SECRET")
	caFile := flag.String("ca", "", "PEM file of the CA to trust (default: the system's)")
	ttl := flag.Duration("ttl", time.Hour, "how long a cached report is served")
	countFile := flag.String("count_file", "", "on SIGUSR1, write the count of OK replies here")
	flag.Parse()
	secret := os.Getenv("AZURE_CLIENT_SECRET")
	if *graph == "" || *authority == "" || *tenant == "" || *clientID == "" || secret == "" {
		fmt.Fprintln(os.Stderr, "peer_go: --graph, --authority, --tenant, --client-id and "+
			"AZURE_CLIENT_SECRET are required")
		os.Exit(2)
	}
	gc, err := newGraphClient(*graph, *authority, *tenant, *clientID, secret, *caFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer_go:", err)
		os.Exit(2)
	}
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer_go:", err)
		os.Exit(2)
	}
	server := grpc.NewServer(grpc.ForceServerCodecV2(rawCodec{encoding.GetCodecV2(grpcproto.Name)}))
	server.RegisterService(&serviceDesc, &service{graph: gc, ttl: *ttl, cache: map[cacheKey]entry{}})

	if *countFile != "" {
		usr1 := make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		go func() {
			for range usr1 {
				// PATH.tmp first, then renamed: a reader never sees a partial count.
				tmp := *countFile + ".tmp"
				if err := os.WriteFile(tmp, []byte(strconv.FormatInt(okReplies.Load(), 10)), 0o644); err == nil {
					os.Rename(tmp, *countFile)
				}
			}
		}()
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-signals
		done := make(chan struct{})
		go func() { server.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			server.Stop()
		}
	}()
	// os.Stdout is unbuffered: the line is out when Println returns. The listener is bound, so a
	// client that connects now is served as soon as Serve starts.
	fmt.Println("peer_go listening on " + lis.Addr().String())
	if err := server.Serve(lis); err != nil {
		fmt.Fprintln(os.Stderr, "peer_go:", err)
		os.Exit(1)
	}
}
