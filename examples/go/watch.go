package main

import (
	"context"
	"fmt"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	qsessionv1 "github.com/qsession/qsession/examples/go/gen/qsession/v1"
)

// followJob watches one job on WatchJobs and writes each state change to out
// as it arrives, until the job reaches DONE, ERROR or CANCELLED; it returns
// the job as of that last event.
//
// It watches from after_revision 0 (the oldest retained event) filtered to
// the job, so the events between CreateJob and the start of the watch are
// replayed rather than missed. When the server ends the stream because this
// subscriber fell behind (RESOURCE_EXHAUSTED), it resumes after the last
// revision it saw, as the contract allows.
func followJob(ctx context.Context, jobs qsessionv1.JobServiceClient, id string, out io.Writer) (*qsessionv1.Job, error) {
	after := uint64(0)
	last := qsessionv1.Job_STATE_UNSPECIFIED
	for {
		stream, err := jobs.WatchJobs(ctx, &qsessionv1.WatchJobsRequest{
			AfterRevision: proto.Uint64(after),
			JobIds:        []string{id},
		})
		if err != nil {
			return nil, fmt.Errorf("WatchJobs %s: %w", id, err)
		}
		for {
			event, err := stream.Recv()
			if status.Code(err) == codes.ResourceExhausted {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("watching job %s: %w", id, err)
			}
			after = event.GetRevision()
			job := event.GetJob()
			if job.GetState() != last {
				last = job.GetState()
				fmt.Fprintf(out, "state %s\n", last)
			}
			if terminal(last) {
				return job, nil
			}
		}
	}
}

// terminal reports whether a job in this state will never change again.
func terminal(s qsessionv1.Job_State) bool {
	return s == qsessionv1.Job_STATE_DONE || s == qsessionv1.Job_STATE_ERROR || s == qsessionv1.Job_STATE_CANCELLED
}

// awaitSessionClosed watches one session from its oldest retained event until
// it is STATE_CLOSED; CloseSession only stops it accepting jobs, and it closes
// once its last job has finished.
func awaitSessionClosed(ctx context.Context, sessions qsessionv1.SessionServiceClient, id string) error {
	after := uint64(0)
	for {
		stream, err := sessions.WatchSessions(ctx, &qsessionv1.WatchSessionsRequest{
			AfterRevision: proto.Uint64(after),
			SessionIds:    []string{id},
		})
		if err != nil {
			return fmt.Errorf("WatchSessions %s: %w", id, err)
		}
		for {
			event, err := stream.Recv()
			if status.Code(err) == codes.ResourceExhausted {
				break
			}
			if err != nil {
				return fmt.Errorf("watching session %s: %w", id, err)
			}
			after = event.GetRevision()
			if event.GetSession().GetState() == qsessionv1.Session_STATE_CLOSED {
				return nil
			}
		}
	}
}
