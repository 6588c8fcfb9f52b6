package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"

	qsessionv1 "github.com/qsession/qsession/examples/go/gen/qsession/v1"
)

// fetchResult streams a DONE job's serialized JobResult with GetJobResult,
// checks that the chunks are contiguous, complete and match the announced
// SHA-256, and unmarshals it. A job that is not DONE fails with
// FAILED_PRECONDITION from the server.
func fetchResult(ctx context.Context, jobs qsessionv1.JobServiceClient, id string) (*qsessionv1.JobResult, error) {
	stream, err := jobs.GetJobResult(ctx, &qsessionv1.GetJobResultRequest{Id: id})
	if err != nil {
		return nil, fmt.Errorf("GetJobResult %s: %w", id, err)
	}
	var (
		buf       []byte
		totalSize uint64
		digest    string
	)
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("GetJobResult %s: %w", id, err)
		}
		if buf == nil {
			totalSize, digest = msg.GetTotalSize(), msg.GetSha256()
			buf = make([]byte, 0, totalSize)
		}
		if msg.GetOffset() != uint64(len(buf)) {
			return nil, fmt.Errorf("result chunk at offset %d, expected %d", msg.GetOffset(), len(buf))
		}
		buf = append(buf, msg.GetChunk()...)
	}
	if uint64(len(buf)) != totalSize {
		return nil, fmt.Errorf("result has %d bytes, announced %d", len(buf), totalSize)
	}
	if sum := sha256.Sum256(buf); hex.EncodeToString(sum[:]) != digest {
		return nil, fmt.Errorf("result SHA-256 %x does not match announced %s", sum, digest)
	}
	result := &qsessionv1.JobResult{}
	if err := proto.Unmarshal(buf, result); err != nil {
		return nil, fmt.Errorf("decoding JobResult: %w", err)
	}
	return result, nil
}
