// Command qsession-go runs a session workload against a qsession server using
// only the gRPC contract in proto/qsession/v1: it lists the backends, opens a
// dedicated session, runs a parametrized Sampler job and an Estimator job
// written in OpenQASM 3, decodes their results itself, and closes the session.
// Then it transpiles a logical OpenQASM 3 circuit for fake_torino with
// TranspilerService.Transpile and runs the ISA circuit it gets back.
//
// Usage:
//
//	go run . -addr 127.0.0.1:50051 -token TOKEN -backend ideal_24 -seed 1234
//
// Everything on stdout depends only on the server's configuration, the flags
// and the seed, so two clients with the same inputs print the same lines.
// Server-assigned ids and timings go to stderr.
package main

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	qsessionv1 "github.com/qsession/qsession/examples/go/gen/qsession/v1"
)

var (
	//go:embed circuits/sampler.qasm
	samplerQASM string
	//go:embed circuits/estimator.qasm
	estimatorQASM string
)

// config is what the command-line flags set.
type config struct {
	addr, token, backend string
	seed                 uint64
	shots                int64
	timeout              time.Duration
}

func main() {
	var cfg config
	var tc transpileConfig
	flag.StringVar(&cfg.addr, "addr", "127.0.0.1:50051", "server address host:port (plaintext)")
	flag.StringVar(&cfg.token, "token", os.Getenv("QSESSION_TOKEN"), "API token of an instance (default $QSESSION_TOKEN)")
	flag.StringVar(&cfg.backend, "backend", "ideal_24", "backend to open the session on")
	flag.Uint64Var(&cfg.seed, "seed", 1234, "seed_simulator of both jobs")
	flag.Int64Var(&cfg.shots, "shots", 1024, "Sampler shots per parameter point")
	flag.DurationVar(&cfg.timeout, "timeout", 5*time.Minute, "give up after this long")
	flag.StringVar(&tc.backend, "transpile-backend", "fake_torino", "backend to transpile circuits/logical.qasm for and run it on")
	flag.UintVar(&tc.optimizationLevel, "optimization-level", 1, "Transpile's optimization_level (0 to 3)")
	flag.Uint64Var(&tc.seedTranspiler, "seed-transpiler", 7, "Transpile's seed_transpiler")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancel()
	if err := run(ctx, cfg, tc, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// thetas are the Sampler's and Estimator's four values of theta: i*pi/4.
func thetas() []float64 {
	pi := math.Pi
	values := make([]float64, 4)
	for i := range values {
		values[i] = float64(i) * pi / 4
	}
	return values
}

// run executes the whole workload, writing the deterministic report to out and
// ids and timings to info.
func run(ctx context.Context, cfg config, tc transpileConfig, out, info io.Writer) error {
	conn, err := grpc.NewClient(cfg.addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(bearerToken(cfg.token)),
	)
	if err != nil {
		return err
	}
	defer conn.Close()
	backends := qsessionv1.NewBackendServiceClient(conn)
	sessions := qsessionv1.NewSessionServiceClient(conn)
	jobs := qsessionv1.NewJobServiceClient(conn)

	fmt.Fprintln(out, "== backends")
	listed, err := backends.ListBackends(ctx, &qsessionv1.ListBackendsRequest{})
	if err != nil {
		return fmt.Errorf("ListBackends: %w", err)
	}
	for _, b := range listed.GetBackends() {
		fmt.Fprintf(out, "%s qubits=%d operational=%t noisy=%t\n", b.GetName(), b.GetNumQubits(), b.GetOperational(), b.GetNoisy())
	}

	fmt.Fprintln(out, "== session")
	created, err := sessions.CreateSession(ctx, &qsessionv1.CreateSessionRequest{
		Backend: cfg.backend,
		Mode:    qsessionv1.Session_MODE_DEDICATED,
	})
	if err != nil {
		return fmt.Errorf("CreateSession: %w", err)
	}
	session := created.GetSession()
	fmt.Fprintf(info, "# session %s\n", session.GetId())
	fmt.Fprintf(out, "backend=%s mode=%s state=%s accepting_jobs=%t\n",
		session.GetBackend(), session.GetMode(), session.GetState(), session.GetAcceptingJobs())

	options := &qsessionv1.JobOptions{SeedSimulator: &cfg.seed, DefaultShots: &cfg.shots}
	values := &qsessionv1.ParameterValues{
		Parameters: []string{"theta"},
		Values:     newFloat64Array(thetas(), 4, 1),
	}

	fmt.Fprintln(out, "== sampler job")
	sampler, err := submit(ctx, jobs, &qsessionv1.CreateJobRequest{
		Backend:   cfg.backend,
		SessionId: session.GetId(),
		Program:   qsessionv1.Program_PROGRAM_SAMPLER,
		SamplerPubs: []*qsessionv1.SamplerPub{{
			Circuit:         &qsessionv1.Circuit{Format: &qsessionv1.Circuit_Qasm3{Qasm3: samplerQASM}},
			ParameterValues: values,
		}},
		Options: options,
	}, out, info)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "== sampler counts")
	if err := printCounts(sampler, out); err != nil {
		return err
	}

	fmt.Fprintln(out, "== estimator job")
	estimator, err := submit(ctx, jobs, &qsessionv1.CreateJobRequest{
		Backend:   cfg.backend,
		SessionId: session.GetId(),
		Program:   qsessionv1.Program_PROGRAM_ESTIMATOR,
		EstimatorPubs: []*qsessionv1.EstimatorPub{{
			Circuit:         &qsessionv1.Circuit{Format: &qsessionv1.Circuit_Qasm3{Qasm3: estimatorQASM}},
			Observables:     estimatorObservables(),
			ParameterValues: values,
		}},
		Options: options,
	}, out, info)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "== estimator evs")
	if err := printEvs(estimator, out); err != nil {
		return err
	}

	fmt.Fprintln(out, "== session closed")
	if _, err := sessions.CloseSession(ctx, &qsessionv1.CloseSessionRequest{Id: session.GetId()}); err != nil {
		return fmt.Errorf("CloseSession: %w", err)
	}
	if err := awaitSessionClosed(ctx, sessions, session.GetId()); err != nil {
		return err
	}
	final, err := sessions.GetSession(ctx, &qsessionv1.GetSessionRequest{Id: session.GetId()})
	if err != nil {
		return fmt.Errorf("GetSession: %w", err)
	}
	printSession(final.GetSession(), out, info)
	return runTranspiled(ctx, cfg, tc, qsessionv1.NewTranspilerServiceClient(conn), jobs, out, info)
}

