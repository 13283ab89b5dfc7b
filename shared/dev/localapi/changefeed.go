package localapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/acme/provider-credentials/shared/changefeed"
	"github.com/acme/provider-credentials/shared/dev/streamfeed"
)

// ChangeFeed runs, as PublishEventsFunction's event source would, the
// publisher's handler over the credentials table's stream on the emulator,
// putting its events on the emulator's EventBridge (EVENT_BUS_NAME, default
// bus) and printing each event that went out to w as one JSON line.
func ChangeFeed(ctx context.Context, table string, w io.Writer, log *slog.Logger) (*streamfeed.Reader, streamfeed.Handler, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("localapi: AWS configuration: %w", err)
	}
	r, err := streamfeed.Open(ctx, dynamodb.NewFromConfig(cfg), dynamodbstreams.NewFromConfig(cfg), table, cfg.Region)
	if err != nil {
		return nil, nil, err
	}
	bus := &PrintingBus{API: eventbridge.NewFromConfig(cfg), W: w}
	p := changefeed.New(bus, changefeed.LoadConfig(os.Getenv), log)
	return r, p.Handle, nil
}

// StartChangeFeed runs ChangeFeed in the background, polling every second,
// until ctx ends.
func StartChangeFeed(ctx context.Context, table string, w io.Writer, log *slog.Logger) error {
	r, h, err := ChangeFeed(ctx, table, w, log)
	if err != nil {
		return err
	}
	go r.Follow(ctx, h, time.Second, log)
	return nil
}

// PrintingBus passes PutEvents on and prints each entry that went out as
// one JSON line: the event as a rule's target would see it.
type PrintingBus struct {
	API changefeed.PutEventsAPI
	W   io.Writer
	mu  sync.Mutex
}

// PrintedEvent is one line PrintingBus prints.
type PrintedEvent struct {
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Time       string          `json:"time"`
	Detail     json.RawMessage `json:"detail"`
}

// PutEvents implements changefeed.PutEventsAPI.
func (b *PrintingBus) PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	out, err := b.API.PutEvents(ctx, in, opts...)
	if err != nil {
		return out, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, e := range in.Entries {
		if i >= len(out.Entries) || out.Entries[i].ErrorCode != nil {
			continue
		}
		line, err := json.Marshal(PrintedEvent{
			ID: aws.ToString(out.Entries[i].EventId), DetailType: aws.ToString(e.DetailType), Source: aws.ToString(e.Source),
			Time: aws.ToTime(e.Time).UTC().Format(time.RFC3339), Detail: json.RawMessage(aws.ToString(e.Detail)),
		})
		if err == nil {
			_, _ = fmt.Fprintf(b.W, "%s\n", line)
		}
	}
	return out, nil
}
