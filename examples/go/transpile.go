package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	qsessionv1 "github.com/qsession/qsession/examples/go/gen/qsession/v1"
)

//go:embed circuits/logical.qasm
var logicalQASM string

// transpileConfig is what the transpile flags set.
type transpileConfig struct {
	backend           string
	optimizationLevel uint
	seedTranspiler    uint64
}

// runTranspiled shows the path every non-Python client takes on a real device:
// a logical OpenQASM 3 circuit is refused (reason NOT_ISA), so it is
// transpiled on the server with TranspilerService.Transpile, and the ISA
// circuit it returns runs as a job-mode Sampler job, followed with
// WatchJobs(until_final) until the stream ends by itself.
func runTranspiled(ctx context.Context, cfg config, tc transpileConfig, transpiler qsessionv1.TranspilerServiceClient, jobs qsessionv1.JobServiceClient, out, info io.Writer) error {
	options := &qsessionv1.JobOptions{SeedSimulator: &cfg.seed, DefaultShots: &cfg.shots}
	logical := &qsessionv1.Circuit{Format: &qsessionv1.Circuit_Qasm3{Qasm3: logicalQASM}}

	fmt.Fprintln(out, "== logical circuit refused")
	_, err := jobs.CreateJob(ctx, &qsessionv1.CreateJobRequest{
		Backend:     tc.backend,
		Program:     qsessionv1.Program_PROGRAM_SAMPLER,
		SamplerPubs: []*qsessionv1.SamplerPub{{Circuit: logical}},
		Options:     options,
	})
	if err == nil {
		return errors.New("CreateJob accepted a logical circuit on " + tc.backend)
	}
	code, reason, fields := errorReason(err)
	fmt.Fprintf(out, "code=%s reason=%s fields=%v\n", code, reason, fields)

	fmt.Fprintln(out, "== transpile")
	level := uint32(tc.optimizationLevel)
	transpiled, err := transpiler.Transpile(ctx, &qsessionv1.TranspileRequest{
		Circuit:           logical,
		Backend:           tc.backend,
		OptimizationLevel: &level,
		SeedTranspiler:    &tc.seedTranspiler,
		PauliLabels:       []string{"ZZII", "IIIX"},
	})
	if err != nil {
		return fmt.Errorf("Transpile: %w", err)
	}
	fmt.Fprintf(out, "backend=%s optimization_level=%d seed_transpiler=%d num_qubits=%d\n",
		tc.backend, level, tc.seedTranspiler, transpiled.GetNumQubits())
	fmt.Fprintf(out, "initial_layout=%v final_layout=%v\n", transpiled.GetInitialLayout(), transpiled.GetFinalLayout())
	for i, label := range transpiled.GetPauliLabels() {
		fmt.Fprintf(out, "pauli_labels[%d] length=%d\n", i, len(label))
	}

	fmt.Fprintln(out, "== transpiled job")
	created, err := jobs.CreateJob(ctx, &qsessionv1.CreateJobRequest{
		Backend:     tc.backend,
		Program:     qsessionv1.Program_PROGRAM_SAMPLER,
		SamplerPubs: []*qsessionv1.SamplerPub{{Circuit: transpiled.GetCircuit()}},
		Options:     options,
	})
	if err != nil {
		return fmt.Errorf("CreateJob (ISA circuit): %w", err)
	}
	id := created.GetJob().GetId()
	fmt.Fprintf(info, "# job %s\n", id)
	job, err := watchUntilFinal(ctx, jobs, id, out)
	if err != nil {
		return err
	}
	if job.GetState() != qsessionv1.Job_STATE_DONE {
		return fmt.Errorf("job %s ended %s: %s", id, job.GetState(), job.GetErrorMessage())
	}
	result, err := fetchResult(ctx, jobs, id)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "== transpiled counts")
	return printCounts(result, out)
}

// watchUntilFinal follows one job with WatchJobs(until_final = true): the
// server ends the stream (io.EOF) once the job is DONE, ERROR or CANCELLED, so
// the client needs no check of its own for the end. It returns the last job
// state received.
func watchUntilFinal(ctx context.Context, jobs qsessionv1.JobServiceClient, id string, out io.Writer) (*qsessionv1.Job, error) {
	stream, err := jobs.WatchJobs(ctx, &qsessionv1.WatchJobsRequest{
		AfterRevision: proto.Uint64(0),
		JobIds:        []string{id},
		UntilFinal:    true,
	})
	if err != nil {
		return nil, fmt.Errorf("WatchJobs %s: %w", id, err)
	}
	var last *qsessionv1.Job
	for {
		event, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			if last == nil {
				return nil, fmt.Errorf("WatchJobs %s ended without an event", id)
			}
			fmt.Fprintln(out, "stream ended")
			return last, nil
		}
		if err != nil {
			return nil, fmt.Errorf("watching job %s: %w", id, err)
		}
		if last == nil || event.GetJob().GetState() != last.GetState() {
			fmt.Fprintf(out, "state %s\n", event.GetJob().GetState())
		}
		last = event.GetJob()
	}
}

// errorReason reads a failed call's status code, its ErrorInfo reason (one of
// the ErrorReason values of errors.proto) and the fields its BadRequest names.
func errorReason(err error) (code, reason string, fields []string) {
	st := status.Convert(err)
	for _, detail := range st.Details() {
		switch d := detail.(type) {
		case *errdetails.ErrorInfo:
			reason = d.GetReason()
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	return st.Code().String(), reason, fields
}