// estimatorObservables is a (2, 1) array: ZZ and 0.5*XX + 0.5*IZ, which
// broadcasts against the (4,) parameter values to evs of shape (2, 4).
func estimatorObservables() *qsessionv1.ObservableArray {
	return &qsessionv1.ObservableArray{
		Shape: []uint32{2, 1},
		Observables: []*qsessionv1.Observable{
			{Terms: []*qsessionv1.PauliTerm{{Label: "ZZ", Coefficient: 1}}},
			{Terms: []*qsessionv1.PauliTerm{{Label: "XX", Coefficient: 0.5}, {Label: "IZ", Coefficient: 0.5}}},
		},
	}
}

// submit creates a job with a fresh request_id (so a retry of this call could
// not create a second job), follows it to the end and fetches its result. A job
// that ends in ERROR or CANCELLED is an error carrying the server's message.
func submit(ctx context.Context, jobs qsessionv1.JobServiceClient, req *qsessionv1.CreateJobRequest, out, info io.Writer) (*qsessionv1.JobResult, error) {
	requestID := make([]byte, 16)
	if _, err := rand.Read(requestID); err != nil {
		return nil, err
	}
	req.RequestId = hex.EncodeToString(requestID)
	created, err := jobs.CreateJob(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("CreateJob: %w", err)
	}
	id := created.GetJob().GetId()
	fmt.Fprintf(info, "# job %s\n", id)
	job, err := followJob(ctx, jobs, id, out)
	if err != nil {
		return nil, err
	}
	if job.GetState() != qsessionv1.Job_STATE_DONE {
		return nil, fmt.Errorf("job %s ended %s: %s", id, job.GetState(), job.GetErrorMessage())
	}
	fmt.Fprintf(info, "# job %s used %.3f s of QPU time\n", id, job.GetUsageSeconds())
	return fetchResult(ctx, jobs, id)
}

// printCounts writes, for every classical register of every PUB, the counts of
// each parameter point as sorted "bitstring:count" lines.
func printCounts(result *qsessionv1.JobResult, out io.Writer) error {
	for pub, pr := range result.GetPubResults() {
		for _, reg := range pr.GetRegisters() {
			samples := reg.GetSamples()
			points, err := countsPerPoint(samples)
			if err != nil {
				return fmt.Errorf("pub %d register %s: %w", pub, reg.GetName(), err)
			}
			fmt.Fprintf(out, "pub %d register %s shape=%v num_shots=%d num_bits=%d\n",
				pub, reg.GetName(), samples.GetShape(), samples.GetNumShots(), samples.GetNumBits())
			for point, counts := range points {
				fmt.Fprintf(out, "-- point %s\n", index(uint64(point), samples.GetShape()))
				for _, c := range counts {
					fmt.Fprintf(out, "%s:%d\n", c.Bitstring, c.Shots)
				}
			}
		}
	}
	return nil
}

// printEvs writes every PUB's expectation values and standard errors, one
// "ev[i,j]=%.6f std=%.6f" line per element in C order.
func printEvs(result *qsessionv1.JobResult, out io.Writer) error {
	for pub, pr := range result.GetPubResults() {
		evs, err := float64s(pr.GetEvs())
		if err != nil {
			return fmt.Errorf("pub %d evs: %w", pub, err)
		}
		stds, err := float64s(pr.GetStds())
		if err != nil {
			return fmt.Errorf("pub %d stds: %w", pub, err)
		}
		if len(stds) != len(evs) {
			return fmt.Errorf("pub %d: %d stds for %d evs", pub, len(stds), len(evs))
		}
		fmt.Fprintf(out, "pub %d shape=%v\n", pub, pr.GetShape())
		for i, ev := range evs {
			fmt.Fprintf(out, "ev[%s]=%.6f std=%.6f\n", index(uint64(i), pr.GetEvs().GetShape()), ev, stds[i])
		}
	}
	return nil
}

// printSession writes a session's final state and the states it went through.
func printSession(s *qsessionv1.Session, out, info io.Writer) {
	states := make([]string, 0, len(s.GetTransitions()))
	for _, t := range s.GetTransitions() {
		states = append(states, t.GetState().String())
	}
	fmt.Fprintf(out, "state=%s accepting_jobs=%t close_reason=%s pending_jobs=%d\n",
		s.GetState(), s.GetAcceptingJobs(), s.GetCloseReason(), s.GetPendingJobs())
	fmt.Fprintf(out, "transitions=%s\n", strings.Join(states, ","))
	fmt.Fprintf(info, "# session %s usage %.3f s\n", s.GetId(), s.GetUsageSeconds())
}
