package events

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/shard"
)

// natsPublisher publishes events to NATS JetStream on <prefix>.<event type>, with the event id
// as Nats-Msg-Id so that the server drops a repeated publication (within the stream's duplicate
// window). It connects lazily and creates the stream when it is missing.
type natsPublisher struct {
	cfg configs.Events
	log *slog.Logger

	mu sync.Mutex
	nc *nats.Conn
	js jetstream.JetStream
}

func newNATSPublisher(cfg configs.Events, log *slog.Logger) *natsPublisher {
	return &natsPublisher{cfg: cfg, log: log}
}

func (p *natsPublisher) jetStream(ctx context.Context) (jetstream.JetStream, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.js != nil && !p.nc.IsClosed() {
		return p.js, nil
	}
	nc, err := nats.Connect(p.cfg.NATSURL, nats.Name("shardstock-gateway"), nats.Timeout(2*time.Second), nats.MaxReconnects(-1))
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	if _, err := js.Stream(ctx, p.cfg.NATSStream); errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: p.cfg.NATSStream,
			Subjects: []string{p.cfg.NATSSubjectPrefix + ".>"}, Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute})
		if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			nc.Close()
			return nil, err
		}
	} else if err != nil {
		nc.Close()
		return nil, err
	}
	p.nc, p.js = nc, js
	return js, nil
}

func (p *natsPublisher) publish(ctx context.Context, ev shard.Event, body []byte) error {
	js, err := p.jetStream(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = js.PublishMsg(ctx, &nats.Msg{Subject: p.cfg.NATSSubjectPrefix + "." + ev.Type, Data: body}, jetstream.WithMsgID(ev.ID))
	return err
}

func (p *natsPublisher) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.nc != nil {
		p.nc.Close()
		p.nc, p.js = nil, nil
	}
}

// natsSink is the NATS publisher as a relay sink: every event type, never dead-lettered.
type natsSink struct{ p *natsPublisher }

func (n natsSink) name() string                   { return shard.SinkNATS }
func (n natsSink) accepts(string) bool            { return true }
func (n natsSink) maxAttempts(configs.Events) int { return 0 }
func (n natsSink) deliver(ctx context.Context, ev shard.Event, body []byte) error {
	return n.p.publish(ctx, ev, body)
}
func (n natsSink) deadLetter(context.Context, *Service, shard.DeadLetter, int64) error { return nil }
func (n natsSink) hold(context.Context, *Service) (func(), error)                      { return func() {}, nil }
